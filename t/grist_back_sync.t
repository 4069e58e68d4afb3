#!/usr/bin/perl
# POST /feeder/back-sync (issue 13, SPEC D) through nginx with
# conf/ferry-locations.conf as shipped, against the Grist emulator: the
# feeder's badges and arrivals written into Grist (matched on the UUID
# column, created with a 32-hex-digit UUID), the original's value mapping
# (FREE -> "Бесплатно", a role code -> its Roles row, vegan:false -> "Без
# особенностей"), in PostgreSQL after the next sync cycle; batches of at
# most 1 MB with one set of fields each (the emulator's journal), 422s
# that write nothing, and an Idempotency-Key replayed.

use strict;
use warnings;
use utf8;
use Test::More;
use Encode ();
use JSON::PP ();
use Time::HiRes qw(time);
use Time::Local qw(timegm);
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
my $g = Ferry::Grist->new($t, seed_at => time - 3600, tables => Ferry::Grist::sample_tables($N))->start;
$t->start_pg->migrate;
my $conf = $t->shipped_conf;
$t->start_ferryd(SPOOL_DIR => $t->dir . '/spool', $g->settings,
                 GRIST_SYNC_INTERVAL => 1, GRIST_HARD_DELETE_EVERY => 1000);
my %auth = (Authorization => $t->api_user(feeder => 'feed pass'));
$t->start_nginx($conf);

sub q1 { Encode::decode_utf8($t->psql($_[0])) }
sub hex_id { sprintf '%08x%024x', @_ }
sub dashed { my ($h) = @_; join '-', unpack 'A8 A4 A4 A4 A12', $h }
sub uuid_of { dashed(hex_id(@_)) }

sub back {
    my ($body, %h) = @_;
    return $t->http(POST => '/feeder/back-sync', body => JSON::PP->new->utf8->encode($body),
                    headers => { %auth, 'Content-Type' => 'application/json', %h },
                    timeout => 120);
}
sub writes { grep { $_->{method} =~ /^(POST|PATCH)$/ && $_->{path} =~ m{/records$} } $g->journal }

$t->wait_for('the first cycle', sub { $t->sync_cycles >= 1 }, 90);
is(q1('SELECT count(*) FROM badge'), $N, 'the document is in PostgreSQL');

# ---------------------------------------------------------------- auth

is($t->http(POST => '/feeder/back-sync', json => { badges => [] })->{status}, 401,
   'basic auth, as the original');

# ---------------------------------------------------------------- round trip

my $roles = { map { $_->{fields}{Code} => $_->{id} } @{ $g->rows('Roles') } };
my $new_badge = dashed('0123456789abcdef0123456789abcdef');
my $new_arrival = '9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a';
my $r = back({
    badges => [
        { actor_badge => undef, date => '2026-06-01T10:00:00Z',
          data => { id => uuid_of(4, 3), name => 'Изменённый', vegan => JSON::PP::true,
                    feed => 'PAID', role => 'ORGANIZER', gender => 'FEMALE',
                    person => uuid_of(2, 5), directions => [ uuid_of(1, 2) ],
                    number => '77', batch => 3 } },
        { data => { id => $new_badge, name => 'Новый бейдж', vegan => JSON::PP::false,
                    feed => 'FREE', role => 'VOLUNTEER', person => uuid_of(2, 6),
                    directions => [] } },
    ],
    arrivals => [
        { data => { id => $new_arrival, badge => $new_badge, status => 'PLANNED',
                    arrival_date => '2026-07-02', departure_date => '2026-07-09',
                    arrival_transport => 'BUS', departure_transport => 'CAR' } },
        { data => { id => uuid_of(5, 2), status => 'CONFIRMED' } },
    ],
});
is($r->{status}, 200, 'back-sync answered 200') or diag explain $r;
is($r->{json}{message}, 'OK', 'with the original\'s message');
is_deeply([ map { "$_->{result} $_->{row_id}" } @{ $r->{json}{badges} } ],
          [ 'updated 3', 'created ' . ($N + 1) ], 'per-item results: badges');
is_deeply([ map { "$_->{result} $_->{row_id}" } @{ $r->{json}{arrivals} } ],
          [ 'created ' . ($N + 1), 'updated 2' ], 'per-item results: arrivals');

my $b3 = $g->row(Badges_2026 => 3);
is($b3->{name}, 'Изменённый', 'a matched badge patched');
is($b3->{diet}, 'Веган', 'vegan:true -> "Веган"');
is($b3->{feed_type}, 'Платно', 'PAID -> "Платно"');
is($b3->{role}, $roles->{ORGANIZER}, 'a role code -> its Roles row');
is($b3->{gender}, 'Ж', 'FEMALE -> "Ж"');
is($b3->{person}, 5, 'the person uuid -> its People row (from PostgreSQL)');
is_deeply($b3->{directions_ref}, [2], 'directions -> Teams rows (from PostgreSQL)');
ok(abs($b3->{feeder_update} - time) < 60, 'feeder_update stamped');
is($b3->{number}, '', 'number is accepted but not written, as the original');

my $nb = $g->row(Badges_2026 => $N + 1);
like($nb->{UUID}, qr/^[0-9a-f]{32}\z/, 'a created row\'s UUID: 32 lowercase hex digits');
is($nb->{UUID}, '0123456789abcdef0123456789abcdef', 'the item\'s id');
is($nb->{diet}, 'Без особенностей', 'vegan:false -> "Без особенностей"');
is($nb->{feed_type}, 'Бесплатно', 'FREE -> "Бесплатно"');
is($nb->{role}, $roles->{VOLUNTEER}, 'VOLUNTEER -> its Roles row');
is($nb->{directions_ref}, undef, 'no directions -> null');
my $na = $g->row(Arrivals_2026 => $N + 1);
is($na->{badge}, $N + 1, 'an arrival names the badge created in the same request');
is($na->{arrival_date}, timegm(0, 0, 0, 2, 6, 2026), 'a date -> its midnight UTC');
is($g->row(Arrivals_2026 => 2)->{status}, 2, 'a status code -> its Participation_statuses row');

$t->wait_sync_cycles(2);
is(q1("SELECT name || ' ' || diet || ' ' || feed || ' ' || role_code || ' ' || gender "
      . "|| ' ' || person_id FROM badge WHERE nocode_int_id = 3"),
   'Изменённый Веган Платно ORGANIZER Ж 5', 'the patched badge in PostgreSQL after a cycle');
is(q1("SELECT string_agg(direction_id::text, ',') FROM badge_directions WHERE badge_id = 3"), '2',
   'with its directions');
is(q1("SELECT nocode_int_id || ' ' || feed || ' ' || diet FROM badge WHERE id = '$new_badge'"),
   ($N + 1) . ' Бесплатно Без особенностей', 'the created badge in PostgreSQL, under its uuid');
is(q1("SELECT a.arrival_date || ' ' || a.arrival_transport || ' ' || a.departure_transport "
      . "|| ' ' || a.status || ' ' || b.id FROM arrival a JOIN badge b "
      . "ON b.nocode_int_id = a.badge_id WHERE a.id = '$new_arrival'"),
   "2026-07-02 BUS CAR PLANNED $new_badge", 'the created arrival in PostgreSQL');
my $f = $t->http(GET => '/feeder/sync?from_date=2000-01-01T00:00:00Z')->{json};
my ($fb) = grep { $_->{id} eq $new_badge } @{ $f->{badges} };
is(join(' ', $fb->{feed}, $fb->{vegan} ? 'vegan' : 'any', $fb->{role}), 'FREE any VOLUNTEER',
   'and /feeder/sync gives it back in the feeder\'s codes');

# ---------------------------------------------------------------- the key

$g->edit(Badges_2026 => { 7 => { UUID => uc dashed(hex_id(4, 7)) } });
$g->edit(Badges_2026 => { 8 => { UUID => '' } });
$t->wait_sync_cycles(2);
my $rows_before = @{ $g->rows('Badges_2026') };
$r = back({ badges => [ { data => { id => uuid_of(4, 7), comment => 'dashed' } },
                        { data => { id => uuid_of(4, 8), comment => 'no UUID' } } ] });
is_deeply([ map { "$_->{result} $_->{row_id}" } @{ $r->{json}{badges} } ], [ 'updated 7', 'updated 8' ],
          'matched by a dashed UUID, and by the row PostgreSQL knows when the UUID is empty');
is(scalar @{ $g->rows('Badges_2026') }, $rows_before, 'no row created');
is($g->row(Badges_2026 => 8)->{UUID}, hex_id(4, 8), 'the empty UUID written, so the key matches next time');
is($g->row(Badges_2026 => 7)->{comment}, 'dashed', 'the dashed one patched');

# ---------------------------------------------------------------- one set of fields a PATCH

my $mark = scalar writes();
$r = back({ badges => [ { data => { id => uuid_of(4, 10), comment => 'a' } },
                        { data => { id => uuid_of(4, 11), name => 'Б11' } },
                        { data => { id => uuid_of(4, 12), comment => 'c' } },
                        { data => { id => uuid_of(4, 13), name => 'Б13', deleted => JSON::PP::false } } ] });
is($r->{status}, 200, 'items with different keys') or diag explain $r->{json};
my @patches = grep { $_->{method} eq 'PATCH' } (writes())[ $mark .. scalar(writes()) - 1 ];
is(scalar @patches, 3, 'one PATCH per set of fields');
is(scalar(grep {
       my %k = map { join(',', sort keys %{ $_->{fields} }) => 1 } @{ $_->{json}{records} };
       keys %k != 1
   } @patches), 0, 'every record of a PATCH carries the same fields');
is(scalar(grep { $_->{status} != 200 } @patches), 0, 'and Grist took each');
is($g->row(Badges_2026 => 12)->{comment}, 'c', 'both comments in the one PATCH written');

# ---------------------------------------------------------------- 1 MB batches

my $comment = 'x' x 700;
my @many = map { { data => { id => dashed(sprintf('%032x', 0xabc0000 + $_)), name => "Пачка $_",
                             vegan => JSON::PP::false, feed => 'NO', role => 'VOLUNTEER',
                             comment => "$comment $_" } } } 1 .. 2500;
$mark = scalar writes();
$r = back({ badges => \@many });
is($r->{status}, 200, 'a 2 MB back-sync') or diag explain $r->{json}{error};
is(scalar(grep { $_->{result} eq 'created' } @{ $r->{json}{badges} }), 2500, 'every badge created');
my @posts = grep { $_->{method} eq 'POST' } (writes())[ $mark .. scalar(writes()) - 1 ];
ok(@posts >= 2, 'in several POSTs (' . scalar(@posts) . ')');
is(scalar(grep { $_->{body_length} > 1024 * 1024 } @posts), 0, 'none over 1 MB');
ok((grep { $_->{body_length} > 900 * 1024 } @posts) >= 1, 'each filled close to it');
is(scalar(grep { $_->{status} != 200 } @posts), 0, 'every one taken by Grist');
is(scalar(grep { ($_->{fields}{UUID} // '') =~ /^0{25}abc/ } @{ $g->rows('Badges_2026') }),
   2500, 'all 2500 rows in Grist');

# ---------------------------------------------------------------- 422

$mark = scalar writes();
my @bad = (
    [ { badges => {} }, 'badges', 'badges not a list' ],
    [ { badges => [ 7 ] }, 'badges[0]', 'an item not an object' ],
    [ { badges => [ { data => { name => 'x' } } ] }, 'badges[0].data.id', 'no id' ],
    [ { badges => [ { data => { id => 'not-a-uuid' } } ] }, 'badges[0].data.id', 'an id not a uuid' ],
    [ { badges => [ { data => { id => uuid_of(4, 1) } }, { data => { id => uuid_of(4, 2), feed => 'LOTS' } } ] },
      'badges[1].data.feed', 'an unknown feed' ],
    [ { badges => [ { data => { id => uuid_of(4, 1), gender => 'X' } } ] }, 'badges[0].data.gender', 'a gender' ],
    [ { badges => [ { data => { id => uuid_of(4, 1), vegan => 'yes' } } ] }, 'badges[0].data.vegan', 'vegan not a bool' ],
    [ { badges => [ { data => { id => uuid_of(4, 1), role => 'KING' } } ] }, 'badges[0].data.role', 'an unknown role' ],
    [ { badges => [ { data => { id => uuid_of(4, 1), person => uuid_of(9, 9) } } ] }, 'badges[0].data.person',
      'a person PostgreSQL lacks' ],
    [ { badges => [ { data => { id => uuid_of(4, 1), directions => [ uuid_of(9, 9) ] } } ] },
      'badges[0].data.directions', 'a direction PostgreSQL lacks' ],
    [ { badges => [ { data => { id => uuid_of(4, 1) } }, { data => { id => uuid_of(4, 1) } } ] },
      'badges[1].data.id', 'one id twice' ],
    [ { arrivals => [ { data => { id => uuid_of(5, 1), arrival_date => '2026-02-30' } } ] },
      'arrivals[0].data.arrival_date', 'a date that does not exist' ],
    [ { arrivals => [ { data => { id => uuid_of(5, 1), badge => uuid_of(9, 9) } } ] },
      'arrivals[0].data.badge', 'a badge nobody has' ],
    [ { arrivals => [ { data => { id => uuid_of(5, 1), arrival_transport => 'PLANE' } } ] },
      'arrivals[0].data.arrival_transport', 'an unknown transport' ],
);
for my $case (@bad) {
    my ($body, $field, $name) = @$case;
    my $res = back($body);
    is($res->{status}, 422, "422: $name");
    is($res->{json}{field}, $field, "  naming $field");
    like($res->{json}{error} // '', qr/^\Q$field\E/, '  in the message');
}
is(scalar(writes()) - $mark, 0, 'a refused request wrote nothing to Grist');

# ---------------------------------------------------------------- Idempotency-Key

my $once = { badges => [ { data => { id => 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', name => 'Однажды',
                                     vegan => JSON::PP::false, feed => 'FREE', role => 'VOLUNTEER' } } ] };
my $rows_at = @{ $g->rows('Badges_2026') };
$mark = scalar writes();
my $first = back($once, 'Idempotency-Key' => '"bs-1"');
is($first->{status}, 200, 'with an Idempotency-Key');
is($first->{json}{badges}[0]{result}, 'created', 'created');
my $again = back($once, 'Idempotency-Key' => '"bs-1"');
is($again->{status}, 200, 'the same key again: 200');
is_deeply($again->{json}, $first->{json}, 'the first answer replayed');
is(scalar(writes()) - $mark, 1, 'Grist written once');
is(back({ badges => [] }, 'Idempotency-Key' => '"bs-1"')->{status}, 422,
   'the key with another body: 422');
my $plain = back($once);
is($plain->{status}, 200, 'without a key the request is carried out again');
is($plain->{json}{badges}[0]{result}, 'updated', 'and finds the row by its UUID');
is(scalar @{ $g->rows('Badges_2026') }, $rows_at + 1, 'one row, not two');

# ---------------------------------------------------------------- deleted

$r = back({ badges => [ { data => { id => uuid_of(4, 15), deleted => JSON::PP::true } } ] });
my $b15 = $g->row(Badges_2026 => 15);
ok($b15->{to_delete} && $b15->{delete_reason} eq 'FEEDER: deleted', 'deleted:true marks the row in Grist');
$t->wait_for('the badge deleted in PostgreSQL',
             sub { q1('SELECT deleted::text FROM badge WHERE nocode_int_id = 15') eq 'true' }, 60);
pass('and PostgreSQL marks it deleted');
back({ badges => [ { data => { id => uuid_of(4, 15), deleted => JSON::PP::false } } ] });
is($g->row(Badges_2026 => 15)->{to_delete}, undef, 'deleted:false clears it');
$t->wait_for('the badge restored in PostgreSQL',
             sub { q1('SELECT deleted::text FROM badge WHERE nocode_int_id = 15') eq 'false' }, 60);
pass('and PostgreSQL restores it');

# ---------------------------------------------------------------- Grist down

$g->fault(path => '/api/docs/*rest', method => 'PATCH', status => 500, times => 20);
$r = back({ badges => [ { data => { id => uuid_of(4, 16), comment => 'down' } } ] },
          'Idempotency-Key' => '"bs-down"');
is($r->{status}, 502, 'Grist failing: 502');
is($r->{json}{badges}[0]{result}, 'failed', 'the item says so');
$g->clear_faults;
$r = back({ badges => [ { data => { id => uuid_of(4, 16), comment => 'down' } } ] },
          'Idempotency-Key' => '"bs-down"');
is($r->{status}, 200, 'the same key once Grist is back: carried out, not a replay of the 502');
is($g->row(Badges_2026 => 16)->{comment}, 'down', 'written');

$t->done;
