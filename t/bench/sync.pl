#!/usr/bin/perl
# Benchmark (issue 13): the Grist -> PostgreSQL sync against the Grist
# emulator. A document of 100,000 rows (BENCH_ROWS: a quarter each of
# People, Participations, Badges_2026 and Arrivals_2026, and their Teams)
# synced in full into an empty database, in rows/s; then an incremental
# cycle after 100 badges changed (BENCH_CHANGES), on that document and on
# a document of 1,000 rows (BENCH_SMALL_ROWS), in the same run: the two
# should be within 2x of each other, the cost growing with the changes,
# not with the table. BENCH_RUNS runs of each (2 by default), every run
# printed, then best and median. Each measurement is one cycle, timed by
# ferryd itself (its "sync cycle: ... in N ms" line), started by starting
# ferryd; GRIST_HARD_DELETE_EVERY is set high so that the id-set
# comparison does not land in a measured incremental cycle. The time the
# emulator (Perl, on the same cores) took to answer is printed beside it.

use strict;
use warnings;
use utf8;
use Time::HiRes qw(time);
use lib 't/lib';
use Ferry::Test;
use Ferry::Grist;

my $runs = $ENV{BENCH_RUNS} || 2;
my $rows = $ENV{BENCH_ROWS} || 100_000;
my $small = $ENV{BENCH_SMALL_ROWS} || 1_000;
my $changes = $ENV{BENCH_CHANGES} || 100;

$ENV{TMPDIR} = '/dev/shm' if -d '/dev/shm' && -w '/dev/shm';
my $t = Ferry::Test->new;
$t->start_pg->migrate;

sub best { (sort { $a <=> $b } @_)[0] }
sub median { my @s = sort { $a <=> $b } @_; @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2 }

# a document of about n rows, stamped an hour ago (out of the overlap)
sub document {
    my ($n, $name) = @_;
    my $t0 = time;
    my $g = Ferry::Grist->new($t, name => $name, seed_at => time - 3600,
                              tables => Ferry::Grist::sample_tables(int($n / 4)))->start;
    my $total = 0;
    $total += @{ $g->rows($_) } for qw(Teams People Participations Badges_2026 Arrivals_2026);
    printf "%s: %d rows, made in %.0f s\n", $name, $total, time - $t0;
    return ($g, $total);
}

sub empty_database {
    $t->psql('TRUNCATE arrival, badge_directions, badge, participation, person, direction, '
             . 'grist_sync_state, grist_queue');
}

# Starts ferryd, waits for its first cycle and stops it: (ms, rows read,
# seconds the emulator spent answering).
sub one_cycle {
    my ($g) = @_;
    my $before = $t->sync_cycles;
    my $journal_at = scalar $g->journal;
    $t->start_ferryd($g->settings,
                     GRIST_SYNC_INTERVAL => 86400, GRIST_HARD_DELETE_EVERY => 100000,
                     LOG_LEVEL => 'info');
    $t->wait_for('a sync cycle', sub { $t->sync_cycles > $before }, 3600);
    $t->stop_ferryd;
    my ($line) = (grep { /sync cycle:/ } split /\n/, $t->read_file('ferryd.log'))[-1];
    die "the cycle failed: $line" unless $line =~ /INFO/;
    my ($read, $ms) = $line =~ /(\d+) rows read.* in (\d+) ms/ or die "no figures in: $line";
    my $grist = 0;
    $grist += $_->{answer_time} - $_->{time} for ($g->journal)[ $journal_at .. scalar($g->journal) - 1 ];
    return ($ms, $read, $grist);
}

my ($big, $big_rows) = document($rows, 'grist_big');
my ($little, $little_rows) = document($small, 'grist_small');
print "\n";

# ---------------------------------------------------------------- full sync

my @full;
for my $run (1 .. $runs) {
    empty_database();
    my ($ms, $read, $grist) = one_cycle($big);
    push @full, $ms / 1000;
    printf "full run %d: %d rows in %.2f s = %.0f rows/s (emulator answering: %.2f s)\n",
        $run, $read, $ms / 1000, $read / ($ms / 1000), $grist;
}

# ---------------------------------------------------------------- incremental

# the same badges changed again each run, so each cycle reads the same
# rows (a row changed within the 300 s overlap is read again)
my $round = 0;
sub change {
    my ($g, $n) = @_;
    $round++;
    my $step = int($n / 4 / $changes) || 1;
    $g->edit(Badges_2026 => { map { 1 + $_ * $step => { name => "Бейдж $round/$_" } } 0 .. $changes - 1 });
}

my %inc = (big => [], little => []);
for my $doc ([ big => $big, $big_rows ], [ little => $little, $little_rows ]) {
    my ($key, $g, $n) = @$doc;
    empty_database();
    one_cycle($g);    # the full read that the incremental ones follow
    for my $run (1 .. $runs) {
        change($g, $n);
        my ($ms, $read, $grist) = one_cycle($g);
        push @{ $inc{$key} }, $ms / 1000;
        printf "incremental run %d, %d-row document: %d rows read in %.3f s (emulator answering: %.3f s)\n",
            $run, $n, $read, $ms / 1000, $grist;
    }
}

printf "\n%-62s %10s %10s\n", '', 'best', 'median';
printf "%-62s %7.0f r/s %7.0f r/s\n", "full sync, $big_rows rows", $big_rows / best(@full),
    $big_rows / median(@full);
printf "%-62s %8.3f s %8.3f s\n", "incremental cycle, $changes badges changed, $big_rows-row document",
    best(@{ $inc{big} }), median(@{ $inc{big} });
printf "%-62s %8.3f s %8.3f s\n", "incremental cycle, $changes badges changed, $little_rows-row document",
    best(@{ $inc{little} }), median(@{ $inc{little} });
printf "%-62s %9.2fx %9.2fx  (target within 2x)\n", 'large / small document',
    best(@{ $inc{big} }) / best(@{ $inc{little} }), median(@{ $inc{big} }) / median(@{ $inc{little} });
print "(2 cores shared with other work: the figures are noisy)\n";

$t->done;
