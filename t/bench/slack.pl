#!/usr/bin/perl
# Benchmark (issue 11): the large synthetic Slack export (1,000,000 messages,
# 100,000 users; t/tools/gen_slack_export.pl's defaults) uploaded through
# nginx and ingested until the upload is done, beside the floor of reading
# the archive, `unzip -p export.zip > /dev/null`, timed in the same run the
# same way (BENCH_RUNS runs each, 2 by default; every run printed, best and
# median). Also ferryd's peak RSS and the nginx worker's RSS growth.

use strict;
use warnings;
use Time::HiRes qw(time);
use lib 't/lib';
use Ferry::Test;
use Ferry::SlackExport;

my $runs = $ENV{BENCH_RUNS} || 2;
my $messages = $ENV{BENCH_MESSAGES} || 1_000_000;
my $users = $ENV{BENCH_USERS} || 100_000;

$ENV{TMPDIR} = '/dev/shm' if -d '/dev/shm' && -w '/dev/shm';
my $t = Ferry::Test->new;
$t->{nginx_log_level} = 'error';
my $spool = $t->writable_dir('spool');
$t->start_pg->migrate;
$t->start_ferryd(SPOOL_DIR => $spool, LOG_LEVEL => 'info', JOB_WORKERS => 1);
$t->start_nginx(Ferry::Test::imports_conf(<<'EOF'));
        access_log off;
        location = /slack/upload {
            ferry_auth jwt;
            ferry_idempotency required;
            ferry_upload field=file type=zip;
            client_max_body_size 4g;
            client_body_buffer_size 1m;
            ferry_pass ferryd;
        }
        location /slack/uploads { ferry_auth jwt; ferry_pass ferryd; }
EOF
my $token = $t->user_token('bench@example.com');

my $zip = $t->dir . '/export.zip';
my $t0 = time;
my $f = Ferry::SlackExport->new(seed => 1, users => $users, messages => $messages, days => 60,
                                public => 200, private => 40, dms => 300, mpims => 40,
                                facts => 'counts')->write($zip);
printf "export: %d messages, %d users, %.1f MB zip, generated in %.0f s\n",
    $f->{counts}{message}, $f->{counts}{user}, (-s $zip) / 1e6, time - $t0;

# the bytes ferryd parses: every member, inflated
my ($rc, $list) = $t->run_cmd(['unzip', '-l', $zip]);
my ($json_bytes) = $list =~ /^\s*(\d+)\s+\d+ files\s*$/m;
printf "inflated: %.1f MB in all members\n\n", $json_bytes / 1e6;

sub worker_rss {
    my $rss = 0;
    for my $pid ($t->nginx_workers) {
        open my $s, '<', "/proc/$pid/status" or next;
        /^VmRSS:\s+(\d+)/ and $rss += $1 for <$s>;
    }
    return $rss;
}

sub psql_time {
    my ($sql) = @_;
    my $t0 = time;
    my ($rc, $out) = $t->run_cmd(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
                                  '-d', $t->database_url, '-c', $sql]);
    die "psql: $out" if $rc;
    return time - $t0;
}

# Ferry's rows, as they were stored, for the database floor
my ($ents, $rels) = map { $t->dir . "/$_.copy" } qw(entities relations);
sub dump_rows {
    psql_time("\\copy (SELECT id, entity_type, slack_id, raw_data, job_id FROM entities) TO '$ents'");
    psql_time("\\copy (SELECT from_entity_id, to_entity_id, relation_type FROM entity_relations "
        . "ORDER BY id) TO '$rels'");
}
sub db_floor {
    psql_time('TRUNCATE entities CASCADE');
    psql_time('CHECKPOINT');
    my $s = time;
    psql_time("\\copy entities (id, entity_type, slack_id, raw_data, job_id) FROM '$ents'");
    psql_time("\\copy entity_relations (from_entity_id, to_entity_id, relation_type) FROM '$rels'");
    return time - $s;
}

my (@floor, @ferry, @db);
my $rss0 = worker_rss();
for my $run (1 .. $runs) {
    my $s = time;
    system("unzip -p '$zip' > /dev/null") == 0 or die 'unzip failed';
    push @floor, time - $s;

    psql_time('TRUNCATE entities CASCADE');
    psql_time('CHECKPOINT');
    $s = time;
    my ($rc, $out) = $t->run_cmd(['curl', '-s', '-H', "Authorization: Bearer $token",
        '-H', "Idempotency-Key: bench-$run", '-F', "file=\@$zip",
        'http://127.0.0.1:' . $t->port . '/slack/upload']);
    my $id = Ferry::Test::json()->decode($out)->{id} or die "upload: $out";
    my $j;
    $t->wait_for('the ingestion', sub {
        $j = $t->http(GET => "/slack/uploads/$id", headers => { Authorization => "Bearer $token" })->{json};
        $j->{status} =~ /^(done|failed)$/ }, 3600);
    die "ingestion $j->{status}: " . ($j->{error} // '') unless $j->{status} eq 'done';
    push @ferry, time - $s;
    dump_rows() if $run == 1;
    push @db, db_floor();
    printf "run %d: unzip -p %.2f s (%.0f MB/s); \\copy of Ferry's rows %.2f s (%.0f MB/s); "
        . "Ferry %.2f s (%.0f MB/s, %.0f messages/s)\n",
        $run, $floor[-1], $json_bytes / 1e6 / $floor[-1], $db[-1], $json_bytes / 1e6 / $db[-1],
        $ferry[-1], $json_bytes / 1e6 / $ferry[-1], $f->{counts}{message} / $ferry[-1];
    unlink glob("$spool/slack_ingest-*.zip");
}
my $rss1 = worker_rss();

sub best { (sort { $a <=> $b } @_)[0] }
sub median { my @s = sort { $a <=> $b } @_; @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2 }

my $hwm = (`grep VmHWM /proc/$t->{procs}{ferryd}/status` =~ /(\d+)/)[0] // 0;
# ferryd's CPU over every run: what overlapping its parsing with
# PostgreSQL's work could save at most
my @st = split ' ', (`cat /proc/$t->{procs}{ferryd}/stat` =~ /\)\s(.*)/)[0];
my $cpu = ($st[11] + $st[12]) / 100;
print "\n";
printf "%-52s %10s %8s %10s %8s\n", '', 'best MB/s', 'ratio', 'median', 'ratio';
printf "%-52s %10.0f %8s %10.0f %8s\n", 'unzip -p export.zip > /dev/null (the floor)',
    $json_bytes / 1e6 / best(@floor), '1.00x', $json_bytes / 1e6 / median(@floor), '1.00x';
printf "%-52s %10.0f %7.2fx %10.0f %7.2fx\n", 'PostgreSQL: \\copy of the same rows (entities, relations)',
    $json_bytes / 1e6 / best(@db), best(@floor) / best(@db),
    $json_bytes / 1e6 / median(@db), median(@floor) / median(@db);
printf "%-52s %10.0f %7.2fx %10.0f %7.2fx  (target >= 0.30x)\n", 'Ferry: upload to done (entities + relations)',
    $json_bytes / 1e6 / best(@ferry), best(@floor) / best(@ferry),
    $json_bytes / 1e6 / median(@ferry), median(@floor) / median(@ferry);
printf "Ferry against PostgreSQL's own \\copy of its rows: %.2fx best, %.2fx median\n",
    best(@db) / best(@ferry), median(@db) / median(@ferry);
printf "Ferry: %.0f messages/s best, %.0f median\n", $f->{counts}{message} / best(@ferry),
    $f->{counts}{message} / median(@ferry);
printf "ferryd CPU: %.1f s a run\n", $cpu / $runs;
printf "ferryd peak RSS: %.1f MB (target < 128 MB); nginx worker RSS growth: %.1f MB (target < 4 MB)\n",
    $hwm / 1024, ($rss1 - $rss0) / 1024;

$t->done;
