#!/usr/bin/perl
# The delete/restore queue: a row that fails validation gets a delete
# message, which sets to_delete and delete_reason in Grist with one PATCH
# and deleted in PostgreSQL, and is not sent again when the row comes back
# changed; clearing to_delete restores it; a message survives Grist's 5xx
# answers and is delivered once Grist answers.

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
my $g = Ferry::Grist->new($t, seed_at => time - 3600, tables => Ferry::Grist::sample_tables(100))->start;
$t->start_pg->migrate;
$t->start_ferryd($g->settings,
                 GRIST_SYNC_INTERVAL => 1);

sub q1 { Encode::decode_utf8($t->psql($_[0])) }
sub patches { my ($table, $id) = @_;
    grep { $_->{method} eq 'PATCH' && $_->{path} =~ m{/tables/$table/records$}
           && grep { $_->{id} == $id } @{ $_->{json}{records} || [] } } $g->journal }

$t->wait_for('the first cycle', sub { q1('SELECT count(*) FROM badge') == 100 }, 60);

# ------------------------------------------------------------------ delete

$g->edit(Badges_2026 => { 20 => { diet => '' } });
$t->wait_for('badge 20 deleted', sub { q1('SELECT deleted::text FROM badge WHERE nocode_int_id = 20') eq 'true' }, 30);
my $row = $g->row(Badges_2026 => 20);
ok($row->{to_delete} && $row->{to_delete} > time - 60, 'Grist: to_delete is now');
is($row->{delete_reason}, 'Empty diet', "Grist: the original's reason, verbatim");
my @p = patches('Badges_2026', 20);
is(scalar @p, 1, 'one PATCH');
is_deeply([ sort keys %{ $p[0]{json}{records}[0]{fields} } ], [ 'delete_reason', 'to_delete' ],
          'carrying to_delete and delete_reason');
sleep 3.5;
is(scalar(patches('Badges_2026', 20)), 1, 'the row coming back changed is no reason to send it again');
is(q1("SELECT count(*) FROM grist_queue"), 0, 'the queue is empty');

$g->edit(Teams => { 2 => { team_name => '' } });
$t->wait_for('team 2 deleted', sub { q1('SELECT deleted::text FROM direction WHERE nocode_int_id = 2') eq 'true' }, 30);
is_deeply([ keys %{ (patches('Teams', 2))[0]{json}{records}[0]{fields} } ], [ 'to_delete' ],
          'Teams has no delete_reason: to_delete only');

# ------------------------------------------------------------------ restore

$g->edit(Badges_2026 => { 20 => { diet => 'Веган', to_delete => undef } });
$t->wait_for('badge 20 restored', sub { q1('SELECT deleted::text FROM badge WHERE nocode_int_id = 20') eq 'false' }, 30);
$row = $g->row(Badges_2026 => 20);
ok(!$row->{to_delete} && !defined $row->{delete_reason}, 'restore clears delete_reason in Grist');
is(q1('SELECT diet FROM badge WHERE nocode_int_id = 20'), 'Веган', 'and the row has its new values');

# ------------------------------------------------------------------ to_delete set in Grist

$g->edit(People => { 30 => { to_delete => time } });
$t->wait_for('person 30 deleted', sub { q1('SELECT deleted::text FROM person WHERE nocode_int_id = 30') eq 'true' }, 30);
is(scalar(patches('People', 30)), 0, 'a to_delete set in Grist: deleted in PostgreSQL, no PATCH (nothing to change)');

# ------------------------------------------------------------------ Grist failing

$g->fault(method => 'PATCH', path => '/api/docs/:doc/tables/:table/records', status => 503, times => 12);
my $t0 = time;
$g->edit(Badges_2026 => { 40 => { name => '' } });
$t->wait_for('three failed attempts', sub {
    q1("SELECT coalesce(max(attempts), 0) FROM grist_queue WHERE row_id = 40") >= 3 }, 60);
is(q1('SELECT parked::text FROM grist_queue WHERE row_id = 40'), 'false', 'kept, not parked, after 3 attempts');
like(q1('SELECT last_error FROM grist_queue WHERE row_id = 40'), qr/503/, 'with its error');
$t->wait_for('the delete delivered', sub {
    q1('SELECT deleted::text FROM badge WHERE nocode_int_id = 40') eq 'true' }, 90);
is($g->row(Badges_2026 => 40)->{delete_reason}, 'Empty name', 'delivered once Grist answers');
is(q1('SELECT count(*) FROM grist_queue'), 0, 'and taken off the queue');

$t->done;
