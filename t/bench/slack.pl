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

my (@floor, @ferry);
my $rss0 = worker_rss();
for my $run (1 .. $runs) {
    my $s = time;
    system("unzip -p '$zip' > /dev/null") == 0 or die 'unzip failed';
    push @floor, time - $s;

    $t->psql('TRUNCATE entities CASCADE');
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
    printf "run %d: unzip -p %.2f s (%.0f MB/s); Ferry %.2f s (%.0f MB/s, %.0f messages/s)\n",
        $run, $floor[-1], $json_bytes / 1e6 / $floor[-1], $ferry[-1], $json_bytes / 1e6 / $ferry[-1],
        $f->{counts}{message} / $ferry[-1];
    unlink glob("$spool/slack_ingest-*.zip");
}
my $rss1 = worker_rss();

sub best { (sort { $a <=> $b } @_)[0] }
sub median { my @s = sort { $a <=> $b } @_; @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2 }

my $hwm = (`grep VmHWM /proc/$t->{procs}{ferryd}/status` =~ /(\d+)/)[0] // 0;
print "\n";
printf "%-52s %10s %8s %10s %8s\n", '', 'best MB/s', 'ratio', 'median', 'ratio';
printf "%-52s %10.0f %8s %10.0f %8s\n", 'unzip -p export.zip > /dev/null (the floor)',
    $json_bytes / 1e6 / best(@floor), '1.00x', $json_bytes / 1e6 / median(@floor), '1.00x';
printf "%-52s %10.0f %7.2fx %10.0f %7.2fx  (target >= 0.30x)\n", 'Ferry: upload to done (entities + relations)',
    $json_bytes / 1e6 / best(@ferry), best(@floor) / best(@ferry),
    $json_bytes / 1e6 / median(@ferry), median(@floor) / median(@ferry);
printf "Ferry: %.0f messages/s best, %.0f median\n", $f->{counts}{message} / best(@ferry),
    $f->{counts}{message} / median(@ferry);
printf "ferryd peak RSS: %.1f MB (target < 128 MB); nginx worker RSS growth: %.1f MB (target < 4 MB)\n",
    $hwm / 1024, ($rss1 - $rss0) / 1024;

$t->done;
