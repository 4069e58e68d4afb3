#!/usr/bin/perl
# The end of a sync cycle (issue 13): Directions<year> gives each changed
# direction's heads a participation in its team for the season, created in
# Grist when they have none (the original's create_participations
# consumer), and it reaches PostgreSQL on the next cycle. And a badge whose
# directions alone changed is sent to the feeder again (migration 011).

use strict;
use warnings;
use utf8;
use Test::More;
use Encode ();
use Time::HiRes qw(time);
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
my $N = 20;
my $at = int(time) - 3600;    # exact in JSON, as Grist (JavaScript) writes it
my $tables = Ferry::Grist::sample_tables($N);
# participations: person i in team 1 + i % 2; so (4, 1) exists, (3, 1) and
# (6, 2) do not; a direction without a team creates nothing
$tables->{Directions2026} = [
    { name => 'Кухня', last_updated_at26 => $at, direction_location26 => 1, head26 => [ 'L', 3, 4 ] },
    { name => 'Свет', last_updated_at26 => $at, direction_location26 => 2, head26 => [ 'L', 6 ] },
    { name => 'Никто', last_updated_at26 => $at, direction_location26 => 0, head26 => [ 'L', 8 ] },
];
my $g = Ferry::Grist->new($t, seed_at => $at, tables => $tables)->start;
$t->start_pg->migrate;
$t->start_ferryd($g->settings,
                 GRIST_SYNC_INTERVAL => 1, GRIST_HARD_DELETE_EVERY => 1000);
$t->start_nginx($t->shipped_conf);

sub q1 { Encode::decode_utf8($t->psql($_[0])) }
sub made { [ map { "$_->{fields}{person}:$_->{fields}{team}" } grep { $_->{id} > $N } @{ $g->rows('Participations') } ] }

# ---------------------------------------------------------------- the heads

$t->wait_for('the first cycle', sub { $t->sync_cycles >= 1 }, 90);
is_deeply(made(), [ '3:1', '6:2' ], 'the heads without a participation in their team get one');
my ($p) = grep { $_->{id} == $N + 1 } @{ $g->rows('Participations') };
my $roles = { map { $_->{fields}{Code} => $_->{id} } @{ $g->rows('Roles') } };
my $statuses = { map { $_->{fields}{code} => $_->{id} } @{ $g->rows('Participation_statuses') } };
is($p->{fields}{year}, 2026, 'for the season');
is($p->{fields}{role}, $roles->{ORGANIZER}, 'as organizer');
is($p->{fields}{status}, $statuses->{PLANNED}, 'planned');
like($t->read_file('ferryd.log'), qr/INFO.*sync cycle:.* 2 participations created/, 'counted in the cycle\'s line');

$t->wait_sync_cycles(2);
is(q1("SELECT string_agg(person_id || ':' || direction_id || ' ' || role_code || ' ' || status_code "
      . "|| ' ' || deleted, ', ' ORDER BY nocode_int_id) FROM participation WHERE nocode_int_id > $N"),
   '3:1 ORGANIZER PLANNED false, 6:2 ORGANIZER PLANNED false',
   'in PostgreSQL after the next cycle, valid');
is(q1("SELECT rows_seen || ' ' || (last_error IS NULL) FROM grist_sync_state WHERE table_id = 'Directions2026'"),
   '0 true', 'its state: nothing changed since');
is_deeply(made(), [ '3:1', '6:2' ], 'nothing created twice');

# ---------------------------------------------------------------- a change

my $log_at = scalar $g->sql_log;
$g->edit(Directions2026 => { 1 => { head26 => [ 'L', 3, 4, 9 ], last_updated_at26 => int(time) } });
$g->edit(Directions2026 => { 2 => { head26 => [ 'L', 6, 10 ] } });
$t->wait_sync_cycles(2);
is_deeply(made(), [ '3:1', '6:2', '9:1' ],
          'a new head of a changed direction; a row whose stamp did not move is not read');
my @reads = grep { $_->{sql} =~ /FROM Directions2026/ } ($g->sql_log)[ $log_at .. scalar($g->sql_log) - 1 ];
ok(@reads && !grep({ $_->{sql} !~ /last_updated_at26 > \?/ } @reads),
   'every later read of Directions2026 is restricted by last_updated_at26');

# ---------------------------------------------------------------- a badge's directions

$t->wait_sync_cycles(1);
my $before = q1('SELECT now()');
my $stamp = q1('SELECT last_updated FROM badge WHERE nocode_int_id = 7');
$g->edit(Badges_2026 => { 7 => { directions_ref => [ 'L', 1, 2 ] } });
$t->wait_sync_cycles(2);
isnt(q1('SELECT last_updated FROM badge WHERE nocode_int_id = 7'), $stamp,
     'a badge whose directions alone changed gets a new last_updated');
is(q1("SELECT count(*) FROM badge WHERE last_updated > '$before'"), 1, 'that badge alone');
(my $from = $before) =~ s/ /T/;
$from =~ s/\+00$/Z/;
my $f = $t->http(GET => "/feeder/sync?from_date=$from")->{json};
is_deeply([ map { scalar @{ $_->{directions} } } @{ $f->{badges} } ], [2],
          '/feeder/sync sends it again, with both directions');
$g->edit(Badges_2026 => { 7 => { directions_ref => [ 'L', 2 ] } });
$stamp = q1('SELECT last_updated FROM badge WHERE nocode_int_id = 7');
$t->wait_sync_cycles(2);
isnt(q1('SELECT last_updated FROM badge WHERE nocode_int_id = 7'), $stamp, 'a direction removed moves it too');
$stamp = q1('SELECT last_updated FROM badge WHERE nocode_int_id = 7');
$g->edit(Badges_2026 => { 7 => { comment => 'the same directions' } });
$t->wait_sync_cycles(2);
my $after_comment = q1('SELECT last_updated FROM badge WHERE nocode_int_id = 7');
isnt($after_comment, $stamp, 'a field change moves it');
$g->edit(Badges_2026 => { 7 => { comment => 'the same directions', directions_ref => [ 'L', 2 ] } });
$t->wait_sync_cycles(2);
is(q1('SELECT last_updated FROM badge WHERE nocode_int_id = 7'), $after_comment,
   'the same directions written again do not');

$t->done;
