#!/usr/bin/perl
# The Grist -> PostgreSQL sync cycle against the Grist emulator: a first
# full read of a few thousand rows, an incremental cycle that fetches and
# writes only the rows changed (the emulator's journal and SQL log say what
# was asked and answered), rows deleted in Grist outright, a value that
# does not block its table, Grist down for three cycles, and ferryd killed
# in the middle of a cycle.

use strict;
use warnings;
use utf8;
use Test::More;
use Encode ();
use Time::HiRes qw(time sleep);
use lib 't/lib';
use Ferry::Test;

BEGIN {
    eval { require Mojolicious; 1 }
        or plan skip_all => 'Mojolicious is not installed (apt-get install libmojolicious-perl)';
}
use Ferry::Grist;

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $t = Ferry::Test->new;
$t->skip_unless_built;
my $N = 1000;
my $g = Ferry::Grist->new($t, seed_at => time - 3600, tables => Ferry::Grist::sample_tables($N))->start;
$t->start_pg->migrate;
my %set = ($g->settings,
           GRIST_SYNC_INTERVAL => 1, GRIST_HARD_DELETE_EVERY => 3);
$t->start_ferryd(%set);

sub q1 { Encode::decode_utf8($t->psql($_[0])) }
sub cycles { my @l = grep { /sync cycle:/ } split /\n/, $t->read_file('ferryd.log'); scalar @l }

# waits for n more cycles to end (the first ones after now)
sub wait_cycles {
    my ($n, $timeout) = @_;
    my $want = cycles() + ($n // 1);
    $t->wait_for("$want sync cycles", sub { cycles() >= $want }, $timeout // 60);
}

# ------------------------------------------------------------------ first sync

$t->wait_for('the first cycle', sub { cycles() >= 1 }, 90);
my $nteams = $N / 50;
is(q1('SELECT count(*) FROM direction'), $nteams, 'Teams -> direction');
is(q1('SELECT count(*) FROM person'), $N, 'People -> person');
is(q1('SELECT count(*) FROM participation'), $N, 'Participations -> participation');
is(q1('SELECT count(*) FROM badge'), $N, 'Badges_2026 -> badge');
is(q1('SELECT count(*) FROM arrival'), $N, 'Arrivals_2026 -> arrival');
is(q1('SELECT count(*) FROM badge_directions'), $N, 'directions_ref -> badge_directions');
is(q1("SELECT id || ' ' || name || ' ' || feed || ' ' || role_code || ' ' || person_id "
      . 'FROM badge WHERE nocode_int_id = 5'),
   '00000004-0000-0000-0000-000000000005 Бейдж 5 Бесплатно VOLUNTEER 5',
   'a badge mapped field by field');
is(q1("SELECT arrival_date || ' ' || departure_date || ' ' || arrival_transport || ' ' "
      . "|| departure_transport || ' ' || status FROM arrival WHERE nocode_int_id = 3"),
   '2026-07-01 2026-07-08 BUS CAR PLANNED', 'an arrival: dates, transports and status as codes');
is(q1("SELECT banned::text || ' ' || gender FROM person WHERE nocode_int_id = 1"), 'false М',
   'a person: isInBL "Нет" is not banned');
is(q1('SELECT count(*) FROM grist_sync_state WHERE last_success_at IS NOT NULL AND last_error IS NULL'),
   6, 'a sync state per table, and Directions2026\'s');
like($t->read_file('ferryd.log'), qr/INFO.*sync cycle: \d+ rows read/, 'one INFO line per cycle');
my %first;
for my $e ($g->sql_log) {
    $first{ $e->{tables}[0] } //= $e;
}
is(join(',', map { $first{$_}{sql} =~ /updated_at/ ? "$_ by updated_at" : () }
             qw(Teams People Participations Badges_2026 Arrivals_2026)),
   '', 'the first read of each table is a full one');

# ------------------------------------------------------------------ incremental

wait_cycles(1);
my $log_at = scalar $g->sql_log;
my $journal_at = scalar $g->journal;
my $before = q1('SELECT now()');
$g->edit(Badges_2026 => { map { $_ * 7 => { name => "Новое имя $_" } } 1 .. 10 });
wait_cycles(2);
my @after = ($g->sql_log)[ $log_at .. scalar($g->sql_log) - 1 ];
my @badge_reads = grep { $_->{tables}[0] eq 'Badges_2026' && $_->{sql} =~ /updated_at >= \?/ } @after;
ok(@badge_reads >= 2, 'each cycle reads Badges_2026 by updated_at');
is((sort { $b <=> $a } map { $_->{rows} } @badge_reads)[0], 10, 'and is answered the 10 rows changed');
is(scalar(grep { $_->{tables}[0] ne 'Badges_2026' && $_->{sql} =~ /updated_at/ && $_->{rows} } @after), 0,
   'the other tables answer no rows');
my @sql_calls = grep { $_->{path} =~ m{/sql$} } ($g->journal)[ $journal_at .. scalar($g->journal) - 1 ];
ok(@sql_calls && !grep({ ($_->{json}{sql} // '') !~ /updated_at >= \?|last_updated_at26 > \?|^SELECT id FROM/ } @sql_calls),
   'every /sql call in the journal is restricted by updated_at (last_updated_at26), or reads the id set');
is(q1("SELECT count(*) FROM badge WHERE last_updated > '$before'"), 10, 'only the 10 rows are written');
is(q1("SELECT count(*) FROM badge WHERE name LIKE 'Новое имя %'"), 10, 'with their new values');
is(q1("SELECT count(*) FROM person WHERE last_updated > '$before'"), 0, 'no other row is re-stamped');

# rows_total without counting the table on every cycle: the last count and
# the rows inserted since
my $people = q1('SELECT count(*) FROM person');
$g->seed(People => [ map { { ntn_id => sprintf('%032x', 0xABC000 + $_), name => "Новый $_" } } 1 .. 3 ]);
wait_cycles(1);
$t->wait_for('the new people', sub { q1('SELECT count(*) FROM person') == $people + 3 }, 30);
wait_cycles(1);
is(q1("SELECT rows_total FROM grist_sync_state WHERE table_id = 'People'"), $people + 3,
   "the sync state's rows_total follows the inserts");

# ------------------------------------------------------------------ a type PostgreSQL lacks

$g->edit(Teams => { 1 => { type_of_team => 'Неведомая служба', team_name => 'Переименована' } });
wait_cycles(2);
is(q1("SELECT coalesce(type, 'NULL') || ' ' || name FROM direction WHERE nocode_int_id = 1"),
   'NULL Переименована', 'an unknown type of team is NULL and does not block the table');

# ------------------------------------------------------------------ deleted outright

$g->remove(Badges_2026 => 998);
$g->remove(People => 999);
wait_cycles(4);
is(q1('SELECT deleted::text FROM badge WHERE nocode_int_id = 998'), 'true',
   'a badge deleted in Grist is marked deleted');
is(q1('SELECT deleted::text FROM person WHERE nocode_int_id = 999'), 'true',
   'a person deleted in Grist is marked deleted');
is(q1('SELECT count(*) FROM badge WHERE deleted'), 1, 'and no other');
ok(grep({ $_->{sql} =~ /^SELECT id FROM Badges_2026/ } $g->sql_log), 'found by reading the id set');

# ------------------------------------------------------------------ Grist down for three cycles

my $warns = () = $t->read_file('ferryd.log') =~ /not synced/g;
$g->fault(path => '/api/docs/*rest', status => 503);
$g->edit(People => { map { $_ => { city => "Город $_" } } 11 .. 15 });
$t->wait_for('three failed cycles', sub {
    my $w = () = $t->read_file('ferryd.log') =~ /sync cycle:.*not synced/g;
    $w >= 3;
}, 120);
ok($t->alive('ferryd'), 'ferryd keeps running while Grist is down');
is(q1("SELECT count(*) FROM person WHERE city LIKE 'Город %'"), 0, 'nothing synced meanwhile');
$g->clear_faults;
wait_cycles(2);
is(q1("SELECT count(*) FROM person WHERE city LIKE 'Город %'"), 5,
   'once Grist answers, the changes made while it was down arrive');

# ------------------------------------------------------------------ killed mid-cycle

$t->stop_ferryd;
$g->edit(Arrivals_2026 => { map { $_ => { departure_date => '2026-07-20' } } 1 .. 200 });
$g->edit(Badges_2026 => { map { $_ => { comment => "до остановки $_" } } 1 .. 200 });
my $seen = scalar $g->journal;
$g->latency(0.5);
$t->start_ferryd(%set);
$t->wait_for('the cycle to reach Badges_2026', sub {
    grep { ($_->{json}{sql} // '') =~ /FROM Badges_2026/ } $g->journal(pending => 1);
}, 60);
$t->stop_ferryd('KILL');
$g->latency(0);
is(q1("SELECT count(*) FROM badge WHERE comment LIKE 'до остановки %'"), 0,
   'killed mid-table: none of the table is committed');
$t->start_ferryd(%set);
wait_cycles(1);
is(q1("SELECT count(*) FROM badge WHERE comment LIKE 'до остановки %'"), 200,
   'the restarted ferryd syncs the table');
is(q1("SELECT count(*) FROM arrival WHERE departure_date = '2026-07-20'"), 200,
   'and the tables after it');

$t->done;
