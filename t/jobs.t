#!/usr/bin/perl
# Two ferryd on one database share the import jobs: FOR UPDATE SKIP LOCKED
# gives each job to exactly one runner, both processes take some, and every
# row is loaded once. Which ferryd takes which job is not left to timing: the
# test holds a lock on customers, so the first job's runner waits at its
# first COPY and the other ferryd must claim the next job.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $spool = $t->writable_dir('spool');
$t->start_pg->migrate;
my %set = (SPOOL_DIR => $spool, JOB_WORKERS => 1, BATCH_SIZE => 10);
$t->start_ferryd(%set);

# a second ferryd: the same database, its own socket and log
(my $conf = $t->read_file('ferryd.conf')) =~ s/^(FERRY_SOCKET|LOG_FILE)=(.*)$/$1=$2.b/mg;
my $bconf = $t->write_file('ferryd-b.conf', $conf);
$t->spawn('ferryd_b', $t->ferryd_cmd('-c', $bconf));
$t->wait_for('second ferryd', sub { -S $t->ferryd_socket . '.b' });

$t->start_nginx(Ferry::Test::imports_conf());
my $token = $t->user_token('jobs@example.com');

# a session idle in a transaction that holds SHARE on customers: every
# COPY into it waits until the test lets go
open(my $lock, '|-', 'psql', '-X', '-q', '-h', $t->{pg_host}, '-p', $t->{pg_port},
     '-U', 'postgres', '-d', 'ferry') or die "psql: $!";
$lock->autoflush(1);
print $lock "BEGIN; LOCK TABLE customers IN SHARE MODE;\n";
$t->wait_for('the lock', sub { $t->psql("SELECT count(*) FROM pg_locks WHERE "
    . "relation = 'customers'::regclass AND mode = 'ShareLock' AND granted") == 1 });

my @ids;
for my $n (1 .. 6) {
    my $csv = "email,first_name,last_name,phone,city\n"
            . join('', map { "j$n-$_\@example.com,F,L,P,C\n" } 1 .. 60);
    my $r = $t->http(POST => '/imports?mode=insert_only',
        body => "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"j.csv\"\r\n\r\n$csv\r\n--B--\r\n",
        headers => { Authorization => "Bearer $token", 'Content-Type' => 'multipart/form-data; boundary=B',
                     'Idempotency-Key' => "jobs-$n" });
    push @ids, $r->{json}{id};
}

# one runner per ferryd, each stuck at its job's first COPY
$t->wait_for('a job at each ferryd', sub {
    $t->psql("SELECT count(DISTINCT split_part(worker, ':', 2)) FROM jobs "
           . "WHERE status = 'processing'") == 2 }, 30);
is($t->psql("SELECT count(*) FROM jobs WHERE status = 'processing'"), 2,
   'two jobs claimed, one by each ferryd');
print $lock "COMMIT;\n";
close $lock;

$t->wait_for('all jobs', sub {
    $t->psql("SELECT count(*) FROM jobs WHERE kind = 'import' AND status = 'done'") == 6 }, 60);
is($t->psql("SELECT count(*) FROM jobs WHERE status = 'done'"), 6, 'every job done');
is($t->psql("SELECT count(*) FROM customers"), 360, 'every row loaded once');
is($t->psql("SELECT sum(attempts) FROM jobs"), 6, 'no job claimed twice');
my $pids = $t->psql("SELECT count(DISTINCT split_part(worker, ':', 2)) FROM jobs");
is($pids, 2, 'both ferryd took jobs');

is($t->stop_proc('ferryd_b', 'TERM') >> 8, 0, 'the second ferryd stops cleanly');
$t->done;
