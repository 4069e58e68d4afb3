package Ferry::Mattermost::Import;

# Bulk import: upload sessions (api4/upload.go, app/upload.go), jobs
# (api4/job.go) and the import_process worker
# (jobs/import_process/worker.go): the uploaded zip must hold a .jsonl at
# its root; app/imports BulkImport reads it line by line (the first a
# version line, every line JSON with a known type), validates each line
# (imports/import_validators.go) and applies it to the state: teams,
# channels, users with their team and channel memberships, posts with
# replies and reactions, direct channels and direct posts; emoji lines
# are recorded. Files come from the zip: an attachment's or an emoji's path
# is joined to "data/" (model.ExportDataDir; app/import.go
# processAttachments, imports.ValidateAttachmentPathForImport refuses a path
# that leaves it); an attachment missing from the zip is left off its post
# with a warning, as uploadAttachments does, a missing emoji image fails.

use strict;
use warnings;
use utf8;

use File::Path qw(make_path);
use IO::Uncompress::Unzip qw($UnzipError);
use JSON::PP;
use Mojo::IOLoop;

use Ferry::Mattermost::Model qw(is_valid_id now_ms app_error error_message runes
                                is_valid_username is_valid_channel_name reaction_name_ok
                                validate_user is_valid_emoji_name);

sub routes {
    return (
        [POST => '/api/v4/uploads', \&create_upload],
        [GET  => '/api/v4/uploads/:upload_id', \&get_upload],
        [POST => '/api/v4/uploads/:upload_id', \&upload_data, file_api => 1],
        [POST => '/api/v4/jobs', \&create_job],
        [GET  => '/api/v4/jobs/:job_id', \&get_job],
    );
}

sub dir {
    my ($s, $sub) = @_;
    my $d = $s->opt('data_dir') . "/$sub";
    make_path($d) unless -d $d;
    return $d;
}

# ------------------------------------------------------------------ uploads

sub upload_json {
    my ($u) = @_;
    return { map { $_ => $u->{$_} } qw(id type create_at user_id channel_id filename path
                                       file_size file_offset remote_id req_file_id) };
}

sub create_upload {
    my ($s, $req, $ctx) = @_;
    app_error(501, 'api.file.attachments.disabled.app_error', where => 'createUpload')
        unless $s->opt('enable_file_attachments');
    my $in = $s->body_json($req, 'upload');
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'upload' })
        unless ref $in eq 'HASH';
    my $type = ($in->{type} // '') eq 'import' ? 'import' : 'attachment';
    my $channel_id = defined $in->{channel_id} && !ref $in->{channel_id} ? $in->{channel_id} : '';
    if ($type eq 'import') {
        $s->require_admin($ctx, 'manage_system');
    } else {
        $s->require_channel_member($ctx, $channel_id, 'upload_file');
    }
    my $size = $in->{file_size} // 0;
    $size = $size =~ /^-?\d+\z/ ? 0 + $size : 0;
    app_error(413, 'api.upload.create.upload_too_large.app_error', where => 'createUpload',
              params => { channelId => $channel_id })
        if $size > $s->opt('max_file_size');
    my $filename = defined $in->{filename} && !ref $in->{filename} ? $in->{filename} : '';
    my $id = $s->id;
    (my $base = $filename) =~ s{.*/}{};
    my $u = {
        id => $id, type => $type, create_at => now_ms(), user_id => $ctx->{user}{id},
        channel_id => $channel_id, filename => $filename, file_size => $size, file_offset => 0,
        remote_id => '', req_file_id => '', seq => $s->next_seq,
        path => $type eq 'import' ? "data/import/${id}_$base" : "uploads/$id/$base",
    };
    # UploadSession.IsValid (its ids not read in the source)
    app_error(400, 'model.upload_session.is_valid.channel_id.app_error', where => 'UploadSession.IsValid')
        if $type eq 'attachment' && !is_valid_id($channel_id);
    app_error(400, 'model.upload_session.is_valid.filename.app_error', where => 'UploadSession.IsValid')
        if $filename eq '';
    app_error(400, 'model.upload_session.is_valid.file_size.app_error', where => 'UploadSession.IsValid')
        if $size <= 0;
    if ($type eq 'attachment') {
        my $ch = $s->channel($channel_id)
            or app_error(400, 'app.upload.create.incorrect_channel_id.app_error',
                         where => 'CreateUploadSession', params => { channelId => $channel_id });
        app_error(400, 'app.upload.create.cannot_upload_to_deleted_channel.app_error',
                  where => 'CreateUploadSession', params => { channelId => $channel_id })
            if $ch->{delete_at};
    }
    $u->{data_path} = dir($s, 'uploads') . "/$id";
    open my $fh, '>', $u->{data_path} or die "$u->{data_path}: $!";
    close $fh;
    $s->{st}{uploads}{$id} = $u;
    return (201, upload_json($u));
}

sub load_upload {
    my ($s, $req, $ctx) = @_;
    my $id = $req->param('upload_id');
    app_error(400, 'api.context.invalid_url_param.app_error', params => { Name => 'upload_id' })
        unless is_valid_id($id);
    my $u = $s->{st}{uploads}{$id}
        or app_error(404, 'app.upload.get.app_error', where => 'GetUploadSession');
    return $u;
}

sub get_upload {
    my ($s, $req, $ctx) = @_;
    my $u = load_upload($s, $req, $ctx);
    app_error(403, 'api.upload.get_upload.forbidden.app_error', where => 'getUpload')
        if $u->{user_id} ne $ctx->{user}{id} && !$s->is_admin($ctx->{user});
    return (200, upload_json($u));
}

# uploadData: the bytes are appended; 204 until the session is complete,
# then the FileInfo (an import file goes to the import directory as
# "<upload id>_<filename>", the name import_process takes)
sub upload_data {
    my ($s, $req, $ctx) = @_;
    app_error(501, 'api.file.attachments.disabled.app_error', where => 'uploadData')
        unless $s->opt('enable_file_attachments');
    my $u = load_upload($s, $req, $ctx);
    if ($u->{type} eq 'import') {
        $s->require_admin($ctx, 'manage_system');
    } elsif ($u->{user_id} ne $ctx->{user}{id}) {
        $s->permission_error($ctx, 'upload_file');
    } else {
        $s->require_channel_member($ctx, $u->{channel_id}, 'upload_file');
    }
    my $data;
    if (($req->header('Content-Type') // '') =~ m{^multipart/}i) {
        my $parts = $s->multipart($req)
            or app_error(400, 'api.upload.upload_data.multipart_error', where => 'uploadData');
        app_error(400, 'api.upload.upload_data.multipart_error', where => 'uploadData') unless @$parts;
        $data = $parts->[0]{data};
    } else {
        $data = $req->body;
    }
    app_error(400, 'api.upload.upload_data.invalid_content_length', where => 'uploadData')
        if length($data) > $u->{file_size} - $u->{file_offset};
    open my $fh, '>>', $u->{data_path} or die "$u->{data_path}: $!";
    binmode $fh;
    print $fh $data;
    close $fh;
    $u->{file_offset} += length $data;
    return (204, '') if $u->{file_offset} < $u->{file_size};

    (my $base = $u->{filename}) =~ s{.*/}{};
    my $channel = $u->{type} eq 'import' ? { id => '' } : $s->channel($u->{channel_id});
    open $fh, '<', $u->{data_path} or die "$u->{data_path}: $!";
    binmode $fh;
    local $/;
    my $bytes = <$fh>;
    close $fh;
    # the size was checked when the session was made
    local $s->{o}{max_file_size} = length($bytes) + 1;
    my $info = Ferry::Mattermost::Posts::store_file($s, $channel, $u->{user_id}, $base, $bytes);
    if ($u->{type} eq 'import') {
        my $dest = dir($s, 'import') . "/$u->{id}_$base";
        rename $u->{data_path}, $dest or die "rename $u->{data_path} $dest: $!";
        $info->{path} = $u->{path};
        $s->{st}{imports}{"$u->{id}_$base"} = { name => "$u->{id}_$base", size => length $bytes,
                                                sha256 => $info->{sha256}, seq => $s->next_seq };
    } else {
        unlink $u->{data_path};
    }
    delete $s->{st}{uploads}{ $u->{id} };
    return (200, $s->file_json($info));
}

# ------------------------------------------------------------------ jobs

my %JOB_TYPES = map { $_ => 1 } qw(import_process import_delete export_process export_delete
    data_retention message_export elasticsearch_post_indexing ldap_sync migrations plugins
    bleve_post_indexing active_users cleanup_desktop_tokens refresh_post_stats);

sub job_json {
    my ($j) = @_;
    return { map { $_ => $j->{$_} } qw(id type priority create_at start_at last_activity_at
                                       status progress data) };
}

sub create_job {
    my ($s, $req, $ctx) = @_;
    my $in = $s->body_json($req, 'job');
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'job' })
        unless ref $in eq 'HASH' && (!defined $in->{data} || ref $in->{data} eq 'HASH')
               && !grep { ref } values %{ $in->{data} || {} };
    $s->require_admin($ctx, 'manage_jobs');
    my $type = defined $in->{type} && !ref $in->{type} ? $in->{type} : '';
    app_error(400, 'model.job.is_valid.type.app_error', where => 'Job.IsValid')
        unless $JOB_TYPES{$type};
    my $now = now_ms();
    my $job = {
        id => $s->id, type => $type, priority => 0, create_at => $now, start_at => 0,
        last_activity_at => $now, status => 'pending', progress => 0,
        data => { map { $_ => "$in->{data}{$_}" } keys %{ $in->{data} || {} } },
        seq => $s->next_seq,
    };
    $s->{st}{jobs}{ $job->{id} } = $job;
    # the job server picks it up, runs it, and records the outcome
    my $step = $s->opt('job_step');
    Mojo::IOLoop->timer($step => sub {
        @$job{qw(status start_at last_activity_at)} = ('in_progress', now_ms(), now_ms());
        Mojo::IOLoop->timer($step => sub { run_job($s, $job) });
    });
    return (201, job_json($job));
}

sub get_job {
    my ($s, $req, $ctx) = @_;
    my $id = $req->param('job_id');
    app_error(400, 'api.context.invalid_url_param.app_error', params => { Name => 'job_id' })
        unless is_valid_id($id);
    $s->require_admin($ctx, 'manage_jobs');
    my $j = $s->{st}{jobs}{$id} or app_error(404, 'app.job.get.app_error', where => 'GetJob');
    return (200, job_json($j));
}

# SetJobError / SetJobSuccess
sub run_job {
    my ($s, $job) = @_;
    my $ok = eval {
        import_process($s, $job) if $job->{type} eq 'import_process';
        1;
    };
    my $e = $@;
    $job->{last_activity_at} = now_ms();
    if ($ok) {
        @$job{qw(status progress)} = ('success', 100);
        return;
    }
    unless (ref $e && ref($e) eq 'Ferry::Mattermost::AppError') {
        # a bug of the emulator: the job fails, and the log says so for done()
        print STDERR "[error] emulator job $job->{id} died: $e\n";
        $e = bless { id => 'app.job.error', detail => "$e" }, 'Ferry::Mattermost::AppError';
    }
    @$job{qw(status progress)} = ('error', -1);
    my $msg = error_message($e->{id}, $e->{params});
    $msg .= " \x{2014} $e->{detail}" if ($e->{detail} // '') ne '';
    $job->{data}{error} = $msg;
    $job->{data}{error_id} = $e->{id};
    $job->{data}{line_number} = "$e->{line}" if defined $e->{line};
}

sub import_process {
    my ($s, $job) = @_;
    my $name = $job->{data}{import_file};
    app_error(400, 'import_process.worker.do_job.missing_file', where => 'ImportProcessWorker')
        unless defined $name;
    my $path = dir($s, 'import') . "/$name";
    app_error(400, 'import_process.worker.do_job.file_exists', where => 'ImportProcessWorker')
        unless -f $path;
    # the root .jsonl of the zip (imports.IsRootJsonlFile)
    my $z = IO::Uncompress::Unzip->new($path, Transparent => 0);
    app_error(500, 'import_process.worker.do_job.open_file', where => 'ImportProcessWorker',
              detail => 'zip: not a valid zip file')
        unless $z && $z->getHeaderInfo;
    my ($jsonl, %files);
    for (my $st = 1; $st > 0; $st = $z->nextStream) {
        my $info = $z->getHeaderInfo or last;
        my $n = $info->{Name};
        local $/;
        my $bytes = <$z> // '';
        if ($n =~ /\.jsonl\z/ && $n !~ m{/}) {
            $jsonl //= $bytes;
        } else {
            $files{$n} = $bytes;
        }
    }
    $z->close;
    app_error(400, 'import_process.worker.do_job.missing_jsonl', where => 'ImportProcessWorker',
              detail => 'jsonFile was nil')
        unless defined $jsonl;
    local $s->{import_files} = \%files;
    bulk_import($s, $jsonl);
    $s->{st}{imports}{$name}{processed} = JSON::PP::true if $s->{st}{imports}{$name};
    unlink $path;
}

# ------------------------------------------------------------------ JSONL

sub fail_line {
    my ($line, $id, %o) = @_;
    eval { app_error(400, $id, where => 'BulkImport', %o) };
    my $e = $@;
    $e->{line} = $line;
    die $e;
}

my %LINE_TYPES = map { $_ => 1 } qw(scheme team channel user bot post direct_channel direct_post
                                    emoji role);

sub bulk_import {
    my ($s, $jsonl) = @_;
    my $n = 0;
    my $json = JSON::PP->new->utf8;
    # bufio.Scanner's lines: no last empty line after a final newline, no \r
    my @lines = split /\n/, $jsonl, -1;
    pop @lines if @lines && $lines[-1] eq '';
    for my $raw (@lines) {
        $n++;
        $raw =~ s/\r\z//;
        my $line = eval { $json->decode($raw) };
        fail_line($n, 'app.import.bulk_import.json_decode.error', detail => 'EOF')
            unless ref $line eq 'HASH';
        my $type = $line->{type} // '';
        if ($n == 1) {
            fail_line($n, 'app.import.process_import_data_file_version_line.invalid_version.error')
                unless $type eq 'version' && defined $line->{version};
            fail_line($n, 'app.import.bulk_import.unsupported_version.error')
                unless $line->{version} =~ /^\d+\z/ && $line->{version} == 1;
            next;
        }
        fail_line($n, 'app.import.import_line.unknown_line_type.error', params => { Type => $type })
            unless $LINE_TYPES{$type};
        fail_line($n, "app.import.import_line.null_$type.error")
            unless ref $line->{$type} eq 'HASH';
        my $ok = eval { import_line($s, $type, $line->{$type}); 1 };
        if (!$ok) {
            my $e = $@;
            die $e unless ref $e && ref($e) eq 'Ferry::Mattermost::AppError';
            $e->{line} = $n;
            die $e;
        }
    }
}

sub v { my $x = shift; return defined $x && !ref $x ? "$x" : undef }

sub import_line {
    my ($s, $type, $d) = @_;
    my $code = __PACKAGE__->can("import_$type");
    $code->($s, $d) if $code;
}

sub err { app_error(400, $_[0], where => 'BulkImport', params => $_[1]) }

sub import_team {
    my ($s, $d) = @_;
    err('app.import.validate_team_import_data.name_missing.error') unless defined v($d->{name});
    err('app.import.validate_team_import_data.display_name_missing.error')
        unless defined v($d->{display_name});
    err('app.import.validate_team_import_data.type_missing.error') unless defined v($d->{type});
    err('app.import.validate_team_import_data.type_invalid.error') unless $d->{type} =~ /^[OI]\z/;
    my $t = $s->team_by_name($d->{name});
    unless ($t) {
        $t = { id => $s->id, name => $d->{name}, create_at => now_ms(), update_at => now_ms(),
               delete_at => 0, email => '', description => '', allow_open_invite => JSON::PP::false,
               seq => $s->next_seq };
        $s->{st}{teams}{ $t->{id} } = $t;
    }
    @$t{qw(display_name type)} = ($d->{display_name}, $d->{type});
    $t->{description} = $d->{description} if defined v($d->{description});
}

sub import_channel {
    my ($s, $d) = @_;
    err('app.import.validate_channel_import_data.team_missing.error') unless defined v($d->{team});
    my $name = v($d->{name});
    err('app.import.validate_channel_import_data.name_missing.error') unless defined $name;
    err('app.import.validate_channel_import_data.name_length.error') if length $name > 64;
    err('app.import.validate_channel_import_data.name_characters.error')
        unless is_valid_channel_name($name);
    my $display = v($d->{display_name});
    $display = $name if !defined $display || $display eq '';
    err('app.import.validate_channel_import_data.display_name_length.error') if runes($display) > 64;
    err('app.import.validate_channel_import_data.type_missing.error') unless defined v($d->{type});
    err('app.import.validate_channel_import_data.type_invalid.error') unless $d->{type} =~ /^[OP]\z/;
    err('app.import.validate_channel_import_data.header_length.error')
        if runes(v($d->{header})) > 1024;
    err('app.import.validate_channel_import_data.purpose_length.error')
        if runes(v($d->{purpose})) > 250;
    my $team = $s->team_by_name($d->{team})
        or err('app.import.import_channel.team_not_found.error', { TeamName => $d->{team} });
    my $ch = $s->channel_by_name($team->{id}, $name, 1)
        || $s->insert_channel({ team_id => $team->{id}, name => $name, type => $d->{type} });
    @$ch{qw(display_name type)} = ($display, $d->{type});
    $ch->{header} = $d->{header} if defined v($d->{header});
    $ch->{purpose} = $d->{purpose} if defined v($d->{purpose});
}

sub import_user {
    my ($s, $d) = @_;
    my $username = v($d->{username});
    err('app.import.validate_user_import_data.username_missing.error') unless defined $username;
    err('app.import.validate_user_import_data.username_invalid.error')
        unless is_valid_username($username);
    my $email = v($d->{email});
    err('app.import.validate_user_import_data.email_missing.error') unless defined $email;
    err('app.import.validate_user_import_data.email_length.error')
        if length $email == 0 || length $email > 128;
    my ($svc, $ad) = (v($d->{auth_service}), v($d->{auth_data}));
    err('app.import.validate_user_import_data.auth_data_and_service_dependency.error')
        if (defined $svc && $svc ne '' && !defined $ad) || (defined $ad && (!defined $svc || $svc eq ''));
    err('app.import.validate_user_import_data.auth_data_and_password.error')
        if defined $ad && defined v($d->{password});
    err('app.import.validate_user_import_data.auth_data_length.error')
        if defined $ad && length $ad > 128;
    my $u = $s->user_by(username => $username);
    if (!$u) {
        # userService.CreateUser: User.IsValid
        if (my $f = validate_user({ username => $username, email => lc $email,
                                    auth_service => $svc, auth_data => $ad,
                                    map { $_ => v($d->{$_}) } qw(nickname first_name last_name position locale) })) {
            err("model.user.is_valid.$f.app_error");
        }
        err('app.user.save.email_exists.app_error') if $s->user_by(email => lc $email);
        err('app.user.save.app_error') if defined $ad && $s->user_by(auth_data => $ad);
        $u = $s->insert_user({ username => $username, email => $email, auth_service => $svc // '',
                               auth_data => $ad, roles => v($d->{roles}) // 'system_user',
                               map { $_ => v($d->{$_}) } qw(nickname first_name last_name position locale) });
    }
    $u->{delete_at} = $d->{delete_at} if defined $d->{delete_at} && $d->{delete_at} =~ /^\d+\z/;
    for my $tm (ref $d->{teams} eq 'ARRAY' ? @{ $d->{teams} } : ()) {
        my $team = $s->team_by_name($tm->{name} // '')
            or err('app.import.get_teams_by_names.some_teams_not_found.error');
        Ferry::Mattermost::Users::join_team($s, $team, $u);
        for my $cm (ref $tm->{channels} eq 'ARRAY' ? @{ $tm->{channels} } : ()) {
            my $ch = $s->channel_by_name($team->{id}, $cm->{name} // '', 1)
                or err('app.import.import_user_channels.channel_not_found.error');
            Ferry::Mattermost::Channels::add_member($s, $ch, $u);
        }
    }
}

# ValidateReactionImportData: a time, not 0, not before the post's
sub check_reactions {
    my ($rs, $parent_at) = @_;
    my $p = 'app.import.validate_reaction_import_data';
    for my $r (ref $rs eq 'ARRAY' ? @$rs : ()) {
        err("$p.user_missing.error") unless defined v($r->{user});
        err("$p.emoji_name_missing.error") unless defined v($r->{emoji_name});
        err("$p.emoji_name_invalid.error") unless reaction_name_ok($r->{emoji_name});
        err("$p.create_at_missing.error") unless defined $r->{create_at};
        err("$p.create_at_zero.error") unless $r->{create_at};
        err("$p.create_at_before_parent.error") if $r->{create_at} < $parent_at;
    }
}

# ValidateAttachmentImportData: the path joined to "data" stays in it
sub check_attachments {
    my ($kind, $as) = @_;
    for my $a (ref $as eq 'ARRAY' ? @$as : ()) {
        my $path = v($a->{path}) // next;
        my @parts;
        for my $part (split m{/+}, "data/$path") {
            next if $part eq '.' || $part eq '';
            if ($part eq '..') { pop @parts } else { push @parts, $part }
        }
        err("app.import.validate_${kind}_import_data.attachment.error")
            unless @parts > 1 && $parts[0] eq 'data';
    }
}

sub check_post {
    my ($s, $kind, $d) = @_;
    my $p = "app.import.validate_${kind}_import_data";
    err("$p.user_missing.error") unless defined v($d->{user});
    err("$p.message_missing.error") unless defined v($d->{message});
    err("$p.message_length.error") if runes($d->{message}) > $s->opt('post_max_runes');
    err("$p.create_at_missing.error") unless defined $d->{create_at};
    # a reply's create_at of 0 is refused too (ValidateReplyImportData)
    err("$p.create_at_zero.error") unless $d->{create_at};
    check_reactions($d->{reactions}, $d->{create_at});
    check_attachments($kind, $d->{attachments});
    for my $r (ref $d->{replies} eq 'ARRAY' ? @{ $d->{replies} } : ()) {
        check_post($s, 'reply', $r);
    }
}

sub user_named {
    my ($s, $name) = @_;
    return $s->user_by(username => $name)
        || err('app.import.import_post.user_not_found.error', { Username => $name });
}

# a post with its replies and reactions; an existing post with the same
# channel, author, time and message is not made twice
sub save_import_post {
    my ($s, $ch, $d, $root_id) = @_;
    my $user = user_named($s, $d->{user});
    my ($post) = grep { $_->{channel_id} eq $ch->{id} && $_->{user_id} eq $user->{id}
                        && $_->{create_at} == $d->{create_at} && $_->{message} eq $d->{message} }
                 values %{ $s->{st}{posts} };
    $post ||= Ferry::Mattermost::Posts::create_post($s, $ch, {
        user_id => $user->{id}, root_id => $root_id // '', message => $d->{message},
        create_at => $d->{create_at}, type => '', props => ref $d->{props} eq 'HASH' ? $d->{props} : {},
        file_ids => import_files($s, $ch, $user, $d->{attachments}), pending_post_id => '',
        is_pinned => $d->{is_pinned} ? 1 : 0 });
    for my $r (ref $d->{reactions} eq 'ARRAY' ? @{ $d->{reactions} } : ()) {
        my $ru = user_named($s, $r->{user});
        my $key = "$ru->{id}:$post->{id}:$r->{emoji_name}";
        $s->{st}{reactions}{$key} //= {
            user_id => $ru->{id}, post_id => $post->{id}, emoji_name => $r->{emoji_name},
            create_at => 0 + $r->{create_at}, update_at => 0 + $r->{create_at}, delete_at => 0,
            remote_id => '', channel_id => $ch->{id}, seq => $s->next_seq };
        $post->{has_reactions} = 1;
    }
    for my $reply (ref $d->{replies} eq 'ARRAY' ? @{ $d->{replies} } : ()) {
        save_import_post($s, $ch, $reply, $post->{id});
    }
    return $post;
}

# the attachments found in the zip, stored as the author's files; one
# missing is left off the post (uploadAttachments logs it and goes on)
sub import_files {
    my ($s, $ch, $user, $as) = @_;
    my @ids;
    for my $a (ref $as eq 'ARRAY' ? @$as : ()) {
        my $path = v($a->{path}) // next;
        my $bytes = $s->{import_files}{"data/$path"};
        unless (defined $bytes) {
            print STDERR "[warn] emulator import: attachment data/$path not in the zip\n";
            next;
        }
        (my $base = $path) =~ s{.*/}{};
        push @ids, Ferry::Mattermost::Posts::store_file($s, $ch, $user->{id}, $base, $bytes)->{id};
    }
    return \@ids;
}

sub import_post {
    my ($s, $d) = @_;
    err('app.import.validate_post_import_data.team_missing.error') unless defined v($d->{team});
    err('app.import.validate_post_import_data.channel_missing.error') unless defined v($d->{channel});
    check_post($s, 'post', $d);
    my $team = $s->team_by_name($d->{team});
    my $ch = $team && $s->channel_by_name($team->{id}, $d->{channel}, 1)
        or err('app.import.import_post.channel_not_found.error', { ChannelName => $d->{channel} });
    save_import_post($s, $ch, $d);
}

sub members_channel {
    my ($s, $names) = @_;
    my @ids = map { user_named($s, $_)->{id} } @$names;
    return @ids == 2 ? Ferry::Mattermost::Channels::direct_channel($s, @ids)
                     : Ferry::Mattermost::Channels::group_channel($s, @ids);
}

sub import_direct_channel {
    my ($s, $d) = @_;
    my $p = 'app.import.validate_direct_channel_import_data';
    my $m = $d->{members};
    err("$p.members_required.error") unless ref $m eq 'ARRAY';
    err("$p.members_too_few.error") if @$m < 2;
    err("$p.members_too_many.error") if @$m > 8;
    my $ch = members_channel($s, $m);
    $ch->{header} = $d->{header} if defined v($d->{header});
}

sub import_direct_post {
    my ($s, $d) = @_;
    my $p = 'app.import.validate_direct_post_import_data';
    my $m = $d->{channel_members};
    err("$p.channel_members_required.error") unless ref $m eq 'ARRAY';
    err("$p.channel_members_too_few.error") if @$m < 2;
    err("$p.channel_members_too_many.error") if @$m > 8;
    check_post($s, 'direct_post', $d);
    save_import_post($s, members_channel($s, $m), $d);
}

sub import_emoji {
    my ($s, $d) = @_;
    err('app.import.validate_emoji_import_data.name_missing.error') unless defined v($d->{name});
    err('app.import.validate_emoji_import_data.image_missing.error') unless defined v($d->{image});
    err('model.emoji.name_invalid.app_error') unless is_valid_emoji_name($d->{name});
    # importEmoji opens the image: from the zip under data/
    err('app.import.emoji.bad_file.error', { EmojiName => $d->{name} })
        unless defined $s->{import_files}{"data/$d->{image}"};
    my $now = now_ms();
    return if grep { $_->{name} eq $d->{name} && !$_->{delete_at} } values %{ $s->{st}{emoji} };
    my $e = { id => $s->id, create_at => $now, update_at => $now, delete_at => 0,
              creator_id => $s->{admin_id}, name => $d->{name}, description => '',
              image_path => $d->{image}, seq => $s->next_seq };
    $s->{st}{emoji}{ $e->{id} } = $e;
}

1;
