package Ferry::Export;

# What the Mattermost export tests share: nginx's locations for the Slack
# upload and the export, a synthetic Slack export uploaded and ingested,
# POST /export and its wait, rows read from the database, and the checks
# that every mode calling Mattermost per entity (api, plugin) must pass.
#
#   my $x = Ferry::Export->new($t, 'mm@example.com');   # after start_nginx(Ferry::Export::conf())
#   $x->ingest(seed => 12, users => 10);
#   my $j = $x->finished($x->export(team => 'migrated')->{json}{id});

use strict;
use warnings;
use Test::More;

use Ferry::Peer;
use Ferry::SlackExport;
use Ferry::Test;

# nginx's locations, and more (e.g. /reports/) when given
sub conf {
    my ($more) = @_;
    return Ferry::Test::imports_conf(<<'EOF' . ($more // ''));
        location = /slack/upload {
            ferry_auth jwt;
            ferry_idempotency required;
            ferry_upload field=file type=zip;
            ferry_pass ferryd;
        }
        location /slack/uploads { ferry_auth jwt; ferry_pass ferryd; }
        location = /export { ferry_auth jwt; ferry_idempotency on; ferry_pass ferryd; }
        location /export/ { ferry_auth jwt; ferry_pass ferryd; }
EOF
}

# A peer standing for Slack's file servers: a tiny PNG (an emoji image)
# at every path
sub slack_files {
    my ($t) = @_;
    my $png = pack('H*', '89504e470d0a1a0a0000000d4948445200000001000000010806000000'
        . '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082');
    my $slack = Ferry::Peer->new($t, name => 'slack-files');
    $slack->route(GET => '/*rest' => sub { (200, $png, { 'Content-Type' => 'image/png' }) });
    return $slack->start;
}

sub new {
    my ($class, $t, $email) = @_;
    my $token = $t->user_token($email);
    return bless { t => $t, token => $token, auth => { Authorization => "Bearer $token" } }, $class;
}

sub auth { $_[0]{auth} }

# A synthetic export (Ferry::SlackExport's options, and wait: seconds the
# ingestion may take, 20 by default) uploaded and ingested; returns its
# facts.
sub ingest {
    my ($self, %gen) = @_;
    my $wait = delete $gen{wait};
    my $t = $self->{t};
    my $zip = $t->dir . '/e.zip';
    my $facts = Ferry::SlackExport->new(%gen)->write($zip);
    my ($rc, $out) = $t->run_cmd(['curl', '-s', '-H', "Authorization: Bearer $self->{token}",
        '-H', 'Idempotency-Key: up', '-F', "file=\@$zip", 'http://127.0.0.1:' . $t->port . '/slack/upload']);
    my $up = Ferry::Test::json()->decode($out)->{id};
    $t->wait_for('the upload', sub {
        ($t->http(GET => "/slack/uploads/$up", headers => $self->{auth})->{json}{status} // '') eq 'done' },
        $wait);
    return $facts;
}

sub export {
    my ($self, %body) = @_;
    return $self->{t}->http(POST => '/export', json => \%body, headers => $self->{auth});
}

# POST /export (202), then kill -9 of ferryd once some messages are
# posted, before all are; returns the job's id.
sub start_and_kill {
    my ($self, %body) = @_;
    my $t = $self->{t};
    # and when given, until that holds too
    my $until = delete $body{until_kill};
    my $r = $self->export(%body);
    is($r->{status}, 202, 'POST /export: 202');
    my $posted_sql = "SELECT count(*) FROM entities WHERE entity_type = 'message' AND status = 'success'";
    $t->wait_for('some posts', sub { $t->psql($posted_sql) >= 10 && (!$until || $until->()) }, 120);
    $t->stop_ferryd('KILL');
    my $at_kill = $t->psql($posted_sql);
    my $total = $t->psql("SELECT count(*) FROM entities WHERE entity_type = 'message'");
    ok($at_kill < $total, "ferryd killed (-9) with $at_kill of $total messages posted");
    return $r->{json}{id};
}

# GET /export/{id} once the job is done or failed; asked every $every
# seconds (each answer counts every row's status: a benchmark asks seldom)
sub finished {
    my ($self, $id, $timeout, $every) = @_;
    my $j;
    $self->{t}->wait_for("export $id", sub {
        select undef, undef, undef, $every if $every;
        $j = $self->{t}->http(GET => "/export/$id", headers => $self->{auth})->{json};
        ($j->{status} // '') =~ /^(done|failed)$/ }, $timeout // 120);
    return $j;
}

sub rows {
    my ($self, $sql) = @_;
    return map { [ split /\|/, $_, -1 ] } grep { length } split /\n/, $self->{t}->psql($sql);
}

sub failures {
    my ($self) = @_;
    return $self->{t}->psql("SELECT entity_type || ' ' || slack_id || ': ' || coalesce(error_message, '') "
        . "|| ' ' || (raw_data - 'blocks' - 'user_profile' - 'text')::text "
        . "FROM entities WHERE status = 'failed' ORDER BY id LIMIT 20");
}

# Slack's ts in milliseconds, as Mattermost's create_at
sub ms {
    my ($ts) = @_;
    my ($s, $f) = split /\./, $ts;
    return $s * 1000 + substr(($f // '') . '000', 0, 3);
}

# ------------------------------------------------------------------ checks

# A finished export: done, every type exported, none failed or pending.
sub check_done {
    my ($self, $j) = @_;
    is($j->{status}, 'done', 'the export resumed and is done') or diag explain $j;
    for my $type (qw(user custom_emoji channel attachment message reaction)) {
        my $c = $j->{counts}{$type};
        is($c->{failed} // 0, 0, "no $type failed") or diag $self->failures;
        is($c->{pending} // 0, 0, "no $type left pending");
    }
    ok($j->{counts}{$_}{success} > 0, "some ${_}s exported ($j->{counts}{$_}{success})")
        for qw(user custom_emoji channel attachment message reaction);
}

# Every message posted once, not even the one in flight at a kill twice.
sub check_once {
    my ($self, $mm) = @_;
    my %n;
    $n{ $_->{props}{ferry_slack_id} // '' }++ for $mm->posts;
    delete $n{''};
    my $posted = $self->{t}->psql("SELECT count(*) FROM entities WHERE entity_type = 'message' "
        . "AND status = 'success' AND coalesce(raw_data->>'subtype', '') <> 'message_changed'");
    is(scalar(keys %n), $posted, "every message posted ($posted; Slack's edits patch their post)");
    is(scalar(grep { $_ > 1 } values %n), 0, 'none twice')
        or diag explain { map { $_ => $n{$_} } grep { $n{$_} > 1 } keys %n };
}

# Every message a post in its channel by its author, replies under their
# roots; with $timed, each at its Slack time.
sub check_posts {
    my ($self, $st, $timed) = @_;
    my %post = map { $_->{id} => $_ } @{ $st->{posts} };
    my @msg = $self->rows("SELECT m.mattermost_id, c.mattermost_id, u.mattermost_id, "
        . "coalesce(t.mattermost_id, ''), m.raw_data->>'ts' FROM entities m "
        . "JOIN entity_relations pi ON pi.from_entity_id = m.id AND pi.relation_type = 'posted_in' "
        . "JOIN entities c ON c.id = pi.to_entity_id "
        . "JOIN entity_relations pb ON pb.to_entity_id = m.id AND pb.relation_type = 'posted_by' "
        . "JOIN entities u ON u.id = pb.from_entity_id "
        . "LEFT JOIN entity_relations tr ON tr.from_entity_id = m.id AND tr.relation_type = 'thread_reply' "
        . "LEFT JOIN entities t ON t.id = tr.to_entity_id "
        . "WHERE m.entity_type = 'message' AND m.status = 'success' "
        . "AND coalesce(m.raw_data->>'subtype', '') <> 'message_changed'");
    ok(@msg > 20, scalar(@msg) . ' messages to check');
    my ($where, $who, $when, $thread, $replies) = (0, 0, 0, 0, 0);
    for my $m (@msg) {
        my $p = $post{ $m->[0] } or next;
        $where++ if $p->{channel_id} eq $m->[1];
        $who++ if $p->{user_id} eq $m->[2];
        $when++ if $p->{create_at} == ms($m->[4]);
        if ($m->[3] ne '') { $replies++; $thread++ if $p->{root_id} eq $m->[3] }
    }
    is(scalar(grep { $post{ $_->[0] } } @msg), scalar @msg, 'every exported message is a post');
    is($where, scalar @msg, 'each in its channel');
    is($who, scalar @msg, 'each by its author (not the admin)');
    is($when, scalar @msg, 'each at its Slack time (create_at = ts in ms)') if $timed;
    ok($replies > 0, "$replies thread replies");
    is($thread, $replies, 'each under its root');
    return @msg;
}

# Every file on its message's post (or a continuation in its thread);
# returns [file id, post id] for each.
sub check_files {
    my ($self, $st) = @_;
    my %post = map { $_->{id} => $_ } @{ $st->{posts} };
    my %file = map { $_->{id} => $_ } @{ $st->{files} };
    my @att = $self->rows("SELECT a.mattermost_id, m.mattermost_id FROM entities a "
        . "JOIN entity_relations r ON r.from_entity_id = a.id AND r.relation_type = 'attached_to' "
        . "JOIN entities m ON m.id = r.to_entity_id "
        . "WHERE a.entity_type = 'attachment' AND a.status = 'success'");
    ok(@att > 0, scalar(@att) . ' files');
    my $attached = grep { my $f = $file{ $_->[0] }; $f && $f->{post_id} ne ''
        && ($f->{post_id} eq $_->[1] || ($post{ $f->{post_id} }{root_id} // '') eq $_->[1]) } @att;
    is($attached, scalar @att, 'every file attached to its message (or a continuation in its thread)');
    ok(!grep({ @{ $_->{file_ids} // [] } > 5 } @{ $st->{posts} }), 'no post with more than 5 files');
    return @att;
}

# Every reaction by its user on its post; returns [user, post, message ts].
sub check_reactions {
    my ($self, $st) = @_;
    my @rx = $self->rows("SELECT u.mattermost_id, m.mattermost_id, x.raw_data->>'message_ts' FROM entities x "
        . "JOIN entity_relations rb ON rb.to_entity_id = x.id AND rb.relation_type = 'reacted_by' "
        . "JOIN entities u ON u.id = rb.from_entity_id "
        . "JOIN entity_relations rt ON rt.from_entity_id = x.id AND rt.relation_type = 'reacted_to' "
        . "JOIN entities m ON m.id = rt.to_entity_id WHERE x.entity_type = 'reaction' AND x.status = 'success'");
    my %rx = map { ("$_->{user_id}:$_->{post_id}" => 1) } @{ $st->{reactions} };
    is(scalar(grep { $rx{"$_->[0]:$_->[1]"} } @rx), scalar @rx,
       'every reaction by its user on its post (' . @rx . ')');
    return @rx;
}

# The users Ferry created have their Slack picture as avatar (a Gravatar is
# Mattermost's own to show; existing users keep theirs).
sub check_avatars {
    my ($self, $st) = @_;
    my %img = map { $_->{user_id} => $_ } @{ $st->{images} };
    my @made = map { $_->[0] } $self->rows("SELECT mattermost_id FROM entities WHERE entity_type = 'user' "
        . "AND status = 'success' AND raw_data->'profile'->>'image_72' NOT LIKE '%gravatar.com%'");
    ok(@made > 0, scalar(@made) . ' users with a Slack picture');
    is(scalar(grep { $img{$_} && $img{$_}{format} eq 'png' } @made), scalar @made, 'each has it as avatar');
}

# Custom emoji kept with their Mattermost ids; returns the emoji.
sub check_emoji {
    my ($self, $st) = @_;
    my @emoji = $self->rows("SELECT mattermost_id FROM entities "
        . "WHERE entity_type = 'custom_emoji' AND status = 'success'");
    my %emoji = map { $_->{id} => $_ } @{ $st->{emoji} };
    is(scalar(grep { $emoji{ $_->[0] } } @emoji), scalar @emoji, 'custom emoji kept with their Mattermost ids');
    return map { $emoji{ $_->[0] } } @emoji;
}

# A re-run (started by $start, which returns its id; by default POST
# /export) writes nothing; then messages changed in Slack since update
# their posts and make none anew. Returns the changed posts.
sub check_rerun {
    my ($self, $mm, $start) = @_;
    my $t = $self->{t};
    my $writes = scalar $mm->journal(method => 'POST');
    my $id = $start ? $start->() : $self->export(team => 'migrated')->{json}{id};
    my $j = $self->finished($id);
    is($j->{status}, 'done', 'a re-run: done');
    is(scalar $mm->journal(method => 'POST'), $writes, 'a re-run makes no write at all');

    $t->psql("UPDATE entities SET status = 'pending', raw_data = jsonb_set(raw_data, '{text}', "
           . "'\"changed in Slack\"') WHERE id IN (SELECT id FROM entities WHERE entity_type = 'message' "
           . "AND status = 'success' AND raw_data->>'subtype' IS NULL AND raw_data ? 'text' "
           . "AND NOT raw_data ? 'blocks' AND NOT raw_data ? 'attachments' ORDER BY id LIMIT 5)");
    my $nposts = scalar $mm->posts;
    $j = $self->finished($self->export(team => 'migrated', types => ['message'])->{json}{id});
    is($j->{status}, 'done', 'a re-export of changed messages: done');
    is(scalar $mm->posts, $nposts, 'no new post');
    my @changed = grep { $_->{message} eq 'changed in Slack' } $mm->posts;
    is(scalar @changed, 5, 'five posts updated')
        or diag $t->psql("SELECT count(*) FROM entities WHERE raw_data->>'text' = 'changed in Slack'");
    return @changed;
}

1;
