-- entity_relations' two foreign keys checked every inserted relation on
-- its own, locking both entities' rows (FOR KEY SHARE: a WAL record each):
-- more than half of an upload's time, 2 × 1.3M row locks for an export of
-- 200,000 messages (issue 11). The same rules hold, a statement at a time:
-- an insert or update naming an entity that does not exist fails
-- (foreign_key_violation), and deleting or truncating entities removes
-- their relations, as ON DELETE CASCADE did. What is given up is the lock:
-- an entity deleted by another session while a relation to it is being
-- inserted can leave that relation behind; Ferry never deletes entities,
-- and the export joins relations to entities in any case.

ALTER TABLE entity_relations
    DROP CONSTRAINT entity_relations_from_entity_id_fkey,
    DROP CONSTRAINT entity_relations_to_entity_id_fkey;

CREATE FUNCTION entity_relations_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- two anti-joins (one NOT EXISTS OR another is a probe per row)
    IF EXISTS (SELECT 1 FROM relations r WHERE NOT EXISTS
                   (SELECT 1 FROM entities e WHERE e.id = r.from_entity_id))
       OR EXISTS (SELECT 1 FROM relations r WHERE NOT EXISTS
                   (SELECT 1 FROM entities e WHERE e.id = r.to_entity_id)) THEN
        RAISE EXCEPTION 'a relation names an entity that does not exist'
            USING ERRCODE = 'foreign_key_violation',
                  TABLE = 'entity_relations';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER entity_relations_inserted AFTER INSERT ON entity_relations
    REFERENCING NEW TABLE AS relations
    FOR EACH STATEMENT EXECUTE FUNCTION entity_relations_check();
CREATE TRIGGER entity_relations_updated AFTER UPDATE ON entity_relations
    REFERENCING NEW TABLE AS relations
    FOR EACH STATEMENT EXECUTE FUNCTION entity_relations_check();

CREATE FUNCTION entities_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM entity_relations r USING gone g WHERE r.from_entity_id = g.id;
    DELETE FROM entity_relations r USING gone g WHERE r.to_entity_id = g.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER entities_deleted AFTER DELETE ON entities
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION entities_deleted();

CREATE FUNCTION entities_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE entity_relations;
    RETURN NULL;
END
$$;

CREATE TRIGGER entities_truncated AFTER TRUNCATE ON entities
    FOR EACH STATEMENT EXECUTE FUNCTION entities_truncated();
