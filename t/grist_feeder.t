#!/usr/bin/perl
# GET /feeder/sync (issue 13, SPEC D): everything changed since from_date,
# each item with its deleted flag, in the original's shapes. A date without
# a zone is UTC and an offset is honoured (the original shifted every date
# by three hours); a missing or bad date is a 422. Rows rewritten with the
# same values keep their last_updated (migration 009's trigger), so the
# feeder is not sent them again; a delete flag moves it, so it is.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Ferry::Test;
use Ferry::GristRows;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
$t->start_pg->migrate;
Ferry::GristRows::seed($t, 12);
my $conf = $t->shipped_conf;
$t->start_ferryd(SPOOL_DIR => $t->dir . '/spool');
$t->write_file('ferry-api.htpasswd', '');
$t->start_nginx($conf);

# last_updated set by hand: the trigger keeps it otherwise
$t->psql(<<'SQL');
SET session_replication_role = replica;
UPDATE badge SET last_updated = '2026-06-01 08:00:00+00';
UPDATE badge SET last_updated = '2026-06-01 10:00:00+00' WHERE nocode_int_id IN (2, 7);
UPDATE badge SET last_updated = '2026-06-01 12:00:00+00' WHERE nocode_int_id = 3;
UPDATE person SET last_updated = '2026-06-01 08:00:00+00';
UPDATE person SET last_updated = '2026-06-01 11:00:00+00' WHERE nocode_int_id = 1;
UPDATE direction SET last_updated = '2026-05-31 23:00:00+00';
UPDATE participation SET last_updated = '2026-06-01 10:00:00.5+00';
UPDATE arrival SET last_updated = '2026-06-01 09:59:59+00';
UPDATE arrival SET last_updated = '2026-06-01 10:00:00+00' WHERE nocode_int_id = 6;
SQL

sub sync {
    my ($from) = @_;
    my $q = defined $from ? "?from_date=$from" : '';
    return $t->http(GET => "/feeder/sync$q");
}

sub ids {
    my ($j) = @_;
    return { map { $_ => [ map { $_->{nocode_int_id} // $_->{id} } @{ $j->{$_} } ] }
             qw(badges arrivals engagements persons directions) };
}

my $r = sync('2026-06-01T10:00:00Z');
is($r->{status}, 200, 'no credentials needed, as the original');
is_deeply([ sort keys %{ $r->{json} } ], [qw(arrivals badges directions engagements persons)],
    'the five keys');
my $at10 = ids($r->{json});
is_deeply($at10->{badges}, [2, 3, 7], 'badges changed at or after 10:00Z (deleted one included)');
is_deeply($at10->{persons}, [1], 'persons changed since');
is_deeply($at10->{directions}, [], 'directions unchanged since');
is(scalar @{ $r->{json}{engagements} }, 3, 'engagements changed half a second after: all');
is_deeply([ map { $_->{badge} } @{ $r->{json}{arrivals} } ],
    [ Ferry::GristRows::uuid(badge => 6) ], 'arrivals: the one changed at exactly 10:00Z');

for my $same ('2026-06-01T13:00:00%2B03:00', '2026-06-01T10:00:00', '2026-06-01T10:00:00.000Z',
              '2026-06-01%2010:00:00Z', '2026-06-01T05:00:00-0500', '2026-06-01T10:00Z') {
    is_deeply(ids(sync($same)->{json}), $at10, "$same is the same moment");
}
is_deeply(ids(sync('2026-06-01T12:00:01%2B02:00')->{json})->{badges}, [3],
    'an offset is honoured (10:00:01Z)');
is_deeply(ids(sync('2026-06-01T10:00:00.6Z')->{json})->{engagements}, [],
    'sub-second precision');
is_deeply(ids(sync('2026-06-01')->{json})->{directions}, [], 'a date alone is its midnight, UTC');
is_deeply(ids(sync('2026-05-31')->{json})->{directions}, [1, 2, 3], 'with deleted directions');

# ---------------------------------------------------------------- shapes

my $j = sync('2000-01-01T00:00:00Z')->{json};
my ($b2) = grep { $_->{nocode_int_id} == 2 } @{ $j->{badges} };
is_deeply([ sort keys %$b2 ],
    [ sort qw(id deleted name first_name last_name phone gender infant vegan feed number batch
              role position photo person comment nocode_int_id ticket directions responsible_id) ],
    'a badge has the original feeder fields');
is($b2->{id}, Ferry::GristRows::uuid(badge => 2), 'badge id');
is($b2->{responsible_id}, Ferry::GristRows::uuid(badge => 1), 'responsible_id: the parent\'s UUID');
is($b2->{person}, Ferry::GristRows::uuid(person => 2), 'person by UUID');
is_deeply($b2->{directions}, [ Ferry::GristRows::uuid(direction => 1) ], 'directions by UUID');
is($b2->{role}, 'ORGANIZER', 'role code');
is($b2->{position}, 'организатор', 'position: the role\'s name when no occupation');
is($b2->{feed}, 'NO', 'feed Без питания as NO');
is($b2->{last_name}, '', 'a null last_name as ""');
is($b2->{phone}, '', 'a null phone as ""');
ok($b2->{infant} && !$b2->{vegan} && !$b2->{deleted}, 'booleans');
is($b2->{batch}, '1', 'batch as a string');
my ($b3) = grep { $_->{nocode_int_id} == 3 } @{ $j->{badges} };
ok($b3->{vegan}, 'Веган: vegan');
is($b3->{feed}, 'CHILD', 'Ребенок: CHILD');
is($b3->{gender}, undef, 'no gender: null');
my ($b1) = grep { $_->{nocode_int_id} == 1 } @{ $j->{badges} };
is($b1->{feed}, 'PAID', 'Платно: PAID');
is($b1->{gender}, 'FEMALE', 'Ж: FEMALE');
my ($b4) = grep { $_->{nocode_int_id} == 4 } @{ $j->{badges} };
is($b4->{feed}, 'FREE', 'Бесплатно: FREE');
is($b4->{gender}, 'MALE', 'М: MALE');
is($b3->{responsible_id}, undef, 'no parent: null');
ok((grep { $_->{nocode_int_id} == 7 && $_->{deleted} } @{ $j->{badges} }), 'a deleted badge, flagged');

my ($e1) = grep { $_->{id} eq Ferry::GristRows::uuid(participation => 1) } @{ $j->{engagements} };
is_deeply([ sort keys %$e1 ],
    [ sort qw(id deleted year person role position status direction last_updated) ], 'engagement fields');
is($e1->{person}, Ferry::GristRows::uuid(person => 1), 'engagement person by UUID');
is($e1->{direction}, Ferry::GristRows::uuid(direction => 1), 'engagement direction by UUID');
is($e1->{role}, 'ORGANIZER', 'engagement role code');
is($e1->{position}, 'организатор', 'engagement position: the role\'s name');
is($e1->{status}, 'CONFIRMED', 'engagement status code');
is($e1->{last_updated}, '2026-06-01T13:00:00.500000+03:00', 'last_updated on UTC+3, with the offset');

my ($p1) = grep { $_->{nocode_int_id} == 1 } @{ $j->{persons} };
is_deeply([ sort keys %$p1 ],
    [ sort qw(id deleted name first_name last_name nickname other_names gender birth_date phone
              telegram email city vegan nocode_int_id banned) ], 'person fields');
is($p1->{other_names}, 'Аня, Annie', 'other_names joined with ", "');
is($p1->{gender}, 'FEMALE', 'person gender as a name');
ok($p1->{vegan}, 'person vegan from diet');
my ($p3) = grep { $_->{nocode_int_id} == 3 } @{ $j->{persons} };
is($p3->{gender}, 'OTHER', 'no gender: OTHER, as the original');
ok((grep { $_->{nocode_int_id} == 4 && $_->{deleted} } @{ $j->{persons} }), 'a deleted person, flagged');

my ($d1) = grep { $_->{nocode_int_id} == 1 } @{ $j->{directions} };
is_deeply([ sort keys %$d1 ], [ sort qw(id deleted name first_year last_year type nocode_int_id) ],
    'direction fields');
is($d1->{type}, 'CITY_SERVICE', 'direction type code');

my ($a1) = grep { $_->{id} eq Ferry::GristRows::uuid(arrival => 1) } @{ $j->{arrivals} };
is_deeply($a1, { id => Ferry::GristRows::uuid(arrival => 1), deleted => JSON::PP::false(),
                 badge => Ferry::GristRows::uuid(badge => 1), status => 'PLANNED',
                 arrival_date => '2026-07-02', departure_date => '2026-07-11',
                 arrival_transport => 'BUS', departure_transport => 'CAR' },
    'an arrival, whole');

# ---------------------------------------------------------------- deltas

my $now = $t->psql(q{SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')});
# the sync rewriting a row with the same values (the overlap window) ...
$t->psql(q{INSERT INTO badge (id, name, nocode_int_id, role_code)
           SELECT id, name, nocode_int_id, role_code FROM badge WHERE nocode_int_id = 4
           ON CONFLICT (nocode_int_id) DO UPDATE SET name = excluded.name,
               role_code = excluded.role_code});
is_deeply(ids(sync($now)->{json})->{badges}, [], 'a row rewritten unchanged is not sent again');
# ... and a delete, a rename
$t->psql(q{UPDATE badge SET deleted = true WHERE nocode_int_id = 5});
$t->psql(q{UPDATE person SET name = 'Борис Б.' WHERE nocode_int_id = 2});
$r = sync($now);
is_deeply(ids($r->{json})->{badges}, [5], 'a badge deleted since');
ok($r->{json}{badges}[0]{deleted}, 'with deleted: true');
is_deeply([ map { $_->{name} } @{ $r->{json}{persons} } ], ['Борис Б.'], 'a person renamed since');
is_deeply(ids(sync("${now}")->{json})->{arrivals}, [], 'nothing else');
is_deeply(ids($t->http(GET => "/api/v1/feeder/sync?from_date=$now")->{json}), ids($r->{json}),
    '/api/v1/feeder/sync');

# ---------------------------------------------------------------- 422

for my $bad (undef, '', 'yesterday', 'now', '2026-13-01T00:00:00Z', '2026-02-30', '2026-06-01T25:00:00Z',
             '1780000000', '2026-06-01T10:00:00+3', '2026-06-01T10:00:00Zjunk') {
    $r = sync($bad);
    is($r->{status}, 422, 'from_date ' . ($bad // 'missing') . ': 422');
    is($r->{json}{field}, 'from_date', 'naming from_date');
}
$r = $t->http(GET => '/feeder/sync?from_date=2026-06-01&since=x');
is($r->{status}, 422, 'an unknown parameter: 422');
is($r->{json}{field}, 'since', 'naming it');

$t->done;
