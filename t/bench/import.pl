#!/usr/bin/perl
# Benchmark (SPEC B7): a 1,000,000-row CSV imported end to end (upload
# through nginx until the job is done) beside, on the same database in the
# same run: (a) psql \copy into an empty copy of the table, (b) COPY into a
# temp table + INSERT ... ON CONFLICT DO UPDATE through psql, (c) the seed's
# 500-row INSERT ... ON CONFLICT DO NOTHING batches. pgloader (d) is not
# installed here. Also ferryd's peak RSS and the nginx worker's RSS growth.

use strict;
use warnings;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use Ferry::Test;

my $rows = $ENV{BENCH_ROWS} || 1_000_000;

$ENV{TMPDIR} = '/dev/shm' if -d '/dev/shm' && -w '/dev/shm';
my $t = Ferry::Test->new;
$t->{nginx_log_level} = 'error';
my $spool = $t->writable_dir('spool');
my $reports = $t->writable_dir('reports');
$t->start_pg->migrate;
$t->start_ferryd(SPOOL_DIR => $spool, REPORTS_DIR => $reports, LOG_LEVEL => 'info',
                 JOB_WORKERS => 1, ($ENV{BENCH_BATCH} ? (BATCH_SIZE => $ENV{BENCH_BATCH}) : ()));
$t->start_nginx(Ferry::Test::imports_conf(
    '        access_log off; client_max_body_size 2g; client_body_buffer_size 1m;'));
my $token = $t->user_token('bench@example.com');

sub make_csv {
    my ($name, $bad_every) = @_;
    my $path = $t->dir . "/$name.csv";
    open my $fh, '>', $path or die;
    print $fh "email,first_name,last_name,phone,city\n";
    for my $i (1 .. $rows) {
        if ($bad_every && $i % $bad_every == 0) {
            print $fh "broken-row-$i,,,\n";
        } else {
            printf $fh "user%07d\@example.com,First%d,Last%d,+1555%07d,City%d\n", $i, $i, $i, $i, $i % 1000;
        }
    }
    close $fh;
    return $path;
}

my $clean = make_csv('clean', 0);
my $dirty = make_csv('dirty', 50);    # 2 % bad rows
# the clean file with every city changed: an upsert that rewrites every row
(my $changed = $clean) =~ s/clean/changed/;
system("sed 's/,City\\([0-9]*\\)\$/,Town\\1/' '$clean' > '$changed'") == 0 or die;

# Every measurement starts from a checkpoint, so that none pays for the WAL
# another one wrote.
sub checkpoint { $t->psql('CHECKPOINT') }

sub psql_time {
    my ($sql) = @_;
    checkpoint();
    my $t0 = time;
    my ($rc, $out) = $t->run_cmd(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $t->database_url, '-c', $sql]);
    die "psql: $out" if $rc;
    return time - $t0;
}

my ($worker) = $t->nginx_workers;
my $ferryd = $t->{procs}{ferryd};
sub kb { my ($pid, $what) = @_; (`grep $what /proc/$pid/status` =~ /(\d+)/)[0] }
my $nginx0 = kb($worker, 'VmHWM');
my $n = 0;

sub ferry_import {
    my ($file, $mode) = @_;
    checkpoint();
    my $t0 = time;
    my ($rc, $out) = $t->run_cmd(['curl', '-s', '-H', "Authorization: Bearer $token",
        '-H', 'Idempotency-Key: bench-' . ++$n, '-F', "file=\@$file",
        'http://127.0.0.1:' . $t->port . "/imports?mode=$mode"]);
    my $id = (Ferry::Test::json()->decode($out))->{id} or die "upload: $out";
    my $j;
    while (1) {
        $j = $t->http(GET => "/imports/$id", headers => { Authorization => "Bearer $token" })->{json};
        last if $j->{status} =~ /^(done|failed|cancelled)$/;
        sleep 0.05;
    }
    die "import $id: $j->{status} $j->{error}\n" unless $j->{status} eq 'done';
    return (time - $t0, $j);
}

sub reset_customers { psql_time('TRUNCATE customers'); psql_time('VACUUM ANALYZE customers') }

# Every figure is the best and the median of the same number of runs
# (BENCH_RUNS), Ferry's and the baselines' taken in turn within each round,
# so that a noisy neighbour on a shared machine weighs on both alike.
my $runs = $ENV{BENCH_RUNS} || 3;
my %all;
sub record { my ($k, $d) = @_; push @{ $all{$k} }, $d; printf STDERR "  %-10s %.2f s\n", $k, $d }

# the tables of the baselines: (a) empty, (b) full
psql_time('CREATE TABLE customers_a (LIKE customers INCLUDING ALL)');
psql_time('CREATE TABLE customers_b (LIKE customers INCLUDING ALL)');
my $stage = "CREATE TEMP TABLE s (LIKE customers_a INCLUDING DEFAULTS); "
          . "\\copy s (email, first_name, last_name, phone, city) FROM '%s' WITH (FORMAT csv, HEADER)\n";
my $merge = "INSERT INTO customers_b (email, first_name, last_name, phone, city) "
          . "SELECT email, first_name, last_name, phone, city FROM s ON CONFLICT (email) DO UPDATE SET "
          . "first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name, phone = EXCLUDED.phone, "
          . "city = EXCLUDED.city, updated_at = now()";
my $bfile = $t->write_file('b.sql', sprintf($stage, $clean) . "$merge;\n");
my $bfile2 = $t->write_file('b2.sql', sprintf($stage, $changed) . "$merge;\n");
sub psql_file {
    my ($file) = @_;
    checkpoint();
    my $t0 = time;
    my ($rc, $out) = $t->run_cmd(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $t->database_url, '-f', $file]);
    die $out if $rc;
    return time - $t0;
}
my $d = psql_file($bfile);
printf STDERR "  %-10s %.2f s (once)\n", 'b_empty', $d;
$all{b_empty} = [$d];

# Both upserts start from the same table: freshly loaded with the clean
# file (packed pages, as an import leaves them), vacuumed; an update into
# pages a former rewrite left half empty would be cheaper than one into
# these.
sub load_b {
    psql_time('TRUNCATE customers_b');
    psql_time("\\copy customers_b (email, first_name, last_name, phone, city) FROM '$clean' WITH (FORMAT csv, HEADER)");
    psql_time('VACUUM ANALYZE customers_b');
}
sub load_ferry {
    reset_customers();
    ferry_import($clean, 'insert_only');
    psql_time('VACUUM ANALYZE customers');
}

my ($j2, $j3);
for my $round (1 .. $runs) {
    print STDERR "round $round\n";
    # (a) \copy into an empty copy of the table
    psql_time('TRUNCATE customers_a');
    record(a => psql_time("\\copy customers_a (email, first_name, last_name, phone, city) FROM '$clean' WITH (FORMAT csv, HEADER)"));

    # Ferry insert_only into the empty table: the clean file, then 2 % bad rows
    reset_customers();
    my ($d, $j1) = ferry_import($clean, 'insert_only');
    die "insert_only clean: $j1->{inserted} rows\n" unless $j1->{inserted} == $rows;
    record(f_clean => $d);
    reset_customers();
    ($d, $j2) = ferry_import($dirty, 'insert_only');
    record(f_dirty => $d);

    # (b) staging + INSERT ... ON CONFLICT DO UPDATE into the full table: it
    # rewrites every row whatever they hold
    load_b();
    record(b_full => psql_file($bfile));
    load_b();
    record(b_changed => psql_file($bfile2));

    # Ferry upsert into the full table: the same file, then every row changed
    load_ferry();
    ($d, $j3) = ferry_import($clean, 'upsert');
    record(f_upsert => $d);
    load_ferry();
    ($d) = ferry_import($changed, 'upsert');
    record(f_changed => $d);
}

my (%s, %med);
for my $k (keys %all) {
    my @v = sort { $a <=> $b } @{ $all{$k} };
    $s{$k} = $v[0];
    $med{$k} = $v[$#v / 2];
}

# (c) the seed's way: 500-row INSERT ... ON CONFLICT DO NOTHING
psql_time('CREATE TABLE customers_c (LIKE customers INCLUDING ALL)');
my $cfile = $t->dir . '/c.sql';
open my $cf, '>', $cfile or die;
open my $in, '<', $clean or die;
<$in>;
my @batch;
my $flush = sub {
    return unless @batch;
    print $cf "INSERT INTO customers_c (email, first_name, last_name, phone, city) VALUES "
        . join(',', @batch) . " ON CONFLICT DO NOTHING;\n";
    @batch = ();
};
while (my $l = <$in>) {
    chomp $l;
    my @f = split /,/, $l, -1;
    push @batch, '(' . join(',', map { "'$_'" } @f) . ')';
    $flush->() if @batch == 500;
}
$flush->();
close $cf;
$s{c} = $med{c} = psql_file($cfile);
$all{c} = [$s{c}];

my $ferryd_peak = kb($ferryd, 'VmHWM');
my $nginx_growth = kb($worker, 'VmHWM') - $nginx0;

my %rps = map { $_ => $rows / $s{$_} } keys %s;
my %mps = map { $_ => $rows / $med{$_} } keys %med;
printf "\nimport: %d rows, end to end (upload through nginx until done), same database, same run;\n"
    . "best and median of %d rounds, Ferry and the baselines in turn\n", $rows, $runs;
printf "%-60s %9s %7s %9s %7s\n", '', 'best r/s', 'ratio', 'median', 'ratio';
my @lines = (
    ['(a) psql \\copy into an empty table (the baseline)', 'a', 'a', ''],
    ['Ferry insert_only, empty table, clean file', 'f_clean', 'a', 'target >= 0.90x'],
    ['Ferry insert_only, empty table, 2% bad rows', 'f_dirty', 'a', 'target >= 0.80x'],
    ['(b) COPY to temp + INSERT ON CONFLICT DO UPDATE, empty table', 'b_empty', 'a', 'once'],
    ['(b) the same into the full table, the same values', 'b_full', 'a', ''],
    ['Ferry upsert, the same file again', 'f_upsert', 'b_full', 'vs (b); target >= 2.0x'],
    ['(b) into the full table, every row changed', 'b_changed', 'a', ''],
    ['Ferry upsert, every row changed', 'f_changed', 'b_changed', 'vs (b); target >= 1.0x'],
    ['(c) 500-row INSERT ... ON CONFLICT DO NOTHING (the seed)', 'c', 'a', 'once'],
);
for (@lines) {
    my ($label, $k, $base, $note) = @$_;
    printf "%-60s %9.0f %6.2fx %9.0f %6.2fx  %s\n", $label, $rps{$k}, $rps{$k} / $rps{$base},
        $mps{$k}, $mps{$k} / $mps{$base}, $note;
}
print "every run (seconds):\n";
printf "  %-10s %s\n", $_, join(' ', map { sprintf '%.2f', $_ } @{ $all{$_} }) for sort keys %all;
printf "(d) pgloader: not installed on this machine, not measured\n";
printf "ferryd peak RSS: %.1f MB (target < 64 MB); nginx worker RSS growth: %.1f MB (target < 4 MB)\n",
    $ferryd_peak / 1024, $nginx_growth / 1024;
printf "2%% file: %d inserted, %d bad rows; upsert: %d inserted, %d updated\n",
    $j2->{inserted}, $j2->{error_rows}, $j3->{inserted}, $j3->{updated};

unlink $clean, $dirty, $changed, $cfile;
$t->teardown;
