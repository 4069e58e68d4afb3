#!/usr/bin/perl
# SPEC B7, issue 14: an import's batches loaded by two loaders at once
# (IMPORT_LOADERS, each on a connection of its own) come to exactly what
# one loader makes of the same file: the rows, the counts, every bad row
# with its line and reason; batches commit in the file's order, and a batch
# that repeats an email of the batch still loading before it waits for that
# one to commit (else a later value could lose, or the two wait on each
# other's rows).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Ferry::Test;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
my $spool = $t->writable_dir('spool');
my $reports = $t->writable_dir('reports');
# fixed batches of 20 rows, each held back 30 ms as it loads: the reader
# is always ahead, so both loaders have batches to load, and the batch
# before one is still loading when it starts
my %set = (SPOOL_DIR => $spool, REPORTS_DIR => $reports, BATCH_SIZE => 20, IMPORT_BATCH_MS => 0,
           IMPORT_SLOW_MS => 30, JOB_WORKERS => 1, LOG_LEVEL => 'debug');
$t->start_pg->migrate;
$t->start_ferryd(%set);
$t->start_nginx(Ferry::Test::imports_conf());

my $token = $t->user_token('ann@example.com');
my %auth = (Authorization => "Bearer $token");
my $key = 0;

sub import_file {
    my ($csv, $mode) = @_;
    my $r = $t->http(POST => "/imports?mode=$mode",
        body => "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\"\r\n\r\n$csv\r\n--B--\r\n",
        headers => { %auth, 'Content-Type' => 'multipart/form-data; boundary=B',
                     'Idempotency-Key' => 'k' . ++$key });
    die "upload: $r->{status}" unless $r->{status} == 201;
    my $id = $r->{json}{id};
    my $j;
    $t->wait_for("import $id", sub {
        $j = $t->http(GET => "/imports/$id", headers => { %auth })->{json};
        $j->{status} =~ /^(done|failed|cancelled)$/ }, 60);
    return ($id, $j);
}

# What an import left: the table, the job's counts, its bad rows.
sub outcome {
    my ($id, $j) = @_;
    return {
        rows => $t->psql("SELECT string_agg(concat_ws(':', email, first_name, last_name, phone, city), ' ' "
                       . "ORDER BY email) FROM customers"),
        counts => join(' ', map { "$_=" . ($j->{$_} // '') } qw(status processed_rows inserted updated error_rows)),
        errors => $t->psql("SELECT string_agg(line || ':' || email || ':' || error, ' ' ORDER BY line) "
                         . "FROM import_errors WHERE job_id = '$id'"),
    };
}

# 400 rows in 20 batches. Every batch's first row repeats the email of the
# row before it (the last of the batch before) with other values, and
# every 7th row is bad.
my $csv = "email,first_name,last_name,phone,city\n";
my (%last, $n);
for my $i (1 .. 400) {
    my $e = ($i % 20 == 1 && $i > 1) ? 'u' . ($i - 1) : "u$i";
    if ($i % 7 == 0) {
        $csv .= "bad-$i,x,y,z,w\n";
        next;
    }
    $csv .= "$e\@example.com,F$i,L$i,+$i,C$i\n";
}

my %runs;
for my $loaders (1, 2) {
    for my $mode (qw(insert_only upsert)) {
        $t->psql('TRUNCATE customers');
        # upsert into a table that holds a third of the emails already
        $t->psql("INSERT INTO customers (email, first_name) SELECT 'u' || g || '\@example.com', 'old' "
               . "FROM generate_series(1, 400, 3) g") if $mode eq 'upsert';
        $t->stop_ferryd;
        $t->start_ferryd(%set, IMPORT_LOADERS => $loaders);
        my $log0 = length $t->read_file('ferryd.log');
        my ($id, $j) = import_file($csv, $mode);
        is($j->{status}, 'done', "$mode, $loaders loader(s): done");
        $runs{$mode}{$loaders} = outcome($id, $j);
        my @batches = substr($t->read_file('ferryd.log'), $log0)
            =~ /job \Q$id\E: \d+ rows .*?, batch (\d+) of \d+ rows loaded by loader (\d+)/g;
        my %pairs = @batches;
        my @order = grep { $_ % 2 == 0 } 0 .. $#batches;
        is_deeply([map { $batches[$_] } @order], [1 .. 20], "$mode, $loaders loader(s): 20 batches, committed in order");
        my %by = map { $_ => 1 } values %pairs;
        is_deeply([sort keys %by], [1 .. $loaders], "$mode, $loaders loader(s): loaded by every loader");
        if ($loaders == 2) {
            like(substr($t->read_file('ferryd.log'), $log0),
                 qr/job \Q$id\E: batch \d+ waits for batch \d+ to commit: they share an email/,
                 "$mode: a batch repeating an email of the one loading before it waited for it");
        }
    }
}

for my $mode (qw(insert_only upsert)) {
    is_deeply($runs{$mode}{2}, $runs{$mode}{1}, "$mode: two loaders leave exactly what one leaves");
}

# and what one leaves is right: the file's last value of a repeated email
# in upsert, its first in insert_only (the repeat a bad row)
like($runs{upsert}{1}{rows}, qr/(^| )u40\@example\.com:F41:L41:\+41:C41( |$)/, 'upsert: a repeated email has its later values');
like($runs{insert_only}{1}{rows}, qr/(^| )u40\@example\.com:F40:L40:\+40:C40( |$)/, 'insert_only: its first values');
like($runs{insert_only}{1}{errors}, qr/(^| )42:u40\@example\.com:email already exists( |$)/,
     'insert_only: the repeat is a bad row, by its line');
like($runs{upsert}{1}{rows}, qr/(^| )u4\@example\.com:F4:L4:\+4:C4( |$)/, 'upsert: a row that was in the table updated');
like($runs{upsert}{1}{counts}, qr/inserted=\d+ updated=\d+ error_rows=57$/, 'upsert: the bad rows counted');

# Another transaction holds a row the first batch needs and then waits for
# a row of the second batch, which has loaded and waits in ferryd for the
# first to commit: a cycle with one wait in ferryd, which PostgreSQL
# cannot see. The second batch lets its rows go after IMPORT_TURN_WAIT_MS
# (5 s): the other transaction goes on, the first batch commits, the
# second loads again. Without that the import would hang for good.
$t->psql('TRUNCATE customers');
$t->psql(q{INSERT INTO customers (email, first_name) VALUES ('x1@example.com', 'old'), ('y1@example.com', 'old')});
$t->stop_ferryd;
$t->start_ferryd(%set, BATCH_SIZE => 2, IMPORT_SLOW_MS => 500, IMPORT_LOADERS => 2);
my $log0 = length $t->read_file('ferryd.log');
my $other = $t->dir . '/other.out';
my $pid = fork // die;
if ($pid == 0) {
    open STDOUT, '>', $other or die;
    open STDERR, '>&', \*STDOUT or die;
    # x1 held; then, once a loaded batch waits idle in its transaction
    # (the second, holding y1; at most 30 s), y1
    exec 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $t->database_url, '-c',
        q{BEGIN; UPDATE customers SET first_name = 'other' WHERE email = 'x1@example.com'; }
      . q{DO $$ BEGIN FOR i IN 1 .. 600 LOOP PERFORM pg_stat_clear_snapshot(); }
      . q{EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity WHERE state = 'idle in transaction' }
      . q{AND pid <> pg_backend_pid()); PERFORM pg_sleep(0.05); END LOOP; END $$; }
      . q{UPDATE customers SET first_name = 'other' WHERE email = 'y1@example.com'; COMMIT};
    exit 127;
}
$t->wait_for('the other transaction holding x1', sub {
    $t->psql(q{SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'BEGIN; UPDATE customers%'}) == 1 }, 10);
my ($id, $j) = import_file("email,first_name,last_name,phone,city\n"
    . "x1\@example.com,X1,,,\nx2\@example.com,X2,,,\ny1\@example.com,Y1,,,\ny2\@example.com,Y2,,,\n", 'upsert');
waitpid($pid, 0);
is($? >> 8, 0, 'the other transaction committed');
is($j->{status}, 'done', 'the import caught in the cycle: done');
is($t->psql(q{SELECT string_agg(email || ':' || first_name, ' ' ORDER BY email) FROM customers}),
   'x1@example.com:X1 x2@example.com:X2 y1@example.com:Y1 y2@example.com:Y2',
   "its rows committed after the other transaction's, in the file's order");
like(substr($t->read_file('ferryd.log'), $log0),
     qr/WARN .*job \Q$id\E: batch 2 let its rows go after 5000 ms waiting for the batches before it to commit/,
     'the second batch let its rows go (WARN)');
unlike(substr($t->read_file('ferryd.log'), $log0), qr/ERROR/, 'no error');

$t->done;
