-- A badge whose directions alone changed (its badge_directions rows
-- rewritten, the badge row itself the same) must be sent to the feeder
-- again: its items carry the directions (issue 13). grist_touch()
-- (migration 009) kept last_updated on any update that changes nothing
-- else, so it now keeps an explicit new last_updated too, and the links'
-- statements move their badges' last_updated. A badge already stamped in
-- the same transaction (last_updated >= now(), the transaction's start:
-- a new badge, or one whose fields changed too) is left alone, so a full
-- sync does not write every badge twice.

CREATE OR REPLACE FUNCTION grist_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.last_updated := clock_timestamp();
        RETURN NEW;
    END IF;
    IF NEW.last_updated IS DISTINCT FROM OLD.last_updated THEN
        RETURN NEW;
    END IF;
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.last_updated := clock_timestamp();
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION badge_directions_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE badge SET last_updated = clock_timestamp()
        WHERE nocode_int_id IN (SELECT badge_id FROM links)
        AND last_updated < now();
    RETURN NULL;
END
$$;

CREATE TRIGGER badge_directions_added AFTER INSERT ON badge_directions
    REFERENCING NEW TABLE AS links
    FOR EACH STATEMENT EXECUTE FUNCTION badge_directions_touch();
CREATE TRIGGER badge_directions_removed AFTER DELETE ON badge_directions
    REFERENCING OLD TABLE AS links
    FOR EACH STATEMENT EXECUTE FUNCTION badge_directions_touch();
