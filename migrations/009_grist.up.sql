-- The Grist ⇄ PostgreSQL sync (SPEC D, issue 13): the original agreemod
-- service's tables with its names and codes, so that its feeder clients
-- read the same rows, and Ferry's own sync state and delete/restore queue.
-- Sources (../shared/reference/agreemod-grist.md):
--   badge_color, direction_type, participation_status, transport_type,
--   participation_role: §3 rows of the same names; seeded with the codes
--   and names of the original's dictionaries/*.py, as its alembic
--   migrations 5e144e40c20d and ef9c8d0cde2c do. participation_role is
--   filled from Grist's Roles in the original (§1 "Lookup tables"); it is
--   seeded here too with the roles the original's badge colour logic needs
--   (§5), each with the colour app/models/badge.py gives it.
--   direction (Teams), person (People), participation (Participations),
--   badge and badge_directions (Badges_<year>), arrival (Arrivals_<year>):
--   §3 columns, §1 for the Grist side.
--   grist_sync_state replaces the original's sync_state (§2 "State
--   storage"); grist_queue replaces its RabbitMQ queues delete_records
--   and restore_records (§2 "Queues").
-- Unlike the original: nocode_int_id (the Grist row id) is NOT NULL and
-- unique per table, it is what the sync upserts on; deleted is NOT NULL
-- (the original's NULL read as false); last_updated is a timestamptz
-- (the original stored a UTC+3 wall clock) and grist_touch() moves it only
-- when a row really changes, so that the feeder is not sent rows that did
-- not (§5, the overlap window bug).

CREATE TABLE badge_color (
    code     varchar PRIMARY KEY,
    color    varchar NOT NULL,
    comment  varchar
);

INSERT INTO badge_color (code, color) VALUES
    ('RED', 'красный'),
    ('GREEN', 'зеленый'),
    ('PURPLE', 'фиолетовый'),
    ('YELLOW', 'желтый'),
    ('ORANGE', 'оранжевый'),
    ('BLUE', 'синий'),
    ('GRAY', 'серый'),
    ('DEFAULT', 'белый');

CREATE TABLE direction_type (
    code        varchar PRIMARY KEY,
    name        varchar NOT NULL UNIQUE,
    is_federal  boolean NOT NULL,
    comment     varchar
);

INSERT INTO direction_type (code, name, is_federal) VALUES
    ('CITY_SERVICE', 'Городская служба', true),
    ('FIELD_SERVICE', 'Полевая служба', true),
    ('UNIVERSAL_SERVICE', 'Универсальная служба', true),
    ('FEDERAL_LOCATION', 'Федеральная локация', true),
    ('GRANT_LOCATION', 'Грантовая локация', false),
    ('COMMERCIAL_LOCATION', 'Коммерческая локация', false),
    ('LATERAL_LOCATION', 'Сторонняя локация', true),
    ('RESPONSIBILITY_AREA', 'Зона ответственности', true);

CREATE TABLE participation_status (
    code     varchar PRIMARY KEY,
    name     varchar NOT NULL,
    to_list  boolean NOT NULL DEFAULT true,
    comment  varchar
);

INSERT INTO participation_status (code, name, to_list) VALUES
    ('PLANNED', 'планируется', true),
    ('CANCELLED', 'отменилось', false),
    ('PENDING', 'ждём ответа', true),
    ('CONFIRMED', 'подтверждено накануне', true),
    ('SKIPPED', 'не доехал', false),
    ('ARRIVED', 'заехал на поле', true),
    ('STARTED', 'приступил', true),
    ('LEFT', 'ушел', false),
    ('COMPLETE', 'состоялось', true),
    ('JOINED', 'прибился', true);

CREATE TABLE transport_type (
    code     varchar PRIMARY KEY,
    name     varchar NOT NULL,
    comment  varchar
);

INSERT INTO transport_type (code, name) VALUES
    ('UNDEFINED', 'Не определен'),
    ('SELF', 'Своим ходом'),
    ('BUS', 'На автобусе'),
    ('CAR', 'На машине'),
    ('TRANSFER', 'Трансфер от фестиваля'),
    ('MOVE', 'Смена направления');

CREATE TABLE participation_role (
    code          varchar PRIMARY KEY,
    name          varchar NOT NULL,
    is_lead       boolean,
    is_team       boolean,
    is_free_feed  boolean,
    color         varchar REFERENCES badge_color (code),
    notion_id     uuid,
    comment       varchar
);

INSERT INTO participation_role
    (code, name, is_lead, is_team, is_free_feed, color) VALUES
    ('ORGANIZER', 'организатор', true, true, true, 'RED'),
    ('VICE', 'зам руководителя', false, true, true, 'GREEN'),
    ('TEAM_LEAD', 'бригадир', false, true, true, 'GREEN'),
    ('VOLUNTEER', 'волонтёр', false, true, true, 'GREEN'),
    ('MEDIC', 'медик', false, true, true, 'PURPLE'),
    ('CAMP_LEAD', 'лидер нефедеральной локации', true, true, true, 'BLUE'),
    ('CAMP_GUY', 'волонтёр нефедеральной локации', false, false, false,
     'BLUE'),
    ('ANIMATOR', 'аниматор', false, false, false, 'ORANGE'),
    ('LECTOR', 'лектор', false, false, true, 'ORANGE'),
    ('MASTER', 'мастер', false, false, true, 'ORANGE'),
    ('ARTIST', 'артист', false, false, true, 'ORANGE'),
    ('ART_FELLOW', 'сопровождающий артиста', false, false, false, 'ORANGE'),
    ('FELLOW', 'свои', false, false, false, 'YELLOW'),
    ('VIP', 'VIP', false, false, false, 'ORANGE'),
    ('PRESS', 'пресса', false, false, false, 'ORANGE'),
    ('OTHER', 'другие', false, false, false, 'ORANGE'),
    ('CONTRACTOR', 'подрядчик', false, false, false, 'GRAY');

-- Moves last_updated on a real change only: an upsert that rewrites the
-- same values (the overlap window re-reads rows every cycle) keeps it.
CREATE FUNCTION grist_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.last_updated := clock_timestamp();
        RETURN NEW;
    END IF;
    NEW.last_updated := OLD.last_updated;
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.last_updated := clock_timestamp();
    END IF;
    RETURN NEW;
END
$$;

CREATE TABLE direction (
    id             uuid NOT NULL PRIMARY KEY,
    name           varchar NOT NULL,
    type           varchar REFERENCES direction_type (name) ON UPDATE CASCADE,
    first_year     integer,
    last_year      integer,
    nocode_int_id  integer NOT NULL UNIQUE,
    deleted        boolean NOT NULL DEFAULT false,
    last_updated   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE person (
    id             uuid NOT NULL PRIMARY KEY,
    name           varchar NOT NULL,
    last_name      varchar,
    first_name     varchar,
    nickname       varchar,
    other_names    varchar[],
    gender         varchar,
    birth_date     date,
    city           varchar,
    telegram       varchar,
    phone          varchar,
    email          varchar,
    diet           varchar,
    comment        varchar,
    banned         boolean NOT NULL DEFAULT false,
    nocode_int_id  integer NOT NULL UNIQUE,
    deleted        boolean NOT NULL DEFAULT false,
    last_updated   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE participation (
    id             uuid NOT NULL PRIMARY KEY,
    coda_index     varchar UNIQUE,
    year           integer,
    person_id      integer NOT NULL REFERENCES person (nocode_int_id)
                   ON UPDATE CASCADE,
    direction_id   integer NOT NULL REFERENCES direction (nocode_int_id)
                   ON UPDATE CASCADE,
    role_code      varchar REFERENCES participation_role (code),
    status_code    varchar REFERENCES participation_status (code),
    nocode_int_id  integer NOT NULL UNIQUE,
    deleted        boolean NOT NULL DEFAULT false,
    last_updated   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE badge (
    id             uuid NOT NULL PRIMARY KEY,
    name           varchar NOT NULL,
    last_name      varchar,
    first_name     varchar,
    nickname       varchar,
    gender         varchar,
    phone          varchar,
    diet           varchar,
    feed           varchar,
    number         varchar,
    batch          integer,
    occupation     varchar,
    photo          varchar,
    comment        varchar,
    parent_id      integer REFERENCES badge (nocode_int_id)
                   ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
    child          boolean,
    ticket         boolean,
    role_code      varchar REFERENCES participation_role (code),
    person_id      integer REFERENCES person (nocode_int_id),
    nocode_int_id  integer NOT NULL UNIQUE,
    deleted        boolean NOT NULL DEFAULT false,
    last_updated   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE badge_directions (
    badge_id      integer NOT NULL REFERENCES badge (nocode_int_id)
                  ON UPDATE CASCADE ON DELETE CASCADE,
    direction_id  integer NOT NULL REFERENCES direction (nocode_int_id)
                  ON UPDATE CASCADE,
    PRIMARY KEY (badge_id, direction_id)
);

CREATE INDEX badge_directions_direction ON badge_directions (direction_id);

CREATE TABLE arrival (
    id                    uuid NOT NULL PRIMARY KEY,
    badge_id              integer NOT NULL REFERENCES badge (nocode_int_id)
                          ON DELETE CASCADE,
    arrival_date          date NOT NULL,
    departure_date        date NOT NULL,
    arrival_transport     varchar REFERENCES transport_type (code),
    departure_transport   varchar REFERENCES transport_type (code),
    arrival_registered    varchar,
    departure_registered  varchar,
    status                varchar REFERENCES participation_status (code),
    extra_data            jsonb,
    comment               varchar,
    nocode_int_id         integer NOT NULL UNIQUE,
    deleted               boolean NOT NULL DEFAULT false,
    last_updated          timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER direction_touch BEFORE INSERT OR UPDATE ON direction
    FOR EACH ROW EXECUTE FUNCTION grist_touch();
CREATE TRIGGER person_touch BEFORE INSERT OR UPDATE ON person
    FOR EACH ROW EXECUTE FUNCTION grist_touch();
CREATE TRIGGER participation_touch BEFORE INSERT OR UPDATE ON participation
    FOR EACH ROW EXECUTE FUNCTION grist_touch();
CREATE TRIGGER badge_touch BEFORE INSERT OR UPDATE ON badge
    FOR EACH ROW EXECUTE FUNCTION grist_touch();
CREATE TRIGGER arrival_touch BEFORE INSERT OR UPDATE ON arrival
    FOR EACH ROW EXECUTE FUNCTION grist_touch();

-- /feeder/sync reads each table by last_updated
CREATE INDEX direction_last_updated ON direction (last_updated);
CREATE INDEX person_last_updated ON person (last_updated);
CREATE INDEX participation_last_updated ON participation (last_updated);
CREATE INDEX badge_last_updated ON badge (last_updated);
CREATE INDEX arrival_last_updated ON arrival (last_updated);
CREATE INDEX arrival_badge ON arrival (badge_id);
CREATE INDEX participation_person ON participation (person_id);

-- One row per Grist table id (Teams, People, Participations,
-- Badges_2026, …): a new GRIST_YEAR has no row, so its tables load whole.
CREATE TABLE grist_sync_state (
    table_id            text PRIMARY KEY,
    -- the largest Grist updated_at seen (epoch seconds, Grist's clock);
    -- NULL: never synced, the next fetch is a full one
    last_updated_at     double precision,
    rows_seen           bigint NOT NULL DEFAULT 0,
    rows_written        bigint NOT NULL DEFAULT 0,
    rows_rejected       bigint NOT NULL DEFAULT 0,
    rows_deleted        bigint NOT NULL DEFAULT 0,
    -- rows in PostgreSQL for this table, live and deleted
    rows_total          bigint NOT NULL DEFAULT 0,
    last_error          text,
    last_error_at       timestamptz,
    last_success_at     timestamptz,
    last_cycle_at       timestamptz,
    -- cycles since the id sets were last compared (GRIST_HARD_DELETE_EVERY)
    cycles_since_idset  integer NOT NULL DEFAULT 0,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- The delete/restore messages (§2 delete_records and restore_records), in
-- PostgreSQL: a consumer takes the oldest due one with FOR UPDATE SKIP
-- LOCKED; a failed Grist call keeps it for next_try_at, and after N
-- attempts it is parked with its last error.
CREATE TABLE grist_queue (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('delete', 'restore')),
    table_id     text NOT NULL,
    row_id       integer NOT NULL,
    reason       text,
    attempts     integer NOT NULL DEFAULT 0,
    next_try_at  timestamptz NOT NULL DEFAULT now(),
    last_error   text,
    parked       boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX grist_queue_due ON grist_queue (next_try_at, id)
    WHERE NOT parked;
-- one pending message per row: a newer one replaces it
CREATE UNIQUE INDEX grist_queue_row ON grist_queue (table_id, row_id)
    WHERE NOT parked;
