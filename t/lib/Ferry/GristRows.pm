package Ferry::GristRows;
# Rows of the Grist sync's PostgreSQL tables (migration 009), written by SQL
# the way the sync would leave them, for the read API and feeder tests:
# directions, persons, participations, badges with their directions and
# parents, arrivals; some of each deleted.

use strict;
use warnings;

# uuid of a row: stable per table and row id, so tests can compute it
sub uuid {
    my ($kind, $n) = @_;
    my %p = (direction => 'd', person => 'e', participation => 'f', badge => 'b', arrival => 'a');
    return sprintf('%s0000000-0000-4000-8000-%012d', $p{$kind}, $n);
}

# Fills the tables: directions 1-3 (3 deleted), persons 1-4 (4 deleted),
# participations 1-3 (3 deleted), badges 1-$nb (every 7th deleted), arrivals
# 1-6 (6 deleted).
sub seed {
    my ($t, $nb) = @_;
    $nb //= 30;
    my $d = sub { uuid('direction', $_[0]) };
    my $p = sub { uuid('person', $_[0]) };
    $t->psql(<<"SQL");
INSERT INTO direction (id, name, type, first_year, last_year, nocode_int_id, deleted) VALUES
  ('@{[$d->(1)]}', 'Кухня', 'Городская служба', 2010, NULL, 1, false),
  ('@{[$d->(2)]}', 'Поляна', 'Полевая служба', 2015, 2025, 2, false),
  ('@{[$d->(3)]}', 'Старое', NULL, 2001, 2002, 3, true);
INSERT INTO person (id, name, first_name, last_name, nickname, other_names, gender,
                    birth_date, diet, telegram, banned, nocode_int_id, deleted) VALUES
  ('@{[$p->(1)]}', 'Анна Ли', 'Анна', 'Ли', 'ann', '{Аня,Annie}', 'Ж', '1990-05-02',
   'Веган', '\@ann', false, 1, false),
  ('@{[$p->(2)]}', 'Борис', 'Борис', NULL, NULL, NULL, 'М', NULL, NULL, NULL, true, 2, false),
  ('@{[$p->(3)]}', 'Ви', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false, 3, false),
  ('@{[$p->(4)]}', 'Гоша', NULL, NULL, NULL, NULL, 'М', NULL, NULL, NULL, false, 4, true);
INSERT INTO participation (id, year, person_id, direction_id, role_code, status_code,
                           nocode_int_id, deleted) VALUES
  ('@{[uuid('participation', 1)]}', 2026, 1, 1, 'ORGANIZER', 'CONFIRMED', 1, false),
  ('@{[uuid('participation', 2)]}', 2026, 2, 2, 'VOLUNTEER', NULL, 2, false),
  ('@{[uuid('participation', 3)]}', 2025, 3, 1, 'VOLUNTEER', 'PLANNED', 3, true);
INSERT INTO badge (id, name, first_name, last_name, gender, phone, diet, feed, number,
                   batch, occupation, role_code, person_id, child, ticket,
                   nocode_int_id, deleted)
SELECT ('b0000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid,
       'Badge ' || n, CASE WHEN n % 2 = 0 THEN 'Имя' || n END, NULL,
       (ARRAY['М', 'Ж', 'др.', NULL])[n % 4 + 1], NULL,
       CASE WHEN n % 3 = 0 THEN 'Веган' ELSE 'Без особенностей' END,
       (ARRAY['Бесплатно', 'Платно', 'Без питания', 'Ребенок'])[n % 4 + 1],
       'N' || n, n % 2 + 1, CASE WHEN n % 5 = 0 THEN 'повар' END,
       (ARRAY['VOLUNTEER', 'ORGANIZER', 'MEDIC', 'CONTRACTOR', 'VIP'])[(n - 1) % 5 + 1],
       CASE WHEN n <= 3 THEN n END, n = 2, n % 4 = 0, n, n % 7 = 0
FROM generate_series(1, $nb) n;
UPDATE badge SET parent_id = 1 WHERE nocode_int_id = 2;
INSERT INTO badge_directions (badge_id, direction_id)
SELECT n, CASE WHEN n % 3 = 0 THEN 2 ELSE 1 END FROM generate_series(1, $nb) n
WHERE n % 4 <> 0;
INSERT INTO badge_directions (badge_id, direction_id) VALUES (1, 2);
INSERT INTO arrival (id, badge_id, arrival_date, departure_date, arrival_transport,
                     departure_transport, status, nocode_int_id, deleted)
SELECT ('a0000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, n,
       date '2026-07-01' + n, date '2026-07-10' + n, 'BUS', 'CAR', 'PLANNED', n, n = 6
FROM generate_series(1, 6) n;
SQL
}

1;
