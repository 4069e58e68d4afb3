DROP TRIGGER entities_truncated ON entities;
DROP FUNCTION entities_truncated();
DROP TRIGGER entities_deleted ON entities;
DROP FUNCTION entities_deleted();
DROP TRIGGER entity_relations_updated ON entity_relations;
DROP TRIGGER entity_relations_inserted ON entity_relations;
DROP FUNCTION entity_relations_check();

DELETE FROM entity_relations r
    WHERE NOT EXISTS (SELECT 1 FROM entities e WHERE e.id = r.from_entity_id)
       OR NOT EXISTS (SELECT 1 FROM entities e WHERE e.id = r.to_entity_id);
ALTER TABLE entity_relations
    ADD FOREIGN KEY (from_entity_id) REFERENCES entities (id) ON DELETE CASCADE,
    ADD FOREIGN KEY (to_entity_id) REFERENCES entities (id) ON DELETE CASCADE;
