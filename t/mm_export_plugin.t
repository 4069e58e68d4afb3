#!/usr/bin/perl
# The Mattermost export in the plugin mode (issue 12): the synthetic Slack
# export ingested, then every phase into the emulator through the
# mm-importer plugin's routes — users and custom emoji by REST, channels,
# DMs and group DMs, files, posts and reactions by the plugin — asserting
# what arrives: each post in its channel by its author AND at its Slack
# time, replies under their roots, files on their posts, reactions by their
# users dated as their message, archived channels archived after their
# posts. First, a Mattermost without the plugin: the job fails saying so,
# nothing written. Then: a re-run writes nothing; a 429 storm and 5xx
# bursts still finish; kill -9 of ferryd mid-export and a restart make
# nothing twice; messages changed in Slack since update their posts.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Ferry::Test;
use Ferry::Export;
use Ferry::Mattermost;
use Ferry::Peer;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $spool = $t->writable_dir('spool');

my $slack = Ferry::Export::slack_files($t);

my $bare = Ferry::Mattermost->new($t, name => 'mm-without-plugin', team_name => 'migrated',
    plugin => 0)->start;
my $mm = Ferry::Mattermost->new($t, team_name => 'migrated',
    rate_limit => { per_sec => 100000, max_burst => 100000 })->start;
$t->start_pg->migrate;
my %common = (SPOOL_DIR => $spool, SLACK_API_URL => $slack->url . '/api', EXPORT_WORKERS => 4, EXPORT_CHANNEL_CONCURRENCY => 3,
              JOB_STALE_SECONDS => 2);
$t->start_ferryd(%common, MM_URL => $bare->url, MM_TOKEN => $bare->admin_token);
$t->start_nginx(Ferry::Export::conf());
my $x = Ferry::Export->new($t, 'mm@example.com');
$x->ingest(seed => 12, users => 10, days => 3, messages_per_day => 4,
    file_bytes => 'in_zip', emoji_base => $slack->url, avatars_base => $slack->url,
    custom_emoji => 3);

# ------------------------------------------------- no plugin on MM_URL
my $r = $x->export(team => 'migrated', mode => 'plugin');
is($r->{status}, 202, 'POST /export in the plugin mode: 202');
my $j = $x->finished($r->{json}{id});
is($j->{status}, 'failed', 'without the plugin the job fails');
like($j->{error} // '', qr/the mm-importer plugin is not installed or not enabled on MM_URL/,
     'saying that the plugin is missing');
is($j->{mode}, 'plugin', 'the job is in the plugin mode');
is(scalar $bare->journal(method => qr/^(POST|PUT|DELETE|PATCH)$/), 0, 'nothing written to Mattermost');
is(scalar $bare->journal(path => '/plugins/mm-importer/api/v1/hello', status => 404), 1,
   'the plugin looked for once');
is($t->psql("SELECT count(*) FROM entities WHERE status <> 'pending'"), 0, 'no row touched');

# someone who posted in a channel and left it since: no longer a member
my ($left) = $x->rows("SELECT c.id, u.slack_id FROM entities c "
    . "JOIN entity_relations pi ON pi.to_entity_id = c.id AND pi.relation_type = 'posted_in' "
    . "JOIN entity_relations pb ON pb.to_entity_id = pi.from_entity_id AND pb.relation_type = 'posted_by' "
    . "JOIN entities u ON u.id = pb.from_entity_id "
    . "WHERE c.entity_type = 'channel' AND c.raw_data->>'channel_kind' = 'public' "
    . "AND c.raw_data->'members' ? u.slack_id ORDER BY c.id, u.id LIMIT 1");
$t->psql("UPDATE entities SET raw_data = jsonb_set(raw_data, '{members}', "
       . "(raw_data->'members') - '$left->[1]') WHERE id = $left->[0]");

# ---------------------------------------------------------------- the export
# MM_API_MODE=plugin makes the plugin mode the default. A 429 storm on the
# posts (Retry-After honoured), 5xx bursts on channels, files and reactions;
# Mattermost slow enough that a kill -9 lands in the message phase
$t->stop_ferryd;
my %set = (%common, MM_URL => $mm->url, MM_TOKEN => $mm->admin_token, MM_API_MODE => 'plugin');
$t->start_ferryd(%set);
my $P = '/plugins/mm-importer/api/v1';
$mm->fault(method => 'POST', path => "$P/import", status => 429, times => 6,
           retry_after => 1, body => 'limit exceeded');
$mm->fault(method => 'POST', path => "$P/channel", status => 502, times => 2);
$mm->fault(method => 'POST', path => "$P/attachment_multipart", status => 503, times => 2);
$mm->fault(method => 'POST', path => "$P/reaction", status => 502, times => 3);
$mm->latency(0.03);
my $id = $x->start_and_kill(team => 'migrated');
$mm->latency(0);
$t->start_ferryd(%set);
$j = $x->finished($id);
$x->check_done($j);
is($j->{mode}, 'plugin', 'in the plugin mode (MM_API_MODE)');
is(scalar $mm->journal(path => "$P/import", status => 429), 6, 'the 429 storm was met (and got over)');
is(scalar $mm->journal(path => "$P/channel", status => 502), 2, 'so was a 5xx burst on channels');
is(scalar $mm->journal(path => "$P/attachment_multipart", status => 503), 2, 'on files');
is(scalar $mm->journal(path => "$P/reaction", status => 502), 3, 'and on reactions');

# the plugin did the writing: no post, file or reaction by REST, no token
is(scalar $mm->journal(method => 'POST', path => qr{^/api/v4/(posts|files|reactions)$}), 0,
   'no post, file or reaction made by REST');
is(scalar $mm->journal(method => 'POST', path => qr{^/api/v4/users/\w+/tokens$}), 0, 'no user token minted');
my $forms = grep { ($_->{headers}{'content-type'} // '') =~ m{^multipart/form-data; boundary=} }
            $mm->journal(path => "$P/attachment_multipart", status => 200);
ok($forms > 0, "files sent as multipart forms ($forms)");

$x->check_once($mm);

my $st = $mm->state;
my %ch = map { $_->{id} => $_ } @{ $st->{channels} };
ok(!grep({ ($_->{props}{from_plugin} // '') ne 'true' } @{ $st->{posts} }), 'every post made by the plugin');
$x->check_posts($st, 'timed');

# files on their posts, whole
$x->check_files($st);
my %file = map { $_->{id} => $_ } @{ $st->{files} };
my %bytes = map { $_->[0] => $_->[1] } $x->rows("SELECT mattermost_id, raw_data->>'size' FROM entities "
    . "WHERE entity_type = 'attachment' AND status = 'success' AND raw_data ? 'size'");
ok(%bytes, 'files of known size');
is(scalar(grep { $file{$_} && $file{$_}{size} == $bytes{$_} } keys %bytes), scalar(keys %bytes),
   'each file whole (its Slack size)');

# reactions by their users on their posts, dated as their message
my @rx = $x->check_reactions($st);
my %rx;
push @{ $rx{"$_->{user_id}:$_->{post_id}"} }, $_->{create_at} for @{ $st->{reactions} };
is(scalar(grep { my $w = Ferry::Export::ms($_->[2]); grep { $_ == $w } @{ $rx{"$_->[0]:$_->[1]"} || [] } } @rx),
   scalar @rx, "each dated as its message (Slack keeps no reaction's time)");

$x->check_emoji($st);
$x->check_avatars($st);

# DMs and group DMs: their own channel types, holding their posts; a group
# of more than 8 a private channel
my %kind;
for my $c ($x->rows("SELECT raw_data->>'channel_kind', mattermost_id, jsonb_array_length(raw_data->'members') "
              . "FROM entities WHERE entity_type = 'channel' AND status = 'success'")) {
    push @{ $kind{ $c->[0] } }, $c;
}
my %has_posts;
$has_posts{ $_->{channel_id} }++ for @{ $st->{posts} };
ok(@{ $kind{dm} || [] } > 0, scalar(@{ $kind{dm} || [] }) . ' DMs');
is(scalar(grep { $ch{ $_->[1] }{type} eq 'D' && $has_posts{ $_->[1] } } @{ $kind{dm} }),
   scalar @{ $kind{dm} }, 'each a direct channel holding its posts');
my @gdm = grep { $_->[2] <= 8 } @{ $kind{mpim} || [] };
my @big = grep { $_->[2] > 8 } @{ $kind{mpim} || [] };
ok(@gdm > 0, scalar(@gdm) . ' group DMs');
is(scalar(grep { $ch{ $_->[1] }{type} eq 'G' && $has_posts{ $_->[1] } } @gdm), scalar @gdm,
   'each a group channel holding its posts');
is(scalar(grep { $ch{ $_->[1] }{type} eq 'P' } @big), scalar @big,
   'a group DM of more than 8 a private channel (' . @big . ')');

# the authors are members of the channels they posted in
my %member = map { ("$_->{channel_id}:$_->{user_id}" => 1) } @{ $st->{channel_members} };
my @named = map { $_->[1] } map { @{ $kind{$_} || [] } } qw(public private);
my %named = map { $_ => 1 } @named;
my @auth = grep { $named{ $_->{channel_id} } } @{ $st->{posts} };
is(scalar(grep { $member{"$_->{channel_id}:$_->{user_id}"} } @auth), scalar @auth,
   'every author a member of the channel posted in');
my ($gone) = $x->rows("SELECT c.mattermost_id, u.mattermost_id FROM entities c, entities u "
    . "WHERE c.id = $left->[0] AND u.entity_type = 'user' AND u.slack_id = '$left->[1]'");
ok($member{"$gone->[0]:$gone->[1]"}, 'one who left the channel in Slack too');

# archived channels archived, after their posts
my @arch = $x->rows("SELECT mattermost_id FROM entities WHERE entity_type = 'channel' "
    . "AND status = 'success' AND raw_data->>'is_archived' = 'true'");
ok(@arch > 0, scalar(@arch) . ' archived channels');
is(scalar(grep { $ch{ $_->[0] }{delete_at} } @arch), scalar @arch, 'archived in Mattermost');
my @journal = $mm->journal(method => 'POST');
my (%last_post, %archived_at);
for my $i (0 .. $#journal) {
    my $e = $journal[$i];
    next unless ($e->{status} // 0) == 200 && ref $e->{json} eq 'HASH';
    $last_post{ $e->{json}{channel_id} } = $i if $e->{path} eq "$P/import";
    $archived_at{ $e->{json}{channel_id} } = $i if $e->{path} eq "$P/channel/archive";
}
is(scalar(grep { defined $archived_at{ $_->[0] } } @arch), scalar @arch, 'by the plugin');
is(scalar(grep { ($last_post{ $_->[0] } // -1) < $archived_at{ $_->[0] } } @arch), scalar @arch,
   'each after its last post');

# ------------------------------------ a re-run, then a newer Slack export
# (the changed posts patched by REST, with the admin's token)
my @changed = $x->check_rerun($mm);
is(scalar(grep { $_->{user_id} ne $mm->admin_id && $_->{create_at} < $_->{edit_at} } @changed), 5,
   'still by their authors, at their Slack time');

# ------------------------- a post in flight behind 250 newer system posts
# a run that stopped between the plugin's answer and the row's update left
# the mark; since then the channel got 250 posts made now (what "joined the
# channel" messages are): the look-up pages past them and keeps the post
my ($fl) = $x->rows("SELECT m.id, m.mattermost_id, c.mattermost_id FROM entities m "
    . "JOIN entity_relations r ON r.from_entity_id = m.id AND r.relation_type = 'posted_in' "
    . "JOIN entities c ON c.id = r.to_entity_id WHERE m.entity_type = 'message' "
    . "AND m.status = 'success' AND c.raw_data->>'channel_kind' = 'public' "
    . "AND coalesce(m.raw_data->>'subtype', '') = '' ORDER BY (m.raw_data->>'ts')::numeric DESC LIMIT 1");
$mm->api(POST => '/api/v4/posts', $mm->admin_token, { channel_id => $fl->[2], message => "later $_" })
    for 1 .. 250;
$t->psql("UPDATE entities SET status = 'pending', mattermost_id = NULL, error_message = 'posting' "
       . "WHERE id = $fl->[0]");
my $before = scalar $mm->posts;
my $jf = $x->finished($x->export(team => 'migrated', types => ['message'])->{json}{id});
is($jf->{status}, 'done', 'the export after the stop: done');
is(scalar $mm->posts, $before, 'no post made again');
is($t->psql("SELECT mattermost_id || ' ' || status FROM entities WHERE id = $fl->[0]"), "$fl->[1] success",
   'the post in flight found past 250 newer ones, and kept');

# ------------------- a root found again, and its reply in the same batch
# a run stopped after posting a thread's root (marked, its outcome not
# recorded) and before its reply: the next run reads both in one batch,
# finds the root's post, and puts the reply under it
my ($th) = $x->rows("SELECT t.id, t.mattermost_id, m.id FROM entity_relations r "
    . "JOIN entities m ON m.id = r.from_entity_id JOIN entities t ON t.id = r.to_entity_id "
    . "WHERE r.relation_type = 'thread_reply' AND m.status = 'success' AND t.status = 'success' "
    . "AND coalesce(m.raw_data->>'subtype', '') = '' ORDER BY m.id LIMIT 1");
ok($th, 'a thread root and a reply of it');
$t->psql("UPDATE entities SET status = 'pending', mattermost_id = NULL, error_message = 'posting' WHERE id = $th->[0]");
$t->psql("UPDATE entities SET status = 'pending', mattermost_id = NULL, error_message = NULL WHERE id = $th->[2]");
my $jt = $x->finished($x->export(team => 'migrated', types => ['message'])->{json}{id});
is($jt->{status}, 'done', 'the export after the stop: done');
is($t->psql("SELECT mattermost_id || ' ' || status FROM entities WHERE id = $th->[0]"), "$th->[1] success",
   'the root found again');
my ($reply) = $x->rows("SELECT status, mattermost_id, coalesce(error_message, '') FROM entities WHERE id = $th->[2]");
is("$reply->[0] $reply->[2]", 'success ', 'its reply, in the same batch, exported');
is($mm->post($reply->[1])->{root_id}, $th->[1], "and posted under the root's post");

# ------------------- a marked root not looked up, and its marked reply
# a run stopped after posting a thread's root and its reply (both marked,
# neither recorded). The next run cannot look for the root (Mattermost
# answers 502 until the retries are spent): the root fails still marked,
# and so does the reply, whose root it cannot name. The run after finds
# both posts, and makes neither again.
my $rch = $t->psql("SELECT c.mattermost_id FROM entity_relations r JOIN entities c ON c.id = r.to_entity_id "
    . "WHERE r.from_entity_id = $th->[0] AND r.relation_type = 'posted_in'");
$t->psql("UPDATE entities SET status = 'pending', mattermost_id = NULL, error_message = 'posting' "
       . "WHERE id IN ($th->[0], $th->[2])");
$mm->fault(method => 'GET', path => "/api/v4/channels/$rch/posts", status => 502, times => 4);
$before = scalar $mm->posts;
my $jr = $x->finished($x->export(team => 'migrated', types => ['message'])->{json}{id});
is($jr->{status}, 'done', 'the export that cannot look: done');
like($t->psql("SELECT status || ' ' || error_message FROM entities WHERE id = $th->[0]"),
     qr/^failed posting: cannot tell/, 'the root failed, still marked');
like($t->psql("SELECT status || ' ' || error_message FROM entities WHERE id = $th->[2]"),
     qr/^failed posting: its thread's root was not exported/, 'its reply failed, still marked');
$jr = $x->finished($x->export(team => 'migrated', types => ['message'])->{json}{id});
is($jr->{status}, 'done', 'the export after: done');
is(scalar $mm->posts, $before, 'no post made again');
is($t->psql("SELECT mattermost_id || ' ' || status FROM entities WHERE id = $th->[0]"), "$th->[1] success",
   'the root found again, and kept');
# (the section before posted this reply a second time: either post is its own)
my ($ry) = $x->rows("SELECT status, mattermost_id, slack_id FROM entities WHERE id = $th->[2]");
my $rp = $mm->post($ry->[1]);
is(join(' ', $ry->[0], $rp->{props}{ferry_slack_id}, $rp->{root_id}), "success $ry->[2] $th->[1]",
   "the reply found again: a post of its own, under the root's");

# ------------------------------- a batch's mark left by a run that stopped
# a run stopped with a batch in flight: three posts made, their rows not
# told, the channel's export_posting row naming them (and one message
# exported since). The next run's batches fall elsewhere (two messages a
# batch here): the left mark becomes each message's own, each post is
# found again, none made twice, and the channel's row is gone at its end;
# so is another channel's left behind that names nothing still to export.
my @left = $x->rows("SELECT m.id, m.mattermost_id, r.to_entity_id FROM entities m "
    . "JOIN entity_relations r ON r.from_entity_id = m.id AND r.relation_type = 'posted_in' "
    . "WHERE r.to_entity_id = (SELECT to_entity_id FROM entity_relations "
    . "WHERE from_entity_id = $fl->[0] AND relation_type = 'posted_in') "
    . "AND m.status = 'success' AND coalesce(m.raw_data->>'subtype', '') = '' "
    . "ORDER BY (m.raw_data->>'ts')::numeric DESC LIMIT 4");
is(scalar @left, 4, 'four messages of a channel');
my @ids = map { $_->[0] } @left[0 .. 2];
$t->psql("UPDATE entities SET status = 'pending', mattermost_id = NULL, error_message = NULL "
       . "WHERE id IN (" . join(',', @ids) . ")");
$t->psql("INSERT INTO export_posting (channel_id, message_ids) "
       . "VALUES ($left[0][2], '{" . join(',', @ids, $left[3][0]) . "}')");
my $other = $t->psql("SELECT id FROM entities WHERE entity_type = 'channel' AND id <> $left[0][2] LIMIT 1");
$t->psql("INSERT INTO export_posting (channel_id, message_ids) VALUES ($other, '{$left[3][0]}')");
$t->stop_ferryd;
$t->start_ferryd(%set, EXPORT_MESSAGE_BATCH => 2);
$before = scalar $mm->posts;
my $jl = $x->finished($x->export(team => 'migrated', types => ['message'])->{json}{id});
is($jl->{status}, 'done', 'the export after the stop: done');
is(scalar $mm->posts, $before, 'no post made again');
is(join(' ', map { $t->psql("SELECT mattermost_id || ' ' || status FROM entities WHERE id = $_->[0]") }
            @left[0 .. 2]),
   join(' ', map { "$_->[1] success" } @left[0 .. 2]), 'each of the three found again, and kept');
is($t->psql("SELECT mattermost_id FROM entities WHERE id = $left[3][0]"), $left[3][1],
   'the one exported since left alone');
is($t->psql("SELECT count(*) FROM export_posting WHERE channel_id = $left[0][2]"), 0,
   "the channel's mark gone at its end");
is($t->psql("SELECT count(*) FROM export_posting WHERE channel_id = $other"), 0,
   "another's naming nothing still to export gone too");

$t->done;
