DROP TABLE slack_events;
DROP TABLE entity_relations;
DROP TABLE entities;
