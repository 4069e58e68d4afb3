#!/usr/bin/perl
# A job whose runner is provably gone resumes at once, not after
# JOB_STALE_SECONDS (left at its 60 s default here): after kill -9 of ferryd
# and a restart (nobody holds the dead runner's advisory lock), and after a
# PostgreSQL restart under a living ferryd (the job names the runner that
# looks for work). The heartbeat timeout stays for owners that may live.

use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $spool = $t->writable_dir('spool');
$t->start_pg->migrate;
# slow batches, so that each import is still running when it is cut off
my %set = (SPOOL_DIR => $spool, JOB_WORKERS => 1, BATCH_SIZE => 100, IMPORT_SLOW_MS => 100);
$t->start_ferryd(%set);
$t->start_nginx(Ferry::Test::imports_conf());
my $token = $t->user_token('resume@example.com');
my $n = 0;

sub import_rows {
    my ($rows) = @_;
    $n++;
    my $csv = "email,first_name,last_name,phone,city\n"
            . join('', map { "r$n-$_\@example.com,F,L,P,C\n" } 1 .. $rows);
    my $r = $t->http(POST => '/imports?mode=insert_only',
        body => "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.csv\"\r\n\r\n$csv\r\n--B--\r\n",
        headers => { Authorization => "Bearer $token", 'Content-Type' => 'multipart/form-data; boundary=B',
                     'Idempotency-Key' => "resume-$n" });
    diag("upload: $r->{status} $r->{content}") unless $r->{status} == 201;
    return $r->{json}{id};
}

sub processed { $t->psql("SELECT coalesce(progress->>'processed_rows', '0') FROM jobs WHERE id = '$_[0]'") }
sub status { $t->psql("SELECT status FROM jobs WHERE id = '$_[0]'") }

# kill -9: the runner's session ends with it, and so does its lock
my $id = import_rows(3000);
$t->wait_for('some batches', sub { processed($id) >= 300 });
$t->stop_ferryd('KILL');
is(status($id), 'processing', 'killed: the job is left processing');
my $t0 = time;
$t->start_ferryd(%set);
$t->wait_for('the job claimed again', sub {
    $t->psql("SELECT attempts FROM jobs WHERE id = '$id'") == 2 }, 20);
my $waited = time - $t0;
cmp_ok($waited, '<', 20, sprintf 'claimed again %.1f s after the restart, not JOB_STALE_SECONDS (60) later', $waited);
$t->wait_for('the job done', sub { status($id) eq 'done' }, 60);
is($t->psql("SELECT count(*) FROM customers WHERE email LIKE 'r1-%'"), 3000, 'every row, once');

# a PostgreSQL restart under a running job: the same ferryd takes it back
$id = import_rows(3000);
$t->wait_for('some batches', sub { processed($id) >= 300 });
$t->stop_pg;
$t0 = time;
$t->start_pg;
$t->wait_for('the job done after the restart', sub { status($id) eq 'done' }, 50);
$waited = time - $t0;
cmp_ok($waited, '<', 50, sprintf 'done %.1f s after PostgreSQL came back, without waiting out the heartbeat', $waited);
is($t->psql("SELECT count(*) FROM customers WHERE email LIKE 'r2-%'"), 3000, 'every row, once');
like($t->read_file('ferryd.log'), qr/job \Q$id\E \(import\) claimed, attempt 2/, 'its own runner claimed it again');

# a live runner keeps its job, however long a batch takes: with
# JOB_STALE_SECONDS 1 and batches of 1.5 s its heartbeat looks stale, but
# its advisory lock says it lives, so the second ferryd leaves the job alone
$t->stop_ferryd;
%set = (%set, JOB_STALE_SECONDS => 1, IMPORT_SLOW_MS => 1500, BATCH_SIZE => 500);
$t->start_ferryd(%set);
my %b = (%set, FERRY_SOCKET => $t->ferryd_socket . '.b');
(my $conf = $t->read_file('ferryd.conf')) =~ s/^(FERRY_SOCKET|LOG_FILE)=(.*)$/$1=$2.b/mg;
my $bconf = $t->write_file('ferryd-b.conf', $conf);
$id = import_rows(1500);
ok($id, 'the first request after the PostgreSQL restart is served (no stale pooled connection)');
$t->wait_for('the job running', sub { processed($id) >= 100 });
$t->spawn('ferryd_b', $t->ferryd_cmd('-c', $bconf), env => { %set });
$t->wait_for('second ferryd', sub { -S $t->ferryd_socket . '.b' });
$t->wait_for('the job done', sub { status($id) eq 'done' }, 60);
is($t->psql("SELECT attempts FROM jobs WHERE id = '$id'"), 1, 'a job whose runner lives is not taken over');
$t->stop_proc('ferryd_b', 'TERM');

$t->done;
