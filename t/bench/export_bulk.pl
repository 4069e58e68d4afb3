#!/usr/bin/perl
# Benchmark (issue 12, bulk mode): a synthetic Slack export of 100,000
# messages (BENCH_MESSAGES) ingested once, then exported in bulk mode
# without MM_URL (the archive only: import.jsonl and the files of the Slack
# upload) BENCH_RUNS times (2 by default), from the job's creation to its
# end (its own timestamps), in MB/s of import.jsonl, beside
# two floors timed the same way in the same run: psql's COPY of the same
# messages' raw_data to a file (reading the rows), and `zip` of the
# import.jsonl the export wrote (compressing those bytes). Every run is
# printed, then best and median; and ferryd's peak RSS.

use strict;
use warnings;
use Time::HiRes qw(time);
use lib 't/lib';
use Ferry::Test;
use Ferry::Export;

my $runs = $ENV{BENCH_RUNS} || 2;
my $messages = $ENV{BENCH_MESSAGES} || 100_000;
my $users = $ENV{BENCH_USERS} || 2_000;

$ENV{TMPDIR} = '/dev/shm' if -d '/dev/shm' && -w '/dev/shm';
my $t = Ferry::Test->new;
$t->{nginx_log_level} = 'error';
my $spool = $t->writable_dir('spool');
my $reports = $t->writable_dir('reports');
$t->start_pg->migrate;
$t->start_ferryd(SPOOL_DIR => $spool, REPORTS_DIR => $reports, LOG_LEVEL => 'info', JOB_WORKERS => 1);
$t->start_nginx(Ferry::Export::conf("        access_log off;\n        client_max_body_size 4g;\n"));
my $x = Ferry::Export->new($t, 'bench@example.com');

# files in the upload (no download from Slack: no network here), no custom
# emoji (their images are only URLs)
my $t0 = time;
my $f = $x->ingest(seed => 1, users => $users, messages => $messages, days => 30,
                   public => 40, private => 10, dms => 60, mpims => 10,
                   file_bytes => 'in_zip', custom_emoji => 0, facts => 'counts', wait => 3600);
printf "export: %d messages, %d users, %.1f MB zip, generated and ingested in %.0f s\n\n",
    $f->{counts}{message}, $f->{counts}{user}, (-s $t->dir . '/e.zip') / 1e6, time - $t0;

my $copy = $t->dir . '/copy.out';
my $jsonl = $t->dir . '/import.jsonl';
my (@copy, @zip, @ferry, $mb, $bulk);
for my $run (1 .. $runs) {
    my $s = time;
    my ($rc, $o) = $t->run_cmd(['psql', '-qX', $t->database_url, '-c',
        "\\copy (SELECT raw_data FROM entities WHERE entity_type = 'message') TO '$copy'"]);
    die "psql: $o" if $rc;
    push @copy, time - $s;

    # timed by the job's own timestamps (created to finished): polled once
    # a second, as each answer counts every entity by type and status, a
    # scan of the table that polling more often would take from the run
    my $r = $x->export(team => 'bench', mode => 'bulk');
    my $id = $r->{json}{id} or die "POST /export: $r->{content}";
    my $j = $x->finished($id, 3600, 1);
    die "export $j->{status}: " . ($j->{error} // '') unless $j->{status} eq 'done';
    push @ferry, $t->psql("SELECT extract(epoch FROM finished_at - created_at) FROM jobs WHERE id = '$id'");
    $bulk = $j->{bulk};
    $mb = $bulk->{jsonl_bytes} / 1e6;

    # the floor of the zip half: the same JSONL, compressed by zip(1)
    system("unzip -p '$reports/$id-bulk.zip' import.jsonl > '$jsonl'") == 0 or die 'unzip';
    unlink "$jsonl.zip";
    $s = time;
    system("zip -qj '$jsonl.zip' '$jsonl'") == 0 or die 'zip';
    push @zip, time - $s;
    unlink "$reports/$id-bulk.zip";

    printf "run %d: psql COPY %.2f s (%.0f MB/s); zip %.2f s (%.0f MB/s); Ferry %.2f s (%.1f MB/s, "
         . "%.0f messages/s)\n", $run, $copy[-1], (-s $copy) / 1e6 / $copy[-1], $zip[-1], $mb / $zip[-1],
        $ferry[-1], $mb / $ferry[-1], $messages / $ferry[-1];
}

sub best { (sort { $a <=> $b } @_)[0] }
sub median { my @s = sort { $a <=> $b } @_; @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2 }

my $hwm = (`grep VmHWM /proc/$t->{procs}{ferryd}/status` =~ /(\d+)/)[0] // 0;
my $cmb = (-s $copy) / 1e6;
printf "\nimport.jsonl: %.1f MB (%d posts, %d replies, %d reactions, %d files, %d rows left out); COPY output: %.1f MB\n",
    $mb, @$bulk{qw(posts replies reactions attachments left_out)}, $cmb;
printf "%-50s %10s %10s\n", '', 'best', 'median';
printf "%-50s %7.1f MB/s %7.1f MB/s\n", 'psql COPY raw_data of the messages (reading)', $cmb / best(@copy),
    $cmb / median(@copy);
printf "%-50s %7.1f MB/s %7.1f MB/s\n", 'zip of the same import.jsonl (compressing)', $mb / best(@zip),
    $mb / median(@zip);
printf "%-50s %7.1f MB/s %7.1f MB/s  (%.2fx / %.2fx the zip floor)\n", 'Ferry: the export job, created to done (archive)',
    $mb / best(@ferry), $mb / median(@ferry), best(@zip) / best(@ferry), median(@zip) / median(@ferry);
printf "ferryd peak RSS: %.1f MB (target < 128 MB)\n", $hwm / 1024;

$t->done;
