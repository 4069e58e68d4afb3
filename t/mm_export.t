#!/usr/bin/perl
# The Mattermost export's users and channels (issue 12): the users of an ingested
# Slack export into the emulator (t/lib/Ferry/Mattermost.pm), with their
# team membership; an existing user (same email) is kept with its id; a
# re-run creates nothing; an unknown team fails the export with nothing
# written; a second export while one runs is 409; a 5xx burst is retried.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Ferry::Test;
use Ferry::Export;
use Ferry::Mattermost;
use Encode ();
use Time::HiRes qw(time);
use Ferry::Peer;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $spool = $t->writable_dir('spool');
my $mm = Ferry::Mattermost->new($t, team_name => 'migrated',
    users => [{ username => 'already', email => 'already@example.org' }])->start;
$t->start_pg->migrate;
my %set = (SPOOL_DIR => $spool, MM_URL => $mm->url, MM_TOKEN => $mm->admin_token);
$t->start_ferryd(%set);
$t->start_nginx(Ferry::Export::conf());
my $x = Ferry::Export->new($t, 'mm@example.com');
my %auth = %{ $x->auth };

# an ingested export: 12 users (one whose e-mail Mattermost knows already)
$x->ingest(seed => 5, users => 12, days => 2, messages_per_day => 2);
my $users = $t->psql("SELECT count(*) FROM entities WHERE entity_type = 'user'");
my $first = $t->psql("SELECT slack_id FROM entities WHERE entity_type = 'user' "
                   . "AND raw_data->'profile' ? 'email' ORDER BY slack_id LIMIT 1");
$t->psql("UPDATE entities SET raw_data = jsonb_set(raw_data, '{profile,email}', "
       . "'\"already\@example.org\"') WHERE entity_type = 'user' AND slack_id = '$first'");

sub export { $x->export(@_) }
sub finished { $x->finished($_[0], 60) }

# an unknown team: the export fails, nothing is written
my $r = export(team => 'no-such-team');
is($r->{status}, 202, 'POST /export: 202');
is($r->{json}{status}, 'pending', 'pending');
my $j = finished($r->{json}{id});
is($j->{status}, 'failed', 'an unknown team: failed');
like($j->{error}, qr/no-such-team.*no such team/, 'saying why');
is(scalar $mm->users, 2, 'nothing written to Mattermost (the admin and the existing user)');

is(export(team => 'x/../../users/me')->{status}, 422, 'a team name Mattermost could not have: 422');
is(export(team => 'Migrated')->{status}, 422, '... upper case too (Mattermost names are lower case)');

$r = export(team => 'migrated', types => ['user', 'bogus']);
is($r->{status}, 422, 'an unknown type: 422');
like($r->{content}, qr/user, custom_emoji, channel, attachment, message and reaction/,
     '... and the answer names the types it exports');

# a 5xx burst on user creation is retried
$mm->fault(method => 'POST', path => '/api/v4/users', status => 503, times => 2);
$r = export(team => 'migrated', types => ['user']);
my $id = $r->{json}{id};
is(export(team => 'migrated')->{status}, 409, 'a second export while one runs: 409');
$j = finished($id);
is($j->{status}, 'done', 'the export is done') or diag explain $j;
is($j->{counts}{user}{success}, $users, "every user exported ($users)") or diag explain $j->{counts};
is($j->{counts}{user}{failed}, 0, 'none failed')
    or diag $t->psql("SELECT slack_id || ' ' || coalesce(raw_data->>'name', '') || ': ' || error_message "
                   . "FROM entities WHERE status = 'failed'");

my @mm_users = grep { $_->{username} ne 'already' && $_->{id} ne $mm->admin_id } $mm->users;
is(scalar @mm_users, $users - 1, 'Mattermost has a user per Slack user but the existing one');
my $kept = $t->psql("SELECT mattermost_id FROM entities WHERE slack_id = '$first'");
is($kept, ($mm->users(username => 'already'))[0]{id}, 'the existing user is kept with its id');
is(scalar $mm->team_members(team_id => $mm->team_id), $users + 1, 'every user in the team (and the admin)');
my $name = $t->psql("SELECT raw_data->>'name' FROM entities WHERE entity_type = 'user' "
                  . "AND slack_id <> '$first' AND raw_data->>'name' ~ '^[a-z]' ORDER BY slack_id LIMIT 1");
ok(scalar $mm->users(username => lc $name), "usernames as in Slack ($name)");
my ($u) = $mm->users(username => lc $name);
is($u->{auth_data}, $t->psql("SELECT slack_id FROM entities WHERE raw_data->>'name' = '$name' "
                           . "AND entity_type = 'user'"), 'auth_data is the Slack id: no collisions');

# channels: public and private with their members, DMs, group DMs
$j = finished(export(team => 'migrated', types => ['channel'])->{json}{id});
is($j->{status}, 'done', 'the channel phase: done');
my $chan = $t->psql("SELECT count(*) FROM entities WHERE entity_type = 'channel'");
is($j->{counts}{channel}{success} + $j->{counts}{channel}{skipped}, $chan, 'every channel exported or skipped')
    or diag $t->psql("SELECT slack_id || ': ' || error_message FROM entities WHERE entity_type = 'channel' "
                   . "AND status = 'failed'");
my %type = map { $_->{id} => $_->{type} } $mm->channels;
# (a group DM of more than 8, which Mattermost cannot hold, becomes private)
my %kinds = map { split /\|/ } split /\n/, $t->psql("SELECT mattermost_id || '|' || CASE WHEN "
    . "raw_data->>'channel_kind' = 'mpim' AND jsonb_array_length(raw_data->'members') > 8 THEN 'private' "
    . "ELSE raw_data->>'channel_kind' END FROM entities WHERE entity_type = 'channel' AND status = 'success'");
my %want = (public => 'O', private => 'P', dm => 'D', mpim => 'G');
is_deeply({ map { $_ => $type{$_} // '?' } keys %kinds }, { map { $_ => $want{ $kinds{$_} } } keys %kinds },
          'public → O, private → P, DM → D, group DM → G (private past 8 people)')
    or diag $t->psql("SELECT slack_id || ' ' || (raw_data->>'channel_kind') || ' ' || coalesce(mattermost_id, '') || ' ' "
                   . "|| coalesce(jsonb_array_length(raw_data->'members'), -1) FROM entities WHERE entity_type = 'channel'");
my ($general) = grep { $_->{type} eq 'O' } $mm->channels;
ok($general && $general->{name} =~ /^[a-z0-9][a-z0-9_-]*[a-z0-9]$/, "names follow Mattermost's rules ($general->{name})");
my $nl = $t->psql("SELECT mattermost_id || '|' || (raw_data->>'name') FROM entities WHERE entity_type = 'channel' "
                . "AND raw_data->>'name' ~ '[^[:ascii:]]' AND status = 'success' LIMIT 1");
if ($nl) {
    my ($mid, $slack_name) = split /\|/, $nl, 2;
    my ($c) = $mm->channels(id => $mid);
    like($c->{name}, qr/^slack-c/, 'a channel whose Slack name is not Latin is named after its Slack id');
    is($c->{display_name}, substr(Encode::decode_utf8($slack_name), 0, 64), 'and shows its Slack name');
}
my $pub = $t->psql("SELECT mattermost_id || '|' || jsonb_array_length(raw_data->'members') FROM entities "
                 . "WHERE entity_type = 'channel' AND raw_data->>'channel_kind' = 'public' AND status = 'success' LIMIT 1");
my ($pid, $nmembers) = split /\|/, $pub;
is(scalar(grep { $_->{user_id} ne $mm->admin_id } $mm->channel_members(channel_id => $pid)), $nmembers,
   "a public channel's $nmembers members (and its creator, the admin)");

# a re-run creates nothing
my $before = scalar $mm->users;
my $channels = scalar $mm->channels;
my $posts = scalar $mm->journal(method => 'POST');
$j = finished(export(team => 'migrated', types => ['user', 'channel'])->{json}{id});
is($j->{status}, 'done', 'a re-run: done');
is(scalar $mm->users, $before, 'no new user');
is(scalar $mm->channels, $channels, 'no new channel');
is(scalar $mm->journal(method => 'POST'), $posts, 'not even an attempt');

# failures: three users whose Slack email Mattermost refuses, listed with its
# message, page by page; a channel-only export lists none of them
$t->psql("INSERT INTO entities (entity_type, slack_id, raw_data) SELECT 'user', 'UBAD' || g, "
       . "jsonb_build_object('id', 'UBAD' || g, 'name', 'bad' || g, "
       . "'profile', jsonb_build_object('email', 'bad' || g || '\@\@example.com')) "
       . "FROM generate_series(1, 3) g");
$t->psql("INSERT INTO entities (entity_type, slack_id, raw_data) VALUES ('user', 'UGOOD', "
       . "'{\"id\":\"UGOOD\",\"name\":\"good\",\"profile\":{\"email\":\" Good.Person\@Example.com \"}}')");

# a dry run: the report names the three, Mattermost gets no write, the rows
# stay pending
my $posts_before = scalar $mm->journal(method => 'POST');
my $dry = finished(export(team => 'migrated', types => ['user'], dry_run => \1)->{json}{id});
is($dry->{status}, 'done', 'a dry run: done');
$r = $t->http(GET => "/export/$dry->{id}/failures", headers => \%auth);
is_deeply([ map { $_->{slack_id} } @{ $r->{json}{items} } ], [ 'UBAD1', 'UBAD2', 'UBAD3' ],
          'the dry run reports the three users Mattermost would refuse (not the good one)')
    or diag explain $r->{json};
like($r->{json}{items}[0]{error_message}, qr/email/i, '... and why');
is(scalar $mm->journal(method => 'POST'), $posts_before, 'a dry run writes nothing to Mattermost');
is($t->psql("SELECT string_agg(DISTINCT status, ',') FROM entities WHERE slack_id IN ('UBAD1', 'UGOOD')"),
   'pending', 'and leaves the rows pending');

my $jid = export(team => 'migrated', types => ['user'])->{json}{id};
$j = finished($jid);
is($j->{counts}{user}{failed}, 3, 'three users refused');
is(($mm->users(username => 'good'))[0]{email}, 'good.person@example.com',
   "the good one created, its e-mail trimmed and lower-cased as Mattermost does");
$r = $t->http(GET => "/export/$jid/failures?limit=2", headers => \%auth);
is($r->{status}, 200, 'failures: 200');
is(scalar @{ $r->{json}{items} }, 2, 'a page of two');
is_deeply([ map { $_->{slack_id} } @{ $r->{json}{items} } ], [ 'UBAD1', 'UBAD2' ], 'oldest first');
is($r->{json}{items}[0]{type}, 'user', 'with their type');
like($r->{json}{items}[0]{error_message}, qr/email/i, "and Mattermost's reason")
    or diag explain $r->{json};
ok($r->{json}{next_cursor}, 'and a cursor');
$r = $t->http(GET => "/export/$jid/failures?limit=2&cursor=$r->{json}{next_cursor}", headers => \%auth);
is_deeply([ map { $_->{slack_id} } @{ $r->{json}{items} } ], [ 'UBAD3' ], 'the last one on the next page');
is($r->{json}{next_cursor}, undef, 'and no further cursor');
$j = finished(export(team => 'migrated', types => ['channel'])->{json}{id});
$r = $t->http(GET => "/export/$j->{id}/failures", headers => \%auth);
is_deeply($r->{json}{items}, [], "a channel export lists no user's failure");
is($t->http(GET => '/export/00000000-0000-0000-0000-000000000000/failures', headers => \%auth)->{status},
   404, 'an unknown export: 404');
is($t->http(GET => "/export/$jid/failures?cursor=x1", headers => \%auth)->{status}, 422, 'a bad cursor: 422');
is($t->http(GET => "/export/$jid/failures?limit=0", headers => \%auth)->{status}, 422, 'a bad limit: 422');
is($t->http(GET => "/export/$jid/failures")->{status}, 401, 'no token: 401');

# more workers than the pool has connections: the ones left without a
# connection leave their share to the others, and the export still ends
$t->stop_ferryd;
$t->start_ferryd(%set, DB_POOL_SIZE => 1, DB_MAX_OVERFLOW => 0, DB_POOL_TIMEOUT => 1, EXPORT_WORKERS => 4);
$t->psql("UPDATE entities SET status = 'pending' WHERE entity_type = 'user' AND status = 'success'");
$mm->latency(0.2);
$j = finished(export(team => 'migrated', types => ['user'])->{json}{id});
$mm->latency(0);
is($j->{status}, 'done', 'with one pooled connection and four workers: done') or diag explain $j;
is($j->{counts}{user}{pending}, 0, 'every user done');
like($t->read_file('ferryd.log'), qr/WARN .*a worker got no database connection/,
     'the workers left without one are logged');

# While an export runs its answers' counts are at most 5 s old (counting
# every row is a scan of the table), and say when they were counted
# ("counts_at"); the answers after its end count anew. One worker and a
# slow Mattermost: the export runs for some seconds, polled four times a
# second.
$t->stop_ferryd;
$t->start_ferryd(%set, EXPORT_WORKERS => 1);
$t->psql("UPDATE entities SET status = 'pending' WHERE entity_type = 'user' AND status = 'success'");
$mm->latency(0.3);
$id = export(team => 'migrated', types => ['user'])->{json}{id};
my @seen;
while (1) {
    my $got = $t->http(GET => "/export/$id", headers => \%auth)->{json};
    push @seen, [ time, $got ];
    last if ($got->{status} // '') =~ /^(done|failed)$/ || @seen > 400;
    select undef, undef, undef, 0.25;
}
$mm->latency(0);
$j = $seen[-1][1];
is($j->{status}, 'done', 'the slow export is done') or diag explain $j;
my @running = grep { $_->[1]{status} eq 'running' } @seen;
my %by_at;
push @{ $by_at{ $_->[1]{counts_at} // '' } }, $_ for @running;
cmp_ok(scalar @running, '>', 2 * keys %by_at, 'while it ran, answers shared their counting ('
       . @running . ' answers, ' . keys(%by_at) . ' countings)');
cmp_ok(scalar keys %by_at, '>=', 2, '... counted again as it went on');
my $codec = Ferry::Peer::json_codec();
is(scalar(grep { my @a = map { $codec->encode($_->[1]{counts}) } @$_; grep { $_ ne $a[0] } @a }
              values %by_at), 0, 'answers of one counting have the same counts');
my @old = grep { !defined iso_epoch($_->[1]{counts_at}) || $_->[0] - iso_epoch($_->[1]{counts_at}) > 5.5 }
          @running;
is(scalar @old, 0, 'no running answer\'s counts older than 5 s') or diag explain \@old;
my @success = map { $_->[1]{counts}{user}{success} } sort { $a->[0] <=> $b->[0] } map { $_->[0] } values %by_at;
cmp_ok($success[-1], '>', $success[0], "later countings show the progress (@success users exported)");
cmp_ok(iso_epoch($j->{counts_at}) // 0, '>=',
       $t->psql("SELECT extract(epoch FROM finished_at) FROM jobs WHERE id = '$id'") - 0.01,
       'the answer after the end counted anew');
is($j->{counts}{user}{success}, $t->psql("SELECT count(*) FROM entities WHERE entity_type = 'user' "
   . "AND status = 'success'"), '... every user exported in it');
is($j->{counts}{user}{pending}, 0, '... none pending');

# A count that fails inside POST /export's transaction: 500, and no job
# (the transaction it aborted is rolled back, not answered 202)
my $jobs = $t->psql("SELECT count(*) FROM jobs WHERE kind = 'export'");
$t->psql('ALTER TABLE entities RENAME TO entities_away');
$r = export(team => 'migrated', types => ['user']);
$t->psql('ALTER TABLE entities_away RENAME TO entities');
is($r->{status}, 500, 'a count that fails: 500') or diag $r->{content};
is($r->{json}{error}, 'internal error', '... with an error body');
is($t->psql("SELECT count(*) FROM jobs WHERE kind = 'export'"), $jobs, '... and no job made');
like($t->read_file('ferryd.log'), qr/ERROR .*counting: .*entities/, '... logged as an error');

# "2026-12-02T03:50:01.123Z" as seconds since the epoch
sub iso_epoch {
    my ($at) = @_;
    my ($y, $mo, $d, $h, $mi, $s) = ($at // '') =~ /\A(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d(?:\.\d+)?)Z\z/
        or return undef;
    require Time::Local;
    return Time::Local::timegm(0, $mi, $h, $d, $mo - 1, $y) + $s;
}

$t->done;
