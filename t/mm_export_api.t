#!/usr/bin/perl
# The Mattermost export in the api mode, whole (issue 12): a synthetic Slack
# export ingested, then every phase into the emulator — users, custom emoji,
# channels, files, messages, reactions — asserting what arrives: each post
# in its channel by its author (a token minted per user, revoked at the
# end), replies under their roots, mentions converted, files on their posts
# and uploaded by the post's author, reactions by their users, archived
# channels archived after their posts, deleted users deactivated. Then: a
# re-run creates nothing; a 429 storm and a 5xx burst still finish with
# everything; kill -9 of ferryd mid-export and a restart resume with nothing
# made twice; messages changed in Slack since update their posts.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Ferry::Test;
use Ferry::SlackExport;
use Ferry::Mattermost;
use Ferry::Peer;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $spool = $t->writable_dir('spool');

# Slack's emoji images: a tiny PNG for every custom emoji
my $png = pack('H*', '89504e470d0a1a0a0000000d4948445200000001000000010806000000'
    . '1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082');
my $slack = Ferry::Peer->new($t, name => 'slack-files');
$slack->route(GET => '/*rest' => sub { (200, $png, { 'Content-Type' => 'image/png' }) });
$slack->start;

my $mm = Ferry::Mattermost->new($t, team_name => 'migrated',
    rate_limit => { per_sec => 100000, max_burst => 100000 })->start;
$t->start_pg->migrate;
my %set = (SPOOL_DIR => $spool, MM_URL => $mm->url, MM_TOKEN => $mm->admin_token,
           EXPORT_WORKERS => 4, EXPORT_CHANNEL_CONCURRENCY => 3, JOB_STALE_SECONDS => 2);
$t->start_ferryd(%set);
$t->start_nginx(Ferry::Test::imports_conf(<<'EOF'));
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
my $token = $t->user_token('mm@example.com');
my %auth = (Authorization => "Bearer $token");

my $zip = $t->dir . '/e.zip';
Ferry::SlackExport->new(seed => 12, users => 10, days => 3, messages_per_day => 4,
    file_bytes => 'in_zip', emoji_base => $slack->url, custom_emoji => 3)->write($zip);
my ($rc, $out) = $t->run_cmd(['curl', '-s', '-H', "Authorization: Bearer $token",
    '-H', 'Idempotency-Key: up', '-F', "file=\@$zip", 'http://127.0.0.1:' . $t->port . '/slack/upload']);
my $up = Ferry::Test::json()->decode($out)->{id};
$t->wait_for('the upload', sub {
    ($t->http(GET => "/slack/uploads/$up", headers => \%auth)->{json}{status} // '') eq 'done' });

sub export {
    my (%body) = @_;
    return $t->http(POST => '/export', json => \%body, headers => \%auth);
}

sub finished {
    my ($id, $timeout) = @_;
    my $j;
    $t->wait_for("export $id", sub {
        $j = $t->http(GET => "/export/$id", headers => \%auth)->{json};
        ($j->{status} // '') =~ /^(done|failed)$/ }, $timeout // 120);
    return $j;
}

sub rows {
    my ($sql) = @_;
    return map { [ split /\|/, $_, -1 ] } grep { length } split /\n/, $t->psql($sql);
}

sub failures {
    return $t->psql("SELECT entity_type || ' ' || slack_id || ': ' || coalesce(error_message, '') || ' ' "
                  . "|| (raw_data - 'blocks' - 'user_profile' - 'text')::text "
                  . "FROM entities WHERE status = 'failed' ORDER BY id LIMIT 20");
}

is(export(team => 'migrated', mode => 'nope')->{status}, 422, 'an unknown mode: 422');
is(export(team => 'migrated', dry_run => 'yes')->{status}, 422, 'dry_run not a boolean: 422');

# ---------------------------------------------------------------- a dry run
# one user whose e-mail Mattermost would refuse: the dry run reports them,
# and their messages, files and reactions as failing with them, and writes
# nothing
my ($bad) = rows("SELECT u.slack_id FROM entities u JOIN entity_relations r ON r.from_entity_id = u.id "
    . "AND r.relation_type = 'posted_by' WHERE u.entity_type = 'user' AND u.raw_data->'profile' ? 'email' "
    . "GROUP BY u.slack_id ORDER BY count(*) DESC LIMIT 1");
$bad = $bad->[0];
my $email = $t->psql("SELECT raw_data->'profile'->>'email' FROM entities WHERE slack_id = '$bad'");
$t->psql("UPDATE entities SET raw_data = jsonb_set(raw_data, '{profile,email}', '\"bad\@\@example.com\"') "
       . "WHERE entity_type = 'user' AND slack_id = '$bad'");
my $dry = finished(export(team => 'migrated', dry_run => \1)->{json}{id});
is($dry->{status}, 'done', 'a dry run of every type: done');
ok($dry->{dry_run}, 'and says it is one');
is(scalar $mm->journal(method => qr/^(POST|PUT|DELETE)$/), 0, 'it wrote nothing to Mattermost');
my @found;
my $page = $t->http(GET => "/export/$dry->{id}/failures?limit=100", headers => \%auth)->{json};
while (1) {
    push @found, @{ $page->{items} };
    last unless $page->{next_cursor};
    $page = $t->http(GET => "/export/$dry->{id}/failures?limit=100&cursor=$page->{next_cursor}",
                     headers => \%auth)->{json};
}
my %why = map { ("$_->{type} $_->{slack_id}" => $_->{error_message}) } @found;
like($why{"user $bad"} // '', qr/email/i, 'the user with the bad e-mail would fail, saying why');
my @theirs = map { $_->[0] } rows("SELECT m.slack_id FROM entities m JOIN entity_relations r ON r.to_entity_id = m.id "
    . "AND r.relation_type = 'posted_by' JOIN entities u ON u.id = r.from_entity_id AND u.slack_id = '$bad' "
    . "WHERE m.entity_type = 'message' AND coalesce(m.raw_data->>'subtype', '') NOT IN ('message_deleted', 'message_changed')");
is(scalar(grep { $why{"message $_"} } @theirs), scalar @theirs,
   'and so would their ' . @theirs . ' messages (no author, or their DMs no channel)');
my %mine = map { ("message $_" => 1) } @theirs;
is_deeply([ grep { /^message / && !$mine{$_} && $why{$_} !~ /channel|edits/ } sort keys %why ], [],
          "no one else's message fails, but in a DM with them or as an edit of one")
    or diag explain \%why;
is($t->psql("SELECT count(*) FROM entities WHERE status <> 'pending'"), 0, 'every row left pending');
$t->psql("UPDATE entities SET raw_data = jsonb_set(raw_data, '{profile,email}', to_jsonb('$email'::text)) "
       . "WHERE entity_type = 'user' AND slack_id = '$bad'");

# ---------------------------------------------------------------- the export
# a 429 storm on posts (Retry-After honoured) and a 5xx burst on reactions;
# Mattermost slow enough that a kill -9 lands in the message phase
$mm->fault(method => 'POST', path => '/api/v4/posts', status => 429, times => 6,
           retry_after => 1, body => 'limit exceeded');
$mm->fault(method => 'POST', path => '/api/v4/reactions', status => 502, times => 3);
$mm->latency(0.03);
my $r = export(team => 'migrated');
is($r->{status}, 202, 'POST /export: 202');
my $id = $r->{json}{id};
my $posted_sql = "SELECT count(*) FROM entities WHERE entity_type = 'message' AND status = 'success'";
$t->wait_for('some posts', sub { $t->psql($posted_sql) >= 10 }, 120);
$t->stop_ferryd('KILL');
my $at_kill = $t->psql($posted_sql);
my $total = $t->psql("SELECT count(*) FROM entities WHERE entity_type = 'message'");
ok($at_kill < $total, "ferryd killed (-9) with $at_kill of $total messages posted");
ok($t->psql('SELECT count(*) FROM export_tokens') > 0, 'the killed run left its user tokens listed');
$mm->latency(0);
$t->start_ferryd(%set);
my $j = finished($id);
is($j->{status}, 'done', 'the export resumed and is done') or diag explain $j;
is($j->{mode}, 'api', 'in the api mode (the default)');
for my $type (qw(user custom_emoji channel attachment message reaction)) {
    my $c = $j->{counts}{$type};
    is($c->{failed} // 0, 0, "no $type failed") or diag failures();
    is($c->{pending} // 0, 0, "no $type left pending");
}
ok($j->{counts}{$_}{success} > 0, "some ${_}s exported ($j->{counts}{$_}{success})")
    for qw(user custom_emoji channel attachment message reaction);
is(scalar $mm->journal(path => '/api/v4/posts', status => 429), 6, 'the 429 storm was met (and got over)');
is(scalar $mm->journal(path => '/api/v4/reactions', status => 502), 3, 'so was the 5xx burst');

# nothing twice, not even the post in flight at the kill
my %n;
$n{ $_->{props}{ferry_slack_id} // '' }++ for $mm->posts;
delete $n{''};
my $posted = $t->psql("SELECT count(*) FROM entities WHERE entity_type = 'message' AND status = 'success' "
                    . "AND coalesce(raw_data->>'subtype', '') <> 'message_changed'");
is(scalar(keys %n), $posted, "every message posted ($posted; Slack's edits patch their post)");
is(scalar(grep { $_ > 1 } values %n), 0, 'none twice')
    or diag explain { map { $_ => $n{$_} } grep { $n{$_} > 1 } keys %n };

my $st = $mm->state;
my %post = map { $_->{id} => $_ } @{ $st->{posts} };
my %user = map { $_->{id} => $_ } @{ $st->{users} };

# every message a post in its channel by its author, replies under their roots
my @msg = rows("SELECT m.mattermost_id, c.mattermost_id, u.mattermost_id, "
    . "coalesce(t.mattermost_id, ''), m.raw_data->>'ts' FROM entities m "
    . "JOIN entity_relations pi ON pi.from_entity_id = m.id AND pi.relation_type = 'posted_in' "
    . "JOIN entities c ON c.id = pi.to_entity_id "
    . "JOIN entity_relations pb ON pb.to_entity_id = m.id AND pb.relation_type = 'posted_by' "
    . "JOIN entities u ON u.id = pb.from_entity_id "
    . "LEFT JOIN entity_relations tr ON tr.from_entity_id = m.id AND tr.relation_type = 'thread_reply' "
    . "LEFT JOIN entities t ON t.id = tr.to_entity_id "
    . "WHERE m.entity_type = 'message' AND m.status = 'success'");
ok(@msg > 20, scalar(@msg) . ' messages to check');
my ($where, $who, $thread, $replies) = (0, 0, 0, 0);
for my $m (@msg) {
    my $p = $post{ $m->[0] } or next;
    $where++ if $p->{channel_id} eq $m->[1];
    $who++ if $p->{user_id} eq $m->[2];
    if ($m->[3] ne '') { $replies++; $thread++ if $p->{root_id} eq $m->[3] }
}
is(scalar(grep { $post{ $_->[0] } } @msg), scalar @msg, 'every exported message is a post');
is($where, scalar @msg, 'each in its channel');
is($who, scalar @msg, 'each by its author (not the admin)');
ok($replies > 0, "$replies thread replies");
is($thread, $replies, 'each under its root');
my ($m0) = grep { $_->[3] eq '' } @msg;
cmp_ok($post{ $m0->[0] }{create_at}, '>', (time - 3600) * 1000,
       'the api mode cannot keep the time: a post is dated when it was made');

# mentions: <@U...> becomes @username
my ($mention) = rows("SELECT m.mattermost_id, u.raw_data->>'name' FROM entities m "
    . "JOIN entities u ON u.entity_type = 'user' AND m.raw_data->>'text' LIKE '%<\@' || u.slack_id || '>%' "
    . "WHERE m.entity_type = 'message' AND m.status = 'success' LIMIT 1");
SKIP: {
    skip 'no message mentions a user', 2 unless $mention;
    my $text = $post{ $mention->[0] }{message};
    like($text, qr/\@\Q@{[lc $mention->[1]]}\E/, "a mention becomes \@$mention->[1]");
    unlike($text, qr/<\@U/, 'no Slack mention markup left');
}

# files: on their posts, uploaded by the post's author
my @att = rows("SELECT a.mattermost_id, m.mattermost_id FROM entities a "
    . "JOIN entity_relations r ON r.from_entity_id = a.id AND r.relation_type = 'attached_to' "
    . "JOIN entities m ON m.id = r.to_entity_id WHERE a.entity_type = 'attachment' AND a.status = 'success'");
ok(@att > 0, scalar(@att) . ' files');
my %file = map { $_->{id} => $_ } @{ $st->{files} };
my $attached = grep { my $f = $file{ $_->[0] }; $f && $f->{post_id} ne ''
    && ($f->{post_id} eq $_->[1] || ($post{ $f->{post_id} }{root_id} // '') eq $_->[1]) } @att;
is($attached, scalar @att, 'every file attached to its message (or a continuation in its thread)');
my $by_author = grep { my $f = $file{ $_->[0] }; $f && $post{ $f->{post_id} }
    && $f->{user_id} eq $post{ $f->{post_id} }{user_id} } @att;
is($by_author, scalar @att, "each uploaded by its post's author")
    or diag explain [ map { my $f = $file{ $_->[0] }; { file => $f, post => $post{ $f->{post_id} // '' } } }
                      grep { my $f = $file{ $_->[0] }; !($f && $post{ $f->{post_id} }
                             && $f->{user_id} eq $post{ $f->{post_id} }{user_id}) } @att ];
ok(!grep({ @{ $_->{file_ids} // [] } > 5 } @{ $st->{posts} }), 'no post with more than 5 files');

# reactions by their users on their posts
my @rx = rows("SELECT u.mattermost_id, m.mattermost_id FROM entities x "
    . "JOIN entity_relations rb ON rb.to_entity_id = x.id AND rb.relation_type = 'reacted_by' "
    . "JOIN entities u ON u.id = rb.from_entity_id "
    . "JOIN entity_relations rt ON rt.from_entity_id = x.id AND rt.relation_type = 'reacted_to' "
    . "JOIN entities m ON m.id = rt.to_entity_id WHERE x.entity_type = 'reaction' AND x.status = 'success'");
my %rx = map { ("$_->{user_id}:$_->{post_id}" => 1) } @{ $st->{reactions} };
is(scalar(grep { $rx{"$_->[0]:$_->[1]"} } @rx), scalar @rx, 'every reaction by its user on its post (' . @rx . ')');

# custom emoji kept with their ids, made by the token's owner
my @emoji = rows("SELECT mattermost_id FROM entities WHERE entity_type = 'custom_emoji' AND status = 'success'");
my %emoji = map { $_->{id} => $_ } @{ $st->{emoji} };
is(scalar(grep { $emoji{ $_->[0] } } @emoji), scalar @emoji, 'custom emoji kept with their Mattermost ids');
is(scalar(grep { $emoji{ $_->[0] }{creator_id} eq $mm->admin_id } @emoji), scalar @emoji, 'made by the admin');

# DMs hold their posts
my @dm = rows("SELECT c.mattermost_id FROM entities c WHERE c.entity_type = 'channel' "
    . "AND c.raw_data->>'channel_kind' = 'dm' AND c.status = 'success'");
ok(scalar(grep { my $c = $_->[0]; grep { $_->{channel_id} eq $c } @{ $st->{posts} } } @dm),
   'DMs hold their posts');

# archived channels archived (after their posts), deleted users deactivated
my @arch = rows("SELECT mattermost_id FROM entities WHERE entity_type = 'channel' "
    . "AND status = 'success' AND raw_data->>'is_archived' = 'true'");
my %ch = map { $_->{id} => $_ } @{ $st->{channels} };
is(scalar(grep { $ch{ $_->[0] }{delete_at} } @arch), scalar @arch, 'archived channels archived (' . @arch . ')');
my @gone = rows("SELECT mattermost_id FROM entities WHERE entity_type = 'user' "
    . "AND status = 'success' AND raw_data->>'deleted' = 'true'");
is(scalar(grep { $user{ $_->[0] }{delete_at} } @gone), scalar @gone, 'deleted users deactivated (' . @gone . ')');

# the tokens minted for the users are revoked
my $minted = $mm->journal(method => 'POST', path => qr{^/api/v4/users/\w+/tokens$}, status => 200);
ok($minted > 0, "$minted user tokens were minted");
is(scalar $mm->journal(method => 'POST', path => '/api/v4/users/tokens/revoke', status => 200), $minted,
   'and as many revoked at the end');
is(scalar(grep { $_->{user_id} ne $mm->admin_id } @{ $st->{tokens} }), 0, 'none left in Mattermost');
is($t->psql('SELECT count(*) FROM export_tokens'), 0, "none left listed, the killed run's too");

# ---------------------------------------------------------------- a re-run
my $writes = scalar $mm->journal(method => 'POST');
# with an Idempotency-Key: the same request twice is one export
my %key = (%auth, 'Idempotency-Key' => 'rerun-1');
my $r1 = $t->http(POST => '/export', json => { team => 'migrated' }, headers => \%key);
is($r1->{status}, 202, 'POST /export with an Idempotency-Key: 202');
my $r2 = $t->http(POST => '/export', json => { team => 'migrated' }, headers => \%key);
is($r2->{json}{id}, $r1->{json}{id}, 'the same request again: the same export');
is($r2->{headers}{'idempotent-replayed'}, 'true', '... replayed');
is($t->http(POST => '/export', json => { team => 'other' }, headers => \%key)->{status}, 422,
   'another request with that key: 422');
$j = finished($r1->{json}{id});
is($j->{status}, 'done', 'a re-run: done');
is(scalar $mm->journal(method => 'POST'), $writes, 'a re-run makes no write at all');

# ------------------------------------------------- a newer Slack export
# the same messages changed in Slack since: their posts are updated, none
# made anew
$t->psql("UPDATE entities SET status = 'pending', raw_data = jsonb_set(raw_data, '{text}', "
       . "'\"changed in Slack\"') WHERE id IN (SELECT id FROM entities WHERE entity_type = 'message' "
       . "AND status = 'success' AND raw_data->>'subtype' IS NULL AND raw_data ? 'text' "
       . "AND NOT raw_data ? 'blocks' AND NOT raw_data ? 'attachments' ORDER BY id LIMIT 5)");
my $nposts = scalar $mm->posts;
$j = finished(export(team => 'migrated', types => ['message'])->{json}{id});
is($j->{status}, 'done', 'a re-export of changed messages: done');
is(scalar $mm->posts, $nposts, 'no new post');
is(scalar(grep { $_->{message} eq 'changed in Slack' } $mm->posts), 5, 'five posts updated')
    or diag $t->psql("SELECT count(*) FROM entities WHERE raw_data->>'text' = 'changed in Slack'");

$t->done;
