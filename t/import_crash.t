#!/usr/bin/perl
# B7, the hard way: kill -9 ferryd in the middle of a 1,000,000-row import,
# start it again, and the job resumes from its last committed batch and ends
# with exactly the right rows (none missing, none twice) and a complete
# errors.csv; ferryd's memory stays flat all along.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $rows = $ENV{CRASH_ROWS} || 1_000_000;

my $t = Ferry::Test->new;
my $spool = $t->writable_dir('spool');
my $reports = $t->writable_dir('reports');
$t->start_pg->migrate;
my %set = (SPOOL_DIR => $spool, REPORTS_DIR => $reports, JOB_STALE_SECONDS => 1, LOG_LEVEL => 'info');
$t->start_ferryd(%set);
$t->start_nginx(Ferry::Test::imports_conf('        client_max_body_size 1g; client_body_buffer_size 1m;'));
my $token = $t->user_token('crash@example.com');

my $file = $t->dir . '/big.csv';
open my $fh, '>', $file or die;
print $fh "email,first_name,last_name,phone,city\n";
for my $i (1 .. $rows) {
    print $fh $i % 100 == 0 ? "bad-row-$i,x,y,z,w\n" : "u$i\@example.com,First $i,Last,+1555$i,City\n";
}
close $fh;
my $bad = int($rows / 100);

my ($rc, $out) = $t->run_cmd(['curl', '-s', '-H', "Authorization: Bearer $token",
    '-H', 'Idempotency-Key: crash', '-F', "file=\@$file",
    'http://127.0.0.1:' . $t->port . '/imports?mode=insert_only']);
my $id = Ferry::Test::json()->decode($out)->{id};
ok($id, 'the import is accepted');
unlink $file;

my $done = sub { $t->psql("SELECT coalesce(progress->>'processed_rows', '0') FROM jobs WHERE id = '$id'") };
$t->wait_for('a third of the rows', sub { $done->() >= $rows / 3 }, 120);
$t->stop_ferryd('KILL');
my $at_kill = $done->();
ok($at_kill >= $rows / 3 && $at_kill < $rows, "killed with $at_kill of $rows rows committed");
is($t->psql("SELECT status FROM jobs WHERE id = '$id'"), 'processing', 'the job is left processing');

$t->start_ferryd(%set);
$t->wait_for('the import to end', sub {
    $t->psql("SELECT status FROM jobs WHERE id = '$id'") ne 'processing' }, 180);

is($t->psql("SELECT status FROM jobs WHERE id = '$id'"), 'done', 'resumed and done');
is($t->psql("SELECT progress->>'processed_rows' FROM jobs WHERE id = '$id'"), $rows, 'every row processed');
is($t->psql("SELECT count(*) FROM customers"), $rows - $bad, 'exactly the good rows: none missing, none twice');
is($t->psql("SELECT progress->>'inserted' FROM jobs WHERE id = '$id'"), $rows - $bad, 'inserted counts them once');
is($t->psql("SELECT count(*) FROM import_errors WHERE job_id = '$id'"), $bad, 'every bad row recorded once');
my $report = $t->read_file("$reports/$id-errors.csv");
is(scalar(() = $report =~ /\n/g), $bad + 1, 'errors.csv complete (header + one line per bad row)');
like($t->read_file('ferryd.log'), qr/resuming at line \d+/, 'the log says where it resumed');
SKIP: {
    # AddressSanitizer's shadow memory and quarantine are not ferryd's
    skip 'memory is not measured under AddressSanitizer', 1 if $Ferry::Test::ASAN;
    my $hwm = (`grep VmHWM /proc/$t->{procs}{ferryd}/status` =~ /(\d+)/)[0];
    cmp_ok($hwm / 1024, '<', 64, sprintf 'ferryd peak RSS %.1f MB < 64 MB', $hwm / 1024);
}

$t->done;
