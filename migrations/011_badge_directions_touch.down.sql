DROP TRIGGER badge_directions_removed ON badge_directions;
DROP TRIGGER badge_directions_added ON badge_directions;
DROP FUNCTION badge_directions_touch();

CREATE OR REPLACE FUNCTION grist_touch() RETURNS trigger LANGUAGE plpgsql AS $$
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
