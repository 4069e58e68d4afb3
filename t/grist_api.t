#!/usr/bin/perl
# The Grist sync's read API (issue 13, SPEC D) through nginx with
# conf/ferry-locations.conf as shipped: basic auth (401 with
# WWW-Authenticate: Basic), the original's shapes, its filters (party,
# colour, direction, role by code or name), paging both ways, deleted rows
# left out unless asked for, 422 for unknown filters and bad values, the
# same routes under /api/v1, and /sync/status behind the JWT.

use strict;
use warnings;
use Test::More;
use MIME::Base64;
use lib 't/lib';
use Ferry::Test;
use Ferry::GristRows;

Ferry::Test::skip_unless_built();

my $t = Ferry::Test->new;
$t->start_pg->migrate;
Ferry::GristRows::seed($t, 30);
# no GRIST__SERVER: no sync cycle writes the state this test fills itself
my $conf = $t->shipped_conf;
$t->start_ferryd(SPOOL_DIR => $t->dir . '/spool', GRIST_YEAR => 2027);

my %auth = (Authorization => $t->api_user(feeder => 's3cret pass'));
$t->start_nginx($conf);

sub get {
    my ($path, %h) = @_;
    return $t->http(GET => $path, headers => { %auth, %h });
}

sub ids { [ map { $_->{nocode_int_id} } @{ $_[0] } ] }

sub sql_ids {
    my ($sql) = @_;
    return [ map { $_ + 0 } grep { length } split /\n/, $t->psql($sql) ];
}

# ---------------------------------------------------------------- basic auth

my $r = $t->http(GET => '/badges');
is($r->{status}, 401, 'no credentials: 401');
like($r->{headers}{'www-authenticate'} // '', qr/^Basic realm="Ferry"/, 'WWW-Authenticate: Basic');
$r = $t->http(GET => '/badges',
    headers => { Authorization => 'Basic ' . encode_base64('feeder:wrong', '') });
is($r->{status}, 401, 'a wrong password: 401');
$r = $t->http(GET => '/api/v1/persons');
is($r->{status}, 401, 'the /api/v1 prefix is behind the same auth');

# ---------------------------------------------------------------- badges

my $live = sql_ids('SELECT nocode_int_id FROM badge WHERE NOT deleted ORDER BY 1');
$r = get('/badges');
is($r->{status}, 200, 'GET /badges with credentials: 200');
is_deeply(ids($r->{json}), [ @$live[0 .. 9] ], 'ten live badges by default, in row id order');

my $b2 = (grep { $_->{nocode_int_id} == 2 } @{ $r->{json} })[0];
is_deeply([ sort keys %$b2 ],
    [ sort qw(id name last_name first_name nickname gender phone parent child diet vegan feed
              number batch role color photo person comment occupation nocode_int_id deleted
              ticket last_updated directions) ],
    'a badge carries the original model\'s fields');
is($b2->{id}, Ferry::GristRows::uuid(badge => 2), 'id is the Grist UUID');
is($b2->{role}, 'ORGANIZER', 'role as its code');
is($b2->{color}, 'RED', 'an organizer\'s badge is red');
is($b2->{parent}, 1, 'parent as the parent badge\'s row id');
ok($b2->{child} && !$b2->{deleted}, 'child and deleted are booleans');
is($b2->{batch}, '1', 'batch as a string, as the original serialised it');
is($b2->{person}, 2, 'person as its row id without include_person');
is($b2->{occupation}, 'организатор', 'an empty occupation is the role\'s name');
is($b2->{gender}, 'OTHER', 'gender др. as OTHER');
is_deeply($b2->{directions}, [], 'directions only on include_directions, as the original');
like($b2->{last_updated}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+03:00$/,
    'last_updated on the original\'s UTC+3 clock, with its offset');
my $b3 = (grep { $_->{nocode_int_id} == 3 } @{ $r->{json} })[0];
ok($b3->{vegan} && $b3->{diet} eq 'VEGAN', 'Веган is vegan');

$r = get('/badges?page=2&page_size=5');
is_deeply(ids($r->{json}), [ @$live[5 .. 9] ], 'page=2&page_size=5');
$r = get('/badges?limit=4&offset=7');
is_deeply(ids($r->{json}), [ @$live[7 .. 10] ], 'limit=4&offset=7');
$r = get('/badges?page=100');
is_deeply($r->{json}, [], 'a page past the end is empty');
$r = get('/badges?limit=1000');
is(scalar @{ $r->{json} }, scalar @$live, 'limit=1000: every live badge, none deleted');
ok(!grep({ $_->{deleted} } @{ $r->{json} }), 'no deleted badge without include_deleted');
$r = get('/badges?limit=1000&include_deleted=true');
is_deeply(ids($r->{json}), sql_ids('SELECT nocode_int_id FROM badge ORDER BY 1'),
    'include_deleted=true: the deleted ones too');
ok((grep { $_->{nocode_int_id} == 7 && $_->{deleted} } @{ $r->{json} }), 'marked deleted');

for my $role ('ORGANIZER', 'организатор', 'organizer') {
    $r = get("/badges?limit=1000&role=$role");
    is_deeply(ids($r->{json}),
        sql_ids("SELECT nocode_int_id FROM badge WHERE role_code = 'ORGANIZER' AND NOT deleted ORDER BY 1"),
        "role=$role: the organizers");
}
for my $color ('GREEN', 'зеленый') {
    $r = get("/badges?limit=1000&color=$color");
    is_deeply(ids($r->{json}),
        sql_ids("SELECT nocode_int_id FROM badge WHERE role_code = 'VOLUNTEER' AND NOT deleted ORDER BY 1"),
        "color=$color: the volunteers");
}
$r = get('/badges?limit=1000&color=ORANGE');
is_deeply(ids($r->{json}),
    sql_ids("SELECT nocode_int_id FROM badge WHERE role_code = 'VIP' AND NOT deleted ORDER BY 1"),
    'color=ORANGE: a role without a colour of its own');
for my $dir ('CITY_SERVICE', 'Городская%20служба', Ferry::GristRows::uuid(direction => 1)) {
    $r = get("/badges?limit=1000&direction=$dir");
    is_deeply(ids($r->{json}),
        sql_ids('SELECT DISTINCT badge_id FROM badge_directions JOIN badge ON nocode_int_id = badge_id '
              . 'WHERE direction_id = 1 AND NOT deleted ORDER BY 1'),
        "direction=$dir: badges of the direction");
}
$r = get('/badges?limit=1000&direction=FIELD_SERVICE&role=VOLUNTEER&batch=1');
is_deeply(ids($r->{json}),
    sql_ids("SELECT nocode_int_id FROM badge b WHERE role_code = 'VOLUNTEER' AND batch = 1 AND NOT deleted "
          . "AND EXISTS (SELECT 1 FROM badge_directions WHERE badge_id = b.nocode_int_id AND direction_id = 2) ORDER BY 1"),
    'filters combine');
for my $q ('batch=2', 'party=2') {
    $r = get("/badges?limit=1000&$q");
    is_deeply(ids($r->{json}),
        sql_ids('SELECT nocode_int_id FROM badge WHERE batch = 2 AND NOT deleted ORDER BY 1'), "$q: one party");
}
$r = get('/badges?infants=' . Ferry::GristRows::uuid(badge => 1));
is_deeply(ids($r->{json}), [2], 'infants=<parent uuid>: its children');
$r = get('/badges?occupation=повар&limit=1000');
is_deeply(ids($r->{json}),
    sql_ids("SELECT nocode_int_id FROM badge WHERE occupation = 'повар' AND NOT deleted ORDER BY 1"), 'occupation');

$r = get('/badges?role=VOLUNTEER&include_person=true&include_directions=true&limit=3');
my ($b1) = grep { $_->{nocode_int_id} == 1 } @{ $r->{json} };
is($b1->{person}{name}, 'Анна Ли', 'include_person=true embeds the person');
is_deeply([ map { $_->{nocode_int_id} } @{ $b1->{directions} } ], [1, 2],
    'include_directions=true lists the directions');
is($b1->{directions}[0]{type}, 'CITY_SERVICE', 'with the type as its code');

for my $bad (['role=NOPE', 'role'], ['color=PINK', 'color'], ['direction=NOWHERE', 'direction'],
             ['batch=x', 'batch'], ['party=-1', 'party'], ['infants=abc', 'infants'],
             ['page=0', 'page'], ['page_size=1001', 'page_size'], ['limit=0', 'limit'],
             ['offset=-1', 'offset'], ['include_deleted=maybe', 'include_deleted'],
             ['include_person=yes', 'include_person'], ['colour=RED', 'colour'],
             ['page=1&limit=5', 'limit']) {
    $r = get("/badges?$bad->[0]");
    is($r->{status}, 422, "$bad->[0]: 422");
    is($r->{json}{field}, $bad->[1], "naming $bad->[1]");
    ok(length($r->{json}{error} // ''), 'with a message');
}

# ---------------------------------------------------------------- the others

$r = get('/persons');
my $p = get('/people');
is_deeply($p->{json}, $r->{json}, '/people is /persons');
is_deeply(ids($r->{json}), [1, 2, 3], 'live persons');
is_deeply($r->{json}[0]{other_names}, ['Аня', 'Annie'], 'other_names as a list');
is($r->{json}[0]{gender}, 'Ж', 'a person\'s gender raw, as the original');
ok($r->{json}[1]{banned}, 'banned');
is_deeply(ids(get('/persons?include_deleted=true')->{json}), [1, 2, 3, 4], 'and the deleted one');
is_deeply(ids(get('/persons?page=2&page_size=2')->{json}), [3], 'persons paged');
is(get('/persons?name=x')->{status}, 422, '/persons takes no filter');

$r = get('/directions');
is_deeply(get('/places')->{json}, $r->{json}, '/places is /directions');
is_deeply(ids($r->{json}), [1, 2], 'every live direction without paging');
is($r->{json}[0]{type}, 'CITY_SERVICE', 'type as its code');
is_deeply($r->{json}[0]{badges}, [], 'badges: the original\'s empty list');
is_deeply(ids(get('/directions?page_size=1&page=2')->{json}), [2], 'directions paged on request');

$r = get('/participation');
is_deeply(ids($r->{json}), [1, 2], 'live participations');
is($r->{json}[0]{role}, 'организатор', 'role by its Russian name');
is($r->{json}[0]{status}, 'подтверждено накануне', 'status by its Russian name');
is($r->{json}[0]{person}, 1, 'person as its row id');
is($r->{json}[1]{status}, undef, 'no status: null');

$r = get('/arrivals');
is_deeply(ids($r->{json}), [1 .. 5], 'live arrivals');
is($r->{json}[0]{badge}, Ferry::GristRows::uuid(badge => 1), 'an arrival\'s badge by its UUID');
is($r->{json}[0]{arrival_date}, '2026-07-02', 'dates as YYYY-MM-DD');
is($r->{json}[0]{arrival_transport}, 'BUS', 'transport as its code');
is($r->{json}[0]{status}, 'PLANNED', 'status as its code');

$r = get('/api/v1/badges?page_size=3');
is_deeply(ids($r->{json}), [ @$live[0 .. 2] ], '/api/v1/badges is /badges');
is_deeply(get('/api/v1/places')->{json}, get('/directions')->{json}, '/api/v1/places');

# ---------------------------------------------------------------- /sync/status

$t->psql(<<'SQL');
INSERT INTO grist_sync_state (table_id, last_updated_at, rows_seen, rows_written, rows_rejected,
    rows_total, last_error, last_error_at, last_success_at, last_cycle_at, cycles_since_idset)
VALUES ('People', 1780000000, 40, 38, 2, 38, NULL, NULL, now() - interval '20 seconds', now(), 3),
       ('Badges_2027', NULL, 0, 0, 0, 0, 'Grist answered 502', now(), now() - interval '90 seconds',
        now() - interval '5 seconds', 0);
INSERT INTO grist_queue (kind, table_id, row_id, reason) VALUES ('delete', 'People', 5, 'Empty name');
INSERT INTO grist_queue (kind, table_id, row_id) VALUES ('restore', 'People', 6);
INSERT INTO grist_queue (kind, table_id, row_id, reason, attempts, last_error, parked)
VALUES ('delete', 'Badges_2027', 9, 'Empty diet', 5, 'Grist answered 500', true);
SQL
$r = $t->http(GET => '/sync/status');
is($r->{status}, 401, '/sync/status without a token: 401');
$r = $t->http(GET => '/sync/status', headers => \%auth);
is($r->{status}, 401, 'basic auth is not enough for /sync/status');
my $token = $t->user_token('status@example.com');
$r = $t->http(GET => '/sync/status', headers => { Authorization => "Bearer $token" });
is($r->{status}, 200, '/sync/status with a token');
my $s = $r->{json};
ok(!$s->{configured}, 'not configured: no GRIST__SERVER');
is($s->{year}, 2027, 'the season');
is($s->{interval_seconds}, 30, 'the interval');
ok($s->{lag_seconds} >= 90 && $s->{lag_seconds} < 200, 'lag: the oldest table\'s last success');
is_deeply([ map { $_->{table} } @{ $s->{tables} } ], ['Badges_2027', 'People'], 'one entry a table');
is($s->{tables}[0]{last_error}, 'Grist answered 502', 'a table\'s last error');
is($s->{tables}[1]{rows_rejected}, 2, 'counts');
like($s->{tables}[1]{last_updated_at}, qr/^2026-05-28T/, 'last Grist updated_at seen, as a date');
is_deeply($s->{queue}, { delete => 1, restore => 1, parked => 1,
                         oldest_pending_at => $s->{queue}{oldest_pending_at} }, 'queue lengths');
is(scalar @{ $s->{parked} }, 1, 'the parked message listed');
is($s->{parked}[0]{last_error}, 'Grist answered 500', 'with its error');
is($s->{parked}[0]{reason}, 'Empty diet', 'and its reason');
is($t->http(GET => '/api/v1/sync/status', headers => { Authorization => "Bearer $token" })->{status},
    200, '/api/v1/sync/status');

$t->done;
