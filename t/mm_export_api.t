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
use Ferry::Export;
use Ferry::Mattermost;
use Ferry::Peer;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $spool = $t->writable_dir('spool');

my $slack = Ferry::Export::slack_files($t);

my $mm = Ferry::Mattermost->new($t, team_name => 'migrated',
    rate_limit => { per_sec => 100000, max_burst => 100000 })->start;
$t->start_pg->migrate;
# the synthetic export's files, avatars and emoji are "Slack's" through
# SLACK_API_URL's host, the one address besides Slack's own ferryd fetches
my %set = (SPOOL_DIR => $spool, MM_URL => $mm->url, MM_TOKEN => $mm->admin_token,
           SLACK_API_URL => $slack->url . '/api',
           EXPORT_WORKERS => 4, EXPORT_CHANNEL_CONCURRENCY => 3, JOB_STALE_SECONDS => 2);
$t->start_ferryd(%set);
$t->start_nginx(Ferry::Export::conf());
my $x = Ferry::Export->new($t, 'mm@example.com');
my %auth = %{ $x->auth };
$x->ingest(seed => 12, users => 10, days => 3, messages_per_day => 4,
    file_bytes => 'in_zip', emoji_base => $slack->url, avatars_base => $slack->url,
    custom_emoji => 3);

is($x->export(team => 'migrated', mode => 'nope')->{status}, 422, 'an unknown mode: 422');
is($x->export(team => 'migrated', dry_run => 'yes')->{status}, 422, 'dry_run not a boolean: 422');

# ---------------------------------------------------------------- a dry run
# one user whose e-mail Mattermost would refuse: the dry run reports them,
# and their messages, files and reactions as failing with them, and writes
# nothing
my ($bad) = $x->rows("SELECT u.slack_id FROM entities u JOIN entity_relations r ON r.from_entity_id = u.id "
    . "AND r.relation_type = 'posted_by' WHERE u.entity_type = 'user' AND u.raw_data->'profile' ? 'email' "
    . "GROUP BY u.slack_id ORDER BY count(*) DESC LIMIT 1");
$bad = $bad->[0];
my $email = $t->psql("SELECT raw_data->'profile'->>'email' FROM entities WHERE slack_id = '$bad'");
$t->psql("UPDATE entities SET raw_data = jsonb_set(raw_data, '{profile,email}', '\"bad\@\@example.com\"') "
       . "WHERE entity_type = 'user' AND slack_id = '$bad'");
my $dry = $x->finished($x->export(team => 'migrated', dry_run => \1)->{json}{id});
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
my @theirs = map { $_->[0] } $x->rows("SELECT m.slack_id FROM entities m JOIN entity_relations r ON r.to_entity_id = m.id "
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

# a file whose address is not Slack's (a crafted export naming a host inside
# the network): not fetched, skipped with the reason; its message still goes
my $crafted = $t->psql("INSERT INTO entities (entity_type, slack_id, raw_data) VALUES ('attachment', "
    . "'FCRAFTED', jsonb_build_object('id', 'FCRAFTED', 'name', 'x.txt', 'url_private_download', '"
    . $mm->url . "/internal-secret')) RETURNING id");
$t->psql("INSERT INTO entity_relations (from_entity_id, to_entity_id, relation_type) "
       . "SELECT $crafted, id, 'attached_to' FROM entities WHERE entity_type = 'message' "
       . "AND coalesce(raw_data->>'subtype', '') = '' ORDER BY id LIMIT 1");

# ---------------------------------------------------------------- the export
# a 429 storm on posts (Retry-After honoured) and a 5xx burst on reactions;
# Mattermost slow enough that a kill -9 lands in the message phase
$mm->fault(method => 'POST', path => '/api/v4/posts', status => 429, times => 6,
           retry_after => 1, body => 'limit exceeded');
$mm->fault(method => 'POST', path => '/api/v4/reactions', status => 502, times => 3);
$mm->latency(0.03);
# a batch's outcomes are recorded together: killed while posts are made
# that their rows do not know of yet, each named in its channel's
# export_posting row
my $recorded_sql = "SELECT count(*) FROM entities WHERE entity_type = 'message' "
    . "AND status = 'success' AND coalesce(raw_data->>'subtype', '') <> 'message_changed'";
my %made;
my $made = sub {
    %made = ();
    $made{ $_->{props}{ferry_slack_id} // '' }++ for $mm->posts;
    delete $made{''};
    return scalar keys %made;
};
my $id = $x->start_and_kill(team => 'migrated',
    until_kill => sub { $made->() > $t->psql($recorded_sql) });
$made->();
my $recorded = $t->psql($recorded_sql);
SKIP: {
    # a channel may end between the look and the kill
    skip 'the kill came as the batches in flight were recorded', 1
        if scalar(keys %made) == $recorded;
    cmp_ok(scalar(keys %made), '>', $recorded, "the kill left posts made but not recorded (posts: "
        . scalar(keys %made) . ", recorded: $recorded)");
}
is($t->psql("SELECT count(*) FROM entities m WHERE m.entity_type = 'message' "
    . "AND m.status <> 'success' AND m.slack_id = ANY('{" . join(',', map { qq("$_") } keys %made) . "}') "
    . "AND coalesce(m.error_message, '') NOT LIKE 'posting%' "
    . "AND NOT EXISTS (SELECT 1 FROM export_posting p WHERE m.id = ANY(p.message_ids))"), 0,
   'each of them marked: in its channel\'s export_posting row (or its own row)');
ok($t->psql('SELECT count(*) FROM export_tokens') > 0, 'the killed run left its user tokens listed');
$mm->latency(0);
$t->start_ferryd(%set);
my $j = $x->finished($id);
$x->check_done($j);
is($j->{mode}, 'api', 'in the api mode (the default)');
is(scalar $mm->journal(path => '/api/v4/posts', status => 429), 6, 'the 429 storm was met (and got over)');
is(scalar $mm->journal(path => '/api/v4/reactions', status => 502), 3, 'so was the 5xx burst');

$x->check_once($mm);

my $st = $mm->state;
my %post = map { $_->{id} => $_ } @{ $st->{posts} };
my %user = map { $_->{id} => $_ } @{ $st->{users} };

my @msg = $x->check_posts($st);
my ($m0) = grep { $_->[3] eq '' } @msg;
cmp_ok($post{ $m0->[0] }{create_at}, '>', (time - 3600) * 1000,
       'the api mode cannot keep the time: a post is dated when it was made');

# mentions: <@U...> becomes @username
my ($mention) = $x->rows("SELECT m.mattermost_id, u.raw_data->>'name' FROM entities m "
    . "JOIN entities u ON u.entity_type = 'user' AND m.raw_data->>'text' LIKE '%<\@' || u.slack_id || '>%' "
    . "WHERE m.entity_type = 'message' AND m.status = 'success' LIMIT 1");
SKIP: {
    skip 'no message mentions a user', 2 unless $mention;
    my $text = $post{ $mention->[0] }{message};
    like($text, qr/\@\Q@{[lc $mention->[1]]}\E/, "a mention becomes \@$mention->[1]");
    unlike($text, qr/<\@U/, 'no Slack mention markup left');
}

# files: on their posts, uploaded by the post's author
my @att = $x->check_files($st);
is($t->psql("SELECT status FROM entities WHERE id = $crafted"), 'skipped',
   'the file with an address that is not Slack\'s: skipped');
like($t->psql("SELECT error_message FROM entities WHERE id = $crafted"), qr/not an address of Slack/,
     '... saying why');
is(scalar $mm->journal(path => '/internal-secret'), 0, 'and never fetched');
my %file = map { $_->{id} => $_ } @{ $st->{files} };
my $by_author = grep { my $f = $file{ $_->[0] }; $f && $post{ $f->{post_id} }
    && $f->{user_id} eq $post{ $f->{post_id} }{user_id} } @att;
is($by_author, scalar @att, "each uploaded by its post's author")
    or diag explain [ map { my $f = $file{ $_->[0] }; { file => $f, post => $post{ $f->{post_id} // '' } } }
                      grep { my $f = $file{ $_->[0] }; !($f && $post{ $f->{post_id} }
                             && $f->{user_id} eq $post{ $f->{post_id} }{user_id}) } @att ];

$x->check_reactions($st);

# custom emoji made by the admin
my @emoji = $x->check_emoji($st);
$x->check_avatars($st);
is(scalar(grep { $_ && $_->{creator_id} eq $mm->admin_id } @emoji), scalar @emoji, 'made by the admin');

# DMs hold their posts
my @dm = $x->rows("SELECT c.mattermost_id FROM entities c WHERE c.entity_type = 'channel' "
    . "AND c.raw_data->>'channel_kind' = 'dm' AND c.status = 'success'");
ok(scalar(grep { my $c = $_->[0]; grep { $_->{channel_id} eq $c } @{ $st->{posts} } } @dm),
   'DMs hold their posts');

# archived channels archived (after their posts), deleted users deactivated
my @arch = $x->rows("SELECT mattermost_id FROM entities WHERE entity_type = 'channel' "
    . "AND status = 'success' AND raw_data->>'is_archived' = 'true'");
my %ch = map { $_->{id} => $_ } @{ $st->{channels} };
is(scalar(grep { $ch{ $_->[0] }{delete_at} } @arch), scalar @arch, 'archived channels archived (' . @arch . ')');
my @gone = $x->rows("SELECT mattermost_id FROM entities WHERE entity_type = 'user' "
    . "AND status = 'success' AND raw_data->>'deleted' = 'true'");
is(scalar(grep { $user{ $_->[0] }{delete_at} } @gone), scalar @gone, 'deleted users deactivated (' . @gone . ')');

# the tokens minted for the users are revoked
my $minted = $mm->journal(method => 'POST', path => qr{^/api/v4/users/\w+/tokens$}, status => 200);
ok($minted > 0, "$minted user tokens were minted");
is(scalar $mm->journal(method => 'POST', path => '/api/v4/users/tokens/revoke', status => 200), $minted,
   'and as many revoked at the end');
is(scalar(grep { $_->{user_id} ne $mm->admin_id } @{ $st->{tokens} }), 0, 'none left in Mattermost');
is($t->psql('SELECT count(*) FROM export_tokens'), 0, "none left listed, the killed run's too");

# ------------------------------------ a re-run, then a newer Slack export
# the re-run with an Idempotency-Key: the same request twice is one export
$x->check_rerun($mm, sub {
    my %key = (%auth, 'Idempotency-Key' => 'rerun-1');
    my $r1 = $t->http(POST => '/export', json => { team => 'migrated' }, headers => \%key);
    is($r1->{status}, 202, 'POST /export with an Idempotency-Key: 202');
    my $r2 = $t->http(POST => '/export', json => { team => 'migrated' }, headers => \%key);
    is($r2->{json}{id}, $r1->{json}{id}, 'the same request again: the same export');
    is($r2->{headers}{'idempotent-replayed'}, 'true', '... replayed');
    is($t->http(POST => '/export', json => { team => 'other' }, headers => \%key)->{status}, 422,
       'another request with that key: 422');
    return $r1->{json}{id};
});

# ------------------------------------------------ the caller's exports
my $list = $t->http(GET => '/export?limit=2', headers => \%auth);
is($list->{status}, 200, 'GET /export: 200');
is(scalar @{ $list->{json}{items} }, 2, 'a page of two');
my $n = $t->psql("SELECT count(*) FROM jobs WHERE kind = 'export'");
my @all = @{ $list->{json}{items} };
while (my $c = $list->{json}{next_cursor}) {
    $list = $t->http(GET => "/export?limit=2&cursor=$c", headers => \%auth);
    push @all, @{ $list->{json}{items} };
}
is(scalar @all, $n, "every export of the caller, page by page ($n)");
is_deeply([ map { $_->{id} } @all ],
          [ split /\n/, $t->psql("SELECT id FROM jobs WHERE kind = 'export' ORDER BY created_at DESC, id DESC") ],
          'newest first');
ok((grep { $_->{dry_run} } @all) == 1, 'the dry run shows as one');
is_deeply([ sort { $a cmp $b } keys %{ $all[0] } ],
          [ sort qw(id status phase mode dry_run team error created_at finished_at) ], 'with its status, mode and team');
is($t->http(GET => '/export')->{status}, 401, 'no token: 401');

# -------------------- an export given up after its attempts: its tokens go
# (an export that crashed ferryd five times in a row; the tokens its runs
# minted and listed are revoked when the job is given up)
my ($someone) = grep { $_->{username} ne 'admin' && $_->{id} ne $mm->admin_id } $mm->users;
# (the job and its token's row in one transaction: a runner may claim the
# job, give it up and look for its tokens the moment it is there)
my $gone_job = $t->psql('SELECT gen_random_uuid()');
my $tok = $mm->api(POST => "/api/v4/users/$someone->{id}/tokens", $mm->admin_token,
                   { description => "ferry export $gone_job" })->{json};
$t->psql("BEGIN; INSERT INTO jobs (id, kind, status, params, attempts) VALUES ('$gone_job', 'export', "
         . "'pending', '{\"team\":\"migrated\"}', 5); INSERT INTO export_tokens (job_id, token_id, user_id) "
         . "VALUES ('$gone_job', '$tok->{id}', '$someone->{id}'); COMMIT");
$t->wait_for('the job given up', sub {
    $t->psql("SELECT status FROM jobs WHERE id = '$gone_job'") eq 'failed' }, 60);
$t->wait_for('its token revoked', sub {
    $t->psql("SELECT count(*) FROM export_tokens WHERE job_id = '$gone_job'") == 0 }, 30);
ok(!grep({ $_->{id} eq $tok->{id} } $mm->tokens), "the given-up export's token is revoked in Mattermost");

$t->done;
