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

my %s;
# (a) \copy into an empty copy of the table
# (the baseline moves a lot from run to run on a shared VM: its best of three)
psql_time('CREATE TABLE customers_a (LIKE customers INCLUDING ALL)');
for (1 .. 3) {
    psql_time('TRUNCATE customers_a');
    my $d = psql_time("\\copy customers_a (email, first_name, last_name, phone, city) FROM '$clean' WITH (FORMAT csv, HEADER)");
    $s{a} = $d if !$s{a} || $d < $s{a};
}

# Ferry insert_only into the empty table: the clean file, then 2 % bad rows
reset_customers();
($s{f_clean}, my $j1) = ferry_import($clean, 'insert_only');
die "insert_only clean: $j1->{inserted} rows\n" unless $j1->{inserted} == $rows;
reset_customers();
($s{f_dirty}, my $j2) = ferry_import($dirty, 'insert_only');

# (b) staging + INSERT ... ON CONFLICT DO UPDATE, into an empty and a full table
my $stage = "CREATE TEMP TABLE s (LIKE customers_a INCLUDING DEFAULTS); "
          . "\\copy s (email, first_name, last_name, phone, city) FROM '$clean' WITH (FORMAT csv, HEADER)\n";
my $merge = "INSERT INTO customers_b (email, first_name, last_name, phone, city) "
          . "SELECT email, first_name, last_name, phone, city FROM s ON CONFLICT (email) DO UPDATE SET "
          . "first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name, phone = EXCLUDED.phone, "
          . "city = EXCLUDED.city, updated_at = now()";
psql_time('CREATE TABLE customers_b (LIKE customers INCLUDING ALL)');
my $bfile = $t->write_file('b.sql', "$stage$merge;\n");
(my $stage2 = $stage) =~ s/\Q$clean\E/$changed/;
my $bfile2 = $t->write_file('b2.sql', "$stage2$merge;\n");
checkpoint();
my $t0 = time;
my ($rc, $out) = $t->run_cmd(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $t->database_url, '-f', $bfile]);
die $out if $rc;
$s{b_empty} = time - $t0;
for (1 .. 2) {
    # a freshly loaded table first has its hint bits set by whoever reads
    # it next: both full-table runs start after a VACUUM
    psql_time('VACUUM ANALYZE customers_b');
    checkpoint();
    $t0 = time;
    ($rc, $out) = $t->run_cmd(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $t->database_url, '-f', $bfile]);
    die $out if $rc;
    my $d = time - $t0;
    $s{b_full} = $d if !$s{b_full} || $d < $s{b_full};
}
psql_time('VACUUM ANALYZE customers_b');
checkpoint();
$t0 = time;
($rc, $out) = $t->run_cmd(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $t->database_url, '-f', $bfile2]);
die $out if $rc;
$s{b_changed} = time - $t0;

# Ferry upsert into the full table
# Ferry upsert into the full table: like (b), twice, after a VACUUM each
reset_customers();
ferry_import($clean, 'insert_only');
my $j3;
for (1 .. 2) {
    psql_time('VACUUM ANALYZE customers');
    (my $d, $j3) = ferry_import($clean, 'upsert');
    $s{f_upsert} = $d if !$s{f_upsert} || $d < $s{f_upsert};
}
psql_time('VACUUM ANALYZE customers');
($s{f_changed}) = ferry_import($changed, 'upsert');

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
checkpoint();
$t0 = time;
($rc, $out) = $t->run_cmd(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $t->database_url, '-f', $cfile]);
die $out if $rc;
$s{c} = time - $t0;

my $ferryd_peak = kb($ferryd, 'VmHWM');
my $nginx_growth = kb($worker, 'VmHWM') - $nginx0;

my %rps = map { $_ => $rows / $s{$_} } keys %s;
printf "\nimport: %d rows, end to end (upload through nginx until done), same database, same run\n", $rows;
printf "%-66s %10s %8s\n", '', 'rows/s', 'ratio';
printf "%-66s %10.0f %8s\n", '(a) psql \\copy into an empty table (baseline, best of 3)', $rps{a}, '1.00x';
printf "%-66s %10.0f %7.2fx  (target >= 0.70x of a)\n", 'Ferry insert_only, empty table, clean file', $rps{f_clean}, $rps{f_clean} / $rps{a};
printf "%-66s %10.0f %7.2fx  (target >= 0.50x of a)\n", 'Ferry insert_only, empty table, 2% bad rows', $rps{f_dirty}, $rps{f_dirty} / $rps{a};
printf "%-66s %10.0f %7.2fx\n", '(b) COPY to temp + INSERT ON CONFLICT DO UPDATE, empty table', $rps{b_empty}, $rps{b_empty} / $rps{a};
printf "%-66s %10.0f %7.2fx\n", '(b) the same into the full table (best of 2)', $rps{b_full}, $rps{b_full} / $rps{a};
printf "%-66s %10.0f %7.2fx  (%.2fx of b full; target >= 1.0x)\n", 'Ferry upsert into the full table (best of 2)', $rps{f_upsert}, $rps{f_upsert} / $rps{a}, $rps{f_upsert} / $rps{b_full};
printf "%-66s %10.0f %7.2fx\n", '(b) into the full table, every row changed', $rps{b_changed}, $rps{b_changed} / $rps{a};
printf "%-66s %10.0f %7.2fx  (%.2fx of b changed)\n", 'Ferry upsert, every row changed', $rps{f_changed}, $rps{f_changed} / $rps{a}, $rps{f_changed} / $rps{b_changed};
printf "%-66s %10.0f %7.2fx\n", '(c) 500-row INSERT ... ON CONFLICT DO NOTHING (the seed)', $rps{c}, $rps{c} / $rps{a};
printf "(d) pgloader: not installed on this machine, not measured\n";
printf "ferryd peak RSS: %.1f MB (target < 64 MB); nginx worker RSS growth: %.1f MB (target < 4 MB)\n",
    $ferryd_peak / 1024, $nginx_growth / 1024;
printf "2%% file: %d inserted, %d bad rows; upsert: %d inserted, %d updated\n",
    $j2->{inserted}, $j2->{error_rows}, $j3->{inserted}, $j3->{updated};

unlink $clean, $dirty, $changed, $cfile;
$t->teardown;
