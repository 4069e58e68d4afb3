package Ferry::Mattermost::Posts;

# Files, posts, reactions and custom emoji (api4/file.go, api4/post.go,
# app/post.go, store AttachToPost, api4/reaction.go, app/reaction.go,
# api4/emoji.go, app/emoji.go, model/post.go, model/reaction.go,
# model/emoji.go).

use strict;
use warnings;
use utf8;

use Digest::SHA qw(sha256_hex);
use Encode ();
use JSON::PP;

use Ferry::Mattermost::Model qw(is_valid_id now_ms app_error validate_post_fields
                                is_valid_emoji_name reaction_name_ok image_info);

sub routes {
    return (
        [POST => '/api/v4/files', \&upload_files, file_api => 1],
        [POST => '/api/v4/posts', \&create_post_route],
        [GET  => '/api/v4/posts/:post_id', \&get_post],
        [GET  => '/api/v4/channels/:channel_id/posts', \&channel_posts],
        [PUT  => '/api/v4/posts/:post_id/patch', \&patch_post],
        [GET  => '/api/v4/posts/:post_id/reactions', \&get_reactions],
        [POST => '/api/v4/reactions', \&save_reaction_route],
        [POST => '/api/v4/emoji', \&create_emoji, file_api => 1],
        [GET  => '/api/v4/emoji/name/#emoji_name', \&emoji_by_name],
    );
}

# ------------------------------------------------------------------ files

my %MIME = (png => 'image/png', jpg => 'image/jpeg', jpeg => 'image/jpeg', gif => 'image/gif',
            txt => 'text/plain', pdf => 'application/pdf', json => 'application/json',
            zip => 'application/zip', csv => 'text/csv', mp4 => 'video/mp4', webp => 'image/webp');

# app.UploadFileX: a FileInfo whose creator is the uploader ("nouser" for
# a plugin's UploadFile), not attached to any post yet
sub store_file {
    my ($s, $channel, $creator_id, $name, $data) = @_;
    app_error(413, 'api.file.upload_file.too_large_detailed.app_error', where => 'UploadFile',
              params => { Filename => $name, Length => length $data, Limit => $s->opt('max_file_size') })
        if length($data) > $s->opt('max_file_size');
    my ($ext) = $name =~ /\.([^.\/]+)\z/;
    $ext = lc($ext // '');
    my ($format, $w, $h) = image_info($data);
    my $now = now_ms();
    my $f = {
        id => $s->id, user_id => $creator_id, channel_id => $channel->{id}, post_id => '',
        create_at => $now, update_at => $now, delete_at => 0, name => $name, extension => $ext,
        size => length $data, mime_type => $MIME{$ext} // 'application/octet-stream',
        width => $w // 0, height => $h // 0, has_preview_image => $format ? JSON::PP::true : JSON::PP::false,
        sha256 => sha256_hex($data), seq => $s->next_seq,
    };
    $s->{st}{files}{ $f->{id} } = $f;
    return $f;
}

sub upload_files {
    my ($s, $req, $ctx) = @_;
    app_error(501, 'api.file.attachments.disabled.app_error', where => 'uploadFileStream')
        unless $s->opt('enable_file_attachments');
    app_error(400, 'api.file.upload_file.read_request.app_error', where => 'uploadFileStream')
        unless $req->body_length;
    my (@files, $channel_id, @client_ids);
    if (my $parts = $s->multipart($req)) {
        $channel_id = Ferry::Mattermost::Server::form_value($parts, 'channel_id')
            // $req->query->{channel_id};
        @files = map { [ $_->{filename}, $_->{data} ] }
                 grep { defined $_->{filename} && ($_->{name} // '') eq 'files' } @$parts;
        @client_ids = map { Encode::decode('UTF-8', $_->{data}) }
                      grep { ($_->{name} // '') eq 'client_ids' } @$parts;
    } elsif (($req->header('Content-Type') // '') =~ m{^multipart/}i) {
        app_error(400, 'api.file.upload_file.read_request.app_error', where => 'uploadFileMultipart');
    } else {
        $channel_id = $req->query->{channel_id};
        @files = ([ $req->query->{filename} // '', $req->body ]);
    }
    app_error(400, 'api.context.invalid_url_param.app_error', params => { Name => 'channel_id' })
        unless is_valid_id($channel_id);
    $s->require_channel_member($ctx, $channel_id, 'upload_file');
    my $ch = $s->channel($channel_id)
        or app_error(400, 'api.file.upload_file.incorrect_channelId.app_error', where => 'UploadFiles',
                     params => { channelId => $channel_id });
    app_error(400, 'api.file.upload_file.incorrect_number_of_client_ids.app_error', where => 'uploadFileMultipart')
        if @client_ids && @client_ids != @files;
    my @infos = map { store_file($s, $ch, $ctx->{user}{id}, @$_) } @files;
    return (201, { file_infos => [ map { $s->file_json($_) } @infos ], client_ids => \@client_ids });
}

# ------------------------------------------------------------------ posts

# The post a client may send, with the fields the server keeps
sub post_input {
    my ($in) = @_;
    my %p;
    for my $k (qw(channel_id message root_id type pending_post_id)) {
        $p{$k} = defined $in->{$k} && !ref $in->{$k} ? "$in->{$k}" : '';
    }
    $p{file_ids} = ref $in->{file_ids} eq 'ARRAY' ? [ map { "$_" } grep { defined } @{ $in->{file_ids} } ] : [];
    $p{props} = ref $in->{props} eq 'HASH' ? $in->{props} : {};
    my $ca = $in->{create_at} // 0;
    $p{create_at} = !ref $ca && $ca =~ /^-?\d+\z/ ? 0 + $ca : 0;
    $p{is_pinned} = $in->{is_pinned} ? 1 : 0;
    return \%p;
}

# app.CreatePost: the root must exist, be a root, and be in the same
# channel; Post.IsValid; then the files are attached (store AttachToPost:
# not yet attached, created by the author or by "nouser"), and the ones
# that cannot be are silently left off the post.
sub create_post {
    my ($s, $channel, $p) = @_;
    if ($p->{root_id} ne '') {
        my $root = $s->post($p->{root_id});
        app_error(400, 'api.post.create_post.root_id.app_error', where => 'createPost')
            if !$root || $root->{delete_at};
        app_error(400, 'api.post.create_post.channel_root_id.app_error', where => 'createPost')
            if $root->{channel_id} ne $channel->{id};
        app_error(400, 'api.post.create_post.root_id.app_error', where => 'createPost')
            if $root->{root_id} ne '';
    }
    my %seen;
    $p->{file_ids} = [ grep { !$seen{$_}++ } @{ $p->{file_ids} } ];
    if (my $id = validate_post_fields($p, max_runes => $s->opt('post_max_runes'),
                                      file_ids_max_runes => $s->opt('file_ids_max_runes'))) {
        app_error(400, $id, where => 'Post.IsValid',
                  params => { Length => length $p->{message}, MaxLength => $s->opt('post_max_runes') });
    }
    my $now = now_ms();
    my $post = {
        id => $s->id, create_at => $p->{create_at} || $now, edit_at => 0, delete_at => 0,
        is_pinned => $p->{is_pinned} ? JSON::PP::true : JSON::PP::false,
        user_id => $p->{user_id}, channel_id => $channel->{id}, root_id => $p->{root_id},
        original_id => '', message => $p->{message}, type => $p->{type}, props => $p->{props},
        hashtags => '', pending_post_id => $p->{pending_post_id}, reply_count => 0,
        last_reply_at => 0, participants => undef, seq => $s->next_seq,
    };
    $post->{update_at} = $post->{create_at};
    $post->{file_ids} = attach_files($s, $post, $p->{file_ids});
    $s->{st}{posts}{ $post->{id} } = $post;
    if ($post->{root_id} ne '') {
        $s->{replies}{ $post->{root_id} }++;
        my $root = $s->post($post->{root_id});
        $root->{update_at} = $post->{create_at} if $post->{create_at} > $root->{update_at};
    }
    $channel->{last_post_at} = $post->{create_at} if $post->{create_at} > $channel->{last_post_at};
    $channel->{total_msg_count}++;
    $channel->{total_msg_count_root}++ if $post->{root_id} eq '';
    return $post;
}

sub attach_files {
    my ($s, $post, $ids) = @_;
    my @attached;
    for my $id (@$ids) {
        my $f = $s->{st}{files}{$id} or next;
        next unless $f->{post_id} eq '' && !$f->{delete_at};
        next unless $f->{user_id} eq $post->{user_id} || $f->{user_id} eq 'nouser';
        $f->{post_id} = $post->{id};
        $f->{channel_id} = $post->{channel_id};
        push @attached, $id;
    }
    return \@attached;
}

sub create_post_route {
    my ($s, $req, $ctx) = @_;
    my $in = $s->body_json($req, 'post');
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'post' })
        unless ref $in eq 'HASH';
    my $p = post_input($in);
    # createPost: the author is the session's user, and create_at is kept
    # only for a caller with manage_system
    $p->{user_id} = $ctx->{user}{id};
    $p->{create_at} = 0 unless $s->is_admin($ctx->{user});
    # createPostChecks
    $s->require_channel_member($ctx, $p->{channel_id}, 'create_post');
    $s->require_channel_member($ctx, $p->{channel_id}, 'upload_file') if @{ $p->{file_ids} };
    # CreatePostAsUser
    my $ch = $s->channel($p->{channel_id})
        or app_error(400, 'api.context.invalid_param.app_error', where => 'CreatePostAsUser',
                     params => { Name => 'post.channel_id' });
    app_error(400, 'api.context.invalid_param.app_error', where => 'CreatePostAsUser',
              params => { Name => 'post.type' })
        if $p->{type} =~ /^system_/;
    app_error(400, 'api.post.create_post.can_not_post_to_deleted.error', where => 'createPost')
        if $ch->{delete_at};
    my $post = create_post($s, $ch, $p);
    return (201, $s->post_json($post));
}

sub require_post_id {
    my ($id) = @_;
    app_error(400, 'api.context.invalid_url_param.app_error', params => { Name => 'post_id' })
        unless is_valid_id($id);
    return $id;
}

sub get_post {
    my ($s, $req, $ctx) = @_;
    my $post = $s->post(require_post_id($req->param('post_id')));
    app_error(404, 'app.post.get.app_error', where => 'GetSinglePost')
        if !$post || $post->{delete_at};
    my $ch = $s->channel($post->{channel_id});
    Ferry::Mattermost::Channels::read_access($s, $ctx, $ch);
    return (200, $s->post_json($post));
}

# getPostsForChannel (page and per_page only; per_page at most 200): a
# PostList, newest first, replies included, deleted posts left out
sub channel_posts {
    my ($s, $req, $ctx) = @_;
    my $cid = $req->param('channel_id');
    app_error(400, 'api.context.invalid_url_param.app_error', params => { Name => 'channel_id' })
        unless is_valid_id($cid);
    my $ch = Ferry::Mattermost::Channels::load_channel($s, $cid);
    Ferry::Mattermost::Channels::read_access($s, $ctx, $ch);
    my ($page, $more) = $s->page_of($req,
        sort { $b->{create_at} <=> $a->{create_at} || $b->{seq} <=> $a->{seq} }
        grep { $_->{channel_id} eq $cid && !$_->{delete_at} } values %{ $s->{st}{posts} });
    return (200, { order => [ map { $_->{id} } @$page ], posts => { map { $_->{id} => $s->post_json($_) } @$page },
                   next_post_id => '', prev_post_id => '', has_next => Ferry::Mattermost::Server::bool($more) });
}

# patchPost: the author needs edit_post, anyone else edit_others_posts
# (a system admin's); a missing post is a permission error
sub patch_post {
    my ($s, $req, $ctx) = @_;
    my $id = require_post_id($req->param('post_id'));
    my $in = $s->body_json($req, 'post');
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'post' })
        unless ref $in eq 'HASH';
    my $post = $s->post($id);
    $s->permission_error($ctx, 'edit_post') if !$post;
    if ($post->{user_id} eq $ctx->{user}{id}) {
        $s->require_channel_member($ctx, $post->{channel_id}, 'edit_post');
    } else {
        $s->require_admin($ctx, 'edit_others_posts');
    }
    app_error(400, 'api.post.update_post.permissions_details.app_error', where => 'UpdatePost',
              params => { PostId => $id })
        if $post->{delete_at};
    app_error(400, 'api.post.update_post.system_message.app_error', where => 'UpdatePost')
        if $post->{type} =~ /^system_/;
    my $ch = $s->channel($post->{channel_id});
    app_error(400, 'api.post.patch_post.can_not_update_post_in_deleted.error', where => 'PatchPost')
        if $ch->{delete_at};
    my %new = (%$post, root_id => $post->{root_id});
    $new{message} = "$in->{message}" if defined $in->{message} && !ref $in->{message};
    $new{props} = $in->{props} if ref $in->{props} eq 'HASH';
    $new{file_ids} = [ map { "$_" } @{ $in->{file_ids} } ] if ref $in->{file_ids} eq 'ARRAY';
    $new{is_pinned} = $in->{is_pinned} ? JSON::PP::true : JSON::PP::false if exists $in->{is_pinned};
    if (my $err = validate_post_fields(\%new, max_runes => $s->opt('post_max_runes'),
                                       file_ids_max_runes => $s->opt('file_ids_max_runes'))) {
        app_error(400, $err, where => 'Post.IsValid');
    }
    my $now = now_ms();
    my $edited = $new{message} ne $post->{message}
        || join(',', @{ $new{file_ids} }) ne join(',', @{ $post->{file_ids} });
    if (ref $in->{file_ids} eq 'ARRAY') {
        my %had = map { $_ => 1 } @{ $post->{file_ids} };
        my $added = attach_files($s, $post, [ grep { !$had{$_} } @{ $new{file_ids} } ]);
        my %ok = (%had, map { $_ => 1 } @$added);
        $new{file_ids} = [ grep { $ok{$_} } @{ $new{file_ids} } ];
    }
    %$post = %new;
    $post->{update_at} = $now;
    $post->{edit_at} = $now if $edited;
    return (200, $s->post_json($post));
}

# ------------------------------------------------------------------ reactions

# app.SaveReactionForPost: the post, the emoji (system or custom), the
# limit of distinct emoji per post, the archived channel, then the upsert
# on (post, user, emoji), which keeps the first create_at
sub save_reaction {
    my ($s, $r) = @_;
    my $post = $s->post($r->{post_id});
    app_error(404, 'app.post.get.app_error', where => 'GetSinglePost')
        if !$post || $post->{delete_at};
    unless ($s->{system_emoji}{ $r->{emoji_name} }) {
        app_error(403, 'api.emoji.disabled.app_error', where => 'GetEmojiByName')
            unless $s->opt('custom_emoji');
        my ($e) = grep { $_->{name} eq $r->{emoji_name} && !$_->{delete_at} } values %{ $s->{st}{emoji} };
        app_error(404, 'app.emoji.get_by_name.no_result', where => 'GetEmojiByName',
                  detail => "resource \"Emoji\" not found, name=$r->{emoji_name}")
            unless $e;
    }
    my @on_post = grep { $_->{post_id} eq $post->{id} && !$_->{delete_at} } values %{ $s->{st}{reactions} };
    my %names = map { $_->{emoji_name} => 1 } @on_post;
    app_error(400, 'app.reaction.save.save.too_many_reactions', where => 'SaveReactionForPost')
        if !$names{ $r->{emoji_name} } && keys %names >= $s->opt('reaction_limit');
    my $ch = $s->channel($post->{channel_id});
    app_error(403, 'api.reaction.save.archived_channel.app_error', where => 'SaveReactionForPost')
        if $ch->{delete_at};
    # Reaction.IsValid, in the store
    app_error(400, 'model.reaction.is_valid.emoji_name.app_error', where => 'Reaction.IsValid')
        unless reaction_name_ok($r->{emoji_name});
    my $now = now_ms();
    my $key = "$r->{user_id}:$post->{id}:$r->{emoji_name}";
    my $row = $s->{st}{reactions}{$key};
    if ($row) {
        @$row{qw(update_at delete_at)} = ($now, 0);
    } else {
        $row = $s->{st}{reactions}{$key} = {
            user_id => $r->{user_id}, post_id => $post->{id}, emoji_name => $r->{emoji_name},
            create_at => $r->{create_at} || $now, update_at => $now, delete_at => 0,
            remote_id => '', channel_id => $post->{channel_id}, seq => $s->next_seq,
        };
    }
    $post->{has_reactions} = 1;
    $post->{update_at} = $now;
    return $row;
}

sub save_reaction_route {
    my ($s, $req, $ctx) = @_;
    my $in = $s->body_json($req, 'reaction');
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'reaction' })
        unless ref $in eq 'HASH';
    my %r = map { $_ => (defined $in->{$_} && !ref $in->{$_} ? "$in->{$_}" : '') }
            qw(user_id post_id emoji_name);
    my $ca = $in->{create_at} // 0;
    $r{create_at} = !ref $ca && $ca =~ /^\d+\z/ ? 0 + $ca : 0;
    app_error(400, 'api.reaction.save_reaction.invalid.app_error', where => 'saveReaction')
        if !is_valid_id($r{user_id}) || !is_valid_id($r{post_id}) || $r{emoji_name} eq ''
           || length($r{emoji_name}) > 64;
    app_error(403, 'api.reaction.save_reaction.user_id.app_error', where => 'saveReaction')
        if $r{user_id} ne $ctx->{user}{id};
    # SessionHasPermissionToChannelByPost(add_reaction): an unknown post is
    # a permission error here
    my $post = $s->post($r{post_id});
    $s->permission_error($ctx, 'add_reaction') unless $post || $s->is_admin($ctx->{user});
    $s->require_channel_member($ctx, $post->{channel_id}, 'add_reaction') if $post;
    my $row = save_reaction($s, \%r);
    return (200, $s->reaction_json($row));
}

sub get_reactions {
    my ($s, $req, $ctx) = @_;
    my $id = require_post_id($req->param('post_id'));
    my $post = $s->post($id);
    $s->permission_error($ctx, 'read_channel_content') unless $post || $s->is_admin($ctx->{user});
    Ferry::Mattermost::Channels::read_access($s, $ctx, $s->channel($post->{channel_id})) if $post;
    my @r = sort { $a->{create_at} <=> $b->{create_at} || $a->{seq} <=> $b->{seq} }
            grep { $_->{post_id} eq $id && !$_->{delete_at} } values %{ $s->{st}{reactions} };
    return (200, [ map { $s->reaction_json($_) } @r ]);
}

# ------------------------------------------------------------------ emoji

# createEmoji (api4) then CreateEmoji and UploadEmojiImage (app)
sub create_emoji {
    my ($s, $req, $ctx) = @_;
    app_error(501, 'api.emoji.disabled.app_error', where => 'createEmoji')
        unless $s->opt('custom_emoji');
    app_error(413, 'api.emoji.create.too_large.app_error', where => 'createEmoji')
        if $req->body_length > $s->opt('emoji_max_bytes');
    my $parts = $s->multipart($req)
        or app_error(400, 'api.emoji.create.parse.app_error', where => 'createEmoji');
    my $json = Ferry::Mattermost::Server::form_value($parts, 'emoji');
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'emoji' })
        unless defined $json;
    my $in = eval { JSON::PP->new->decode($json) };
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'emoji' })
        unless ref $in eq 'HASH';
    my %e = map { $_ => (defined $in->{$_} && !ref $in->{$_} ? "$in->{$_}" : '') } qw(name creator_id);
    # Emoji.IsValid
    app_error(400, 'model.emoji.user_id.app_error', where => 'Emoji.IsValid')
        if length $e{creator_id} > 26;
    app_error(400, 'model.emoji.name.app_error', where => 'Emoji.IsValid')
        unless is_valid_emoji_name($e{name});
    app_error(400, 'model.emoji.system_emoji_name.app_error', where => 'Emoji.IsValid')
        if $s->{system_emoji}{ $e{name} };
    app_error(403, 'api.emoji.create.other_user.app_error', where => 'createEmoji')
        if $e{creator_id} ne $ctx->{user}{id};
    app_error(400, 'api.emoji.create.duplicate.app_error', where => 'createEmoji')
        if grep { $_->{name} eq $e{name} && !$_->{delete_at} } values %{ $s->{st}{emoji} };
    my ($img) = grep { ($_->{name} // '') eq 'image' && defined $_->{filename} } @$parts;
    app_error(400, 'api.context.invalid_body_param.app_error', params => { Name => 'createEmoji' })
        unless $img;
    my ($format, $w, $h) = image_info($img->{data});
    app_error(400, 'api.emoji.upload.image.app_error', where => 'uploadEmojiImage') unless $format;
    app_error(400, 'api.emoji.upload.large_image.too_large.app_error', where => 'uploadEmojiImage',
              params => { MaxWidth => 1028, MaxHeight => 1028 })
        if $w > 1028 || $h > 1028;
    my $now = now_ms();
    my $emoji = {
        id => $s->id, create_at => $now, update_at => $now, delete_at => 0,
        creator_id => $e{creator_id}, name => $e{name}, description => '',
        image_format => $format, image_size => length $img->{data},
        image_sha256 => sha256_hex($img->{data}), seq => $s->next_seq,
    };
    $s->{st}{emoji}{ $emoji->{id} } = $emoji;
    return (200, emoji_out($emoji));
}

sub emoji_out {
    my ($e) = @_;
    return { map { $_ => $e->{$_} } qw(id create_at update_at delete_at creator_id name description) };
}

sub emoji_by_name {
    my ($s, $req, $ctx) = @_;
    my $name = $req->param('emoji_name') // '';
    # RequireEmojiName
    app_error(400, 'api.context.invalid_url_param.app_error', params => { Name => 'emoji_name' })
        unless length $name && length $name <= 64 && $name =~ /^[a-zA-Z0-9\-+_]+\z/;
    app_error(403, 'api.emoji.disabled.app_error', where => 'GetEmojiByName')
        unless $s->opt('custom_emoji');
    my ($e) = grep { $_->{name} eq $name && !$_->{delete_at} } values %{ $s->{st}{emoji} };
    app_error(404, 'app.emoji.get_by_name.no_result', where => 'GetEmojiByName') unless $e;
    return (200, emoji_out($e));
}

1;
