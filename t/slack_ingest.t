#!/usr/bin/perl
# Slack ingestion end to end (issue 11): a synthetic workspace export
# (t/lib/Ferry/SlackExport.pm) uploaded through nginx becomes entities and
# relations with the counts the generator knows; the same export again
# changes nothing; bad zips are refused or listed without stopping the rest;
# a ferryd killed in the middle resumes to exactly the same rows.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Ferry::Test;
use Ferry::SlackExport;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $J = Ferry::Test::json();
my $spool = $t->writable_dir('spool');
$t->start_pg->migrate;
my %set = (SPOOL_DIR => $spool, BATCH_SIZE => 200, JOB_WORKERS => 1,
           SLACK_ZIP_MAX_RATIO => 100, LOG_LEVEL => 'debug');
$t->start_ferryd(%set);
$t->start_nginx(Ferry::Test::imports_conf(<<'EOF'));
        location = /slack/upload {
            ferry_auth jwt;
            ferry_idempotency required;
            ferry_upload field=file type=zip;
            client_max_body_size 1g;
            ferry_pass ferryd;
        }
        location /slack/uploads { ferry_auth jwt; ferry_pass ferryd; }
EOF
my $token = $t->user_token('slack@example.com');
my %auth = (Authorization => "Bearer $token");
my $key = 0;

sub upload {
    my ($zip) = @_;
    my ($rc, $out) = $t->run_cmd(['curl', '-s', '-H', "Authorization: Bearer $token",
        '-H', 'Idempotency-Key: up' . ++$key, '-F', "file=\@$zip",
        'http://127.0.0.1:' . $t->port . '/slack/upload']);
    return eval { $J->decode($out) } || { raw => $out };
}

sub finished {
    my ($id) = @_;
    my $j;
    $t->wait_for("upload $id", sub {
        $j = $t->http(GET => "/slack/uploads/$id", headers => \%auth)->{json};
        $j->{status} =~ /^(done|failed)$/ }, 120);
    return $j;
}

sub q1 { $t->psql($_[0]) }
sub rel { q1("SELECT count(*) FROM entity_relations WHERE relation_type = '$_[0]'") }

# ---------------------------------------------------------------- a whole export
my $zip = $t->dir . '/export.zip';
my $f = Ferry::SlackExport->new(seed => 7, users => 30, days => 12, messages_per_day => 6,
                                file_bytes => 'in_zip')->write($zip);

my $r = upload($zip);
ok($r->{id}, 'upload: a job id') or diag explain $r;
is($r->{status}, 'pending', 'pending before any parsing');
is_deeply($r->{counts}, { map { $_ => 0 } qw(user channel message reaction attachment custom_emoji) },
          'no counts yet');
my $id = $r->{id};
my $j = finished($id);
is($j->{status}, 'done', 'the upload is done') or diag explain $j;
for my $type (qw(user channel message reaction attachment custom_emoji)) {
    is($j->{counts}{$type}, $f->{counts}{$type}, "counts.$type = $f->{counts}{$type}");
    my $rows = q1("SELECT count(*) FROM entities WHERE entity_type = '$type'"
                . ($type eq 'user' ? " AND NOT coalesce((raw_data->>'is_bot')::bool, false) OR "
                                   . "(entity_type = 'user' AND raw_data ? 'profile')" : ''));
    is($rows, $f->{counts}{$type}, "$f->{counts}{$type} $type rows") unless $type eq 'user';
}
is(q1("SELECT count(*) FROM entities WHERE entity_type = 'user' AND slack_id = ANY ('{"
      . join(',', @{ $f->{placeholder_bot_ids} }, ($f->{uslackbot_messages} ? 'USLACKBOT' : ())) . "}')"),
   $f->{placeholder_users}, 'a placeholder user per bot id and for Slackbot');
is(q1("SELECT count(*) FROM entities WHERE entity_type = 'user' AND raw_data->>'username' = raw_data->>'name'"),
   q1("SELECT count(*) FROM entities WHERE entity_type = 'user'"), 'every user has its username');
# the one folder of a channel the export does not list is all that is listed
is_deeply([map { $_->{file} } @{ $j->{errors} }],
          [grep { m{/} } @{ $f->{skipped_members} }], 'the folder of no channel is listed, nothing else')
    or diag explain $j->{errors};
like($j->{errors}[0]{error} // '', qr/no channel named/, 'saying why');

# the message key is <channel>:<ts>: the ts that two channels share is two messages
my $c = $f->{collision};
is(q1("SELECT count(*) FROM entities WHERE entity_type = 'message' AND slack_id IN "
      . "('$c->{channels}[0]:$c->{ts}', '$c->{channels}[1]:$c->{ts}')"), 2,
   'a ts shared by two channels is two messages');

# relations: those of each batch derived while the next ones were read
like($t->read_file('ferryd.log'),
     qr/slack upload \Q$id\E: relations of ids \(\d+, \d+\] derived while reading/,
     'relations follow the batches as they commit');
is(rel('posted_in'), $f->{counts}{message}, 'posted_in for every message');
is(rel('thread_reply'), $f->{threads}{replies},
   'thread_reply for every reply whose root is in the export (not the orphans)');
ok(@{ $f->{reply_before_root} }, 'the export has replies before their roots');
my $rb = $f->{reply_before_root}[0];
is(q1("SELECT count(*) FROM entity_relations r JOIN entities a ON a.id = r.from_entity_id "
      . "JOIN entities b ON b.id = r.to_entity_id WHERE r.relation_type = 'thread_reply' "
      . "AND a.slack_id = '$rb->{channel}:$rb->{ts}' AND b.slack_id = '$rb->{channel}:$rb->{root_ts}'"),
   1, 'a reply read before its root still has its thread_reply');
is(rel('reacted_to'), $f->{counts}{reaction}, 'reacted_to for every reaction');
is(rel('reacted_by'), $f->{counts}{reaction}, 'reacted_by for every reaction');
is(rel('attached_to'), $f->{file_refs}, 'attached_to for every share of a file');
ok(rel('member_of') > 0, 'member_of');
ok(rel('custom_emoji_used') > 0, 'custom_emoji_used');
is(q1("SELECT count(*) FROM entities WHERE entity_type = 'attachment' AND raw_data ? 'zip_member'"),
   scalar @{ $f->{uploads} }, 'files whose bytes are in the zip name their member');
is(q1("SELECT count(*) FROM entities WHERE entity_type = 'channel' AND (raw_data->>'is_private')::bool "
      . "AND raw_data->>'channel_kind' = 'private'"), $f->{channels}{private},
   'private channels known by the file they came from');
ok(-e "$spool/slack_ingest-$id.zip", 'the zip is kept for the export');

# the username index is used
like(q1("EXPLAIN SELECT id FROM entities WHERE entity_type = 'user' AND raw_data->>'username' = 'x'"),
     qr/entities_user_username/, 'username lookups use the index');

# relations keep the foreign keys' rules, checked a statement at a time
# (migration 012): no relation to an entity that does not exist, and an
# entity deleted takes its relations with it
like(scalar $t->psql("INSERT INTO entity_relations (from_entity_id, to_entity_id, relation_type) "
        . "SELECT max(id), max(id) + 1000, 'posted_in' FROM entities", may_fail => 1),
     qr/names an entity that does not exist/, 'a relation to a missing entity is refused');
like(scalar $t->psql("UPDATE entity_relations SET to_entity_id = -1 WHERE id = (SELECT min(id) FROM "
        . "entity_relations)", may_fail => 1),
     qr/names an entity that does not exist/, 'and so is one changed to point nowhere');
{
    my $m = q1("SELECT r.to_entity_id FROM entity_relations r WHERE r.relation_type = 'reacted_to' LIMIT 1");
    my $n = q1("SELECT count(*) FROM entity_relations WHERE from_entity_id = $m OR to_entity_id = $m");
    ok($n >= 2, "a reacted-to message has relations both ways ($n)");
    is(q1("BEGIN; DELETE FROM entities WHERE id = $m; "
          . "SELECT count(*) FROM entity_relations WHERE from_entity_id = $m OR to_entity_id = $m"),
       0, 'deleting an entity deletes its relations, from and to it (rolled back)');
}

# ---------------------------------------------------------------- the same export again
$t->psql("UPDATE entities SET status = 'success' WHERE entity_type = 'message'");
my $before = q1('SELECT count(*) FROM entities');
my $rels = q1('SELECT count(*) FROM entity_relations');
$j = finished(upload($zip)->{id});
is($j->{status}, 'done', 'the same export again: done');
is(q1('SELECT count(*) FROM entities'), $before, 'no duplicate rows');
is(q1('SELECT count(*) FROM entity_relations'), $rels, 'no duplicate relations');
is(q1("SELECT count(*) FROM entities WHERE entity_type = 'message' AND status = 'pending'"), 0,
   'unchanged messages stay exported');

# a newer export with one message edited: that one goes back to pending
my $zip2 = $t->dir . '/export2.zip';
Ferry::SlackExport->new(seed => 7, users => 30, days => 12, messages_per_day => 6,
                        file_bytes => 'in_zip')->write($zip2);
my $msg = q1("SELECT slack_id FROM entities WHERE entity_type = 'message' ORDER BY slack_id LIMIT 1");
$t->psql("UPDATE entities SET raw_data = raw_data || '{\"text\":\"an older text\"}' WHERE slack_id = '$msg'");
$j = finished(upload($zip2)->{id});
is(q1("SELECT status FROM entities WHERE slack_id = '$msg'"), 'pending', 'a changed message goes back to pending');
is(q1("SELECT count(*) FROM entities WHERE entity_type = 'message' AND status = 'pending'"), 1, 'and only it');

# ---------------------------------------------------------------- bad exports
my $bad = $t->dir . '/bad';
mkdir $bad;

$f = Ferry::SlackExport::write_zip_slip("$bad/slip.zip");
$j = finished(upload("$bad/slip.zip")->{id});
is($j->{status}, 'done', 'zip slip: the rest ingests');
my @slip = grep { $_->{error} =~ /not a safe relative member name/ } @{ $j->{errors} };
is_deeply([sort map { $_->{file} } @slip], [sort @{ $f->{evil} }], 'every unsafe member refused and listed')
    or diag explain $j->{errors};

$f = Ferry::SlackExport::write_zip_bomb("$bad/bomb.zip", bytes => 120 * 1024 * 1024);
$j = finished(upload("$bad/bomb.zip")->{id});
ok(grep({ $_->{error} =~ /zip bomb/ } @{ $j->{errors} }), 'a zip bomb member is stopped')
    or diag explain $j;
$f = Ferry::SlackExport::write_zip_bomb("$bad/liar.zip", bytes => 120 * 1024 * 1024, lie => 1);
$j = finished(upload("$bad/liar.zip")->{id});
ok(grep({ $_->{error} =~ /zip bomb|corrupt/ } @{ $j->{errors} }),
   'a member whose header lies about its size is stopped on the bytes inflated') or diag explain $j;

Ferry::SlackExport::write_truncated("$bad/cut.zip");
$j = finished(upload("$bad/cut.zip")->{id});
is($j->{status}, 'failed', 'a truncated zip: failed');
like($j->{error}, qr/zip/, 'saying why');

$f = Ferry::SlackExport::write_invalid_json("$bad/json.zip");
$j = finished(upload("$bad/json.zip")->{id});
is($j->{status}, 'done', 'a day file of invalid JSON: the rest ingests');
ok(grep({ $_->{file} =~ m{/\d{4}-\d\d-\d\d\.json$} } @{ $j->{errors} }), 'that file is listed')
    or diag explain $j->{errors};

$f = Ferry::SlackExport::write_invalid_utf8("$bad/utf8.zip");
$j = finished(upload("$bad/utf8.zip")->{id});
is($j->{status}, 'done', 'a message that is not UTF-8: the rest ingests');
ok(grep({ $_->{error} =~ /not UTF-8/ } @{ $j->{errors} }), 'the message is listed') or diag explain $j->{errors};

# not a zip: refused by nginx from its first bytes (415), before the rest
open my $fh, '>', "$bad/not.zip" or die;
print $fh "this is no zip\n" x 10;
close $fh;
my $jobs = q1('SELECT count(*) FROM jobs');
$r = upload("$bad/not.zip");
like($r->{error} // '', qr/not a zip/, 'not a zip: refused by the module') or diag explain $r;
is($r->{field}, 'file', 'naming file');
my ($crc, $code) = $t->run_cmd(['sh', '-c', "head -c 30000000 /dev/zero | curl -s -o /dev/null "
    . "-w '%{http_code}' -H 'Authorization: Bearer $token' -H 'Idempotency-Key: zero' "
    . "--data-binary \@- http://127.0.0.1:" . $t->port . '/slack/upload']);
is($code, '415', 'a 30 MB body of zeros: 415');
is(q1('SELECT count(*) FROM jobs'), $jobs, 'no job');
is(scalar(() = glob("$spool/upload-*")), 0, 'nothing left in the spool');

# zip's first bytes and then nothing of a zip: ferryd fails the upload
open $fh, '>', "$bad/fake.zip" or die;
print $fh "PK\x03\x04" . ("junk" x 100);
close $fh;
$j = finished(upload("$bad/fake.zip")->{id});
is($j->{status}, 'failed', 'a zip header and junk: failed');
like($j->{error} // '', qr/not a readable zip/, 'saying why');

# an archive larger, inflated, than SLACK_ZIP_MAX_BYTES fails with the reason
$t->stop_ferryd;
$t->start_ferryd(%set, SLACK_ZIP_MAX_BYTES => 65536);
$j = finished(upload($zip)->{id});
is($j->{status}, 'failed', 'over SLACK_ZIP_MAX_BYTES: failed');
like($j->{error} // '', qr/SLACK_ZIP_MAX_BYTES/, 'saying which limit');
$t->stop_ferryd;
$t->start_ferryd(%set);

# ---------------------------------------------------------------- emoji.list
# An export without emoji.json: with SLACK_TOKEN, custom emoji come from Slack's
# Web API method emoji.list. The peer plays it as Slack documents it
# (api.slack.com/methods/emoji.list: GET with a bearer token, the
# "emoji:read" scope; {"ok":true,"emoji":{name: URL or "alias:<name>"}};
# {"ok":false,"error":"not_authed"} without a token, "invalid_auth" with a
# bad one, both with HTTP 200 as Slack's Web API answers errors).
{
    require Ferry::Peer;
    my $slack = Ferry::Peer->new($t, name => 'slack');
    $slack->route(GET => '/api/emoji.list' => sub {
        my ($req) = @_;
        my $auth = $req->header('Authorization') // '';
        return (200, { ok => JSON::PP::false, error => 'not_authed' }) unless $auth =~ /^Bearer (.+)$/;
        return (200, { ok => JSON::PP::false, error => 'invalid_auth' }) unless $1 eq 'xoxb-good';
        return (200, { ok => JSON::PP::true, emoji => { shipit => 'https://emoji.example/shipit.png',
                                                        squirrel => 'alias:shipit' } });
    });
    $slack->start;
    my $noemoji = $t->dir . '/noemoji.zip';
    Ferry::SlackExport->new(seed => 3, users => 5, days => 2, messages_per_day => 3,
                            custom_emoji => 0)->write($noemoji);
    for my $case (['xoxb-good', 'done', 2], ['xoxb-bad', 'done', 0]) {
        my ($token, $status, $n) = @$case;
        $t->stop_ferryd;
        $t->psql("DELETE FROM entities WHERE entity_type = 'custom_emoji'");
        $t->start_ferryd(%set, SLACK_TOKEN => $token, SLACK_API_URL => $slack->url . '/api');
        $j = finished(upload($noemoji)->{id});
        is($j->{status}, $status, "emoji.list with $token: the upload is $status");
        is($j->{counts}{custom_emoji}, $n, "$n custom emoji from emoji.list");
        is(q1("SELECT count(*) FROM entities WHERE entity_type = 'custom_emoji'"), $n, "$n rows");
    }
    ok(grep({ $_->{error} =~ /emoji\.list: invalid_auth/ } @{ $j->{errors} }), 'a refused token is listed')
        or diag explain $j->{errors};
    is(scalar $slack->journal(path => '/api/emoji.list'), 2, 'emoji.list asked once per upload');
    $t->stop_ferryd;
    $t->start_ferryd(%set);
}

# ---------------------------------------------------------------- crash and resume
my $big = $t->dir . '/big.zip';
$f = Ferry::SlackExport->new(seed => 9, users => 200, messages => 20000, custom_emoji => 3)->write($big);
$t->psql('TRUNCATE entities CASCADE');
$r = upload($big);
$id = $r->{id};
$t->wait_for('some batches', sub {
    (q1("SELECT coalesce(progress->>'element', '0')::int + coalesce(progress->>'member', '0')::int "
        . "FROM jobs WHERE id = '$id'") // 0) > 5 }, 60);
$t->stop_ferryd('KILL');
$t->start_ferryd(%set);
$j = finished($id);
is($j->{status}, 'done', 'killed in the middle: resumed and done');
like($t->read_file('ferryd.log'), qr/slack upload \Q$id\E: resuming at member/, 'it says where it resumed');
for my $type (qw(user channel message reaction attachment custom_emoji)) {
    is($j->{counts}{$type}, $f->{counts}{$type}, "after the resume counts.$type = $f->{counts}{$type}");
}
is(q1("SELECT count(*) FROM entities WHERE entity_type = 'message'"), $f->{counts}{message},
   'every message once');

$t->done;
