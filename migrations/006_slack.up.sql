-- Slack data ingested for the Mattermost export (issue 11), with the
-- original service's names: one row per Slack object in entities, keyed on
-- (entity_type, slack_id) so that a second upload updates instead of
-- duplicating; the relations the export needs, so that it never digs
-- through JSON to order its work; and the Events API's event ids, so that a
-- retried event is applied once.
CREATE TABLE entities (
    id             bigserial PRIMARY KEY,
    entity_type    text NOT NULL
                   CHECK (entity_type IN ('user', 'custom_emoji', 'attachment',
                                          'channel', 'message', 'reaction')),
    slack_id       text NOT NULL,
    mattermost_id  text,
    raw_data       jsonb NOT NULL,
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'skipped', 'failed', 'success')),
    error_message  text,
    -- the upload (a slack_ingest job) that last wrote the row
    job_id         uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (entity_type, slack_id)
);

-- the seed's "username index"; Slack calls it name, ingest copies it
CREATE INDEX entities_user_username ON entities ((raw_data->>'username'))
    WHERE entity_type = 'user';
CREATE INDEX entities_job ON entities (job_id, entity_type);
CREATE INDEX entities_type_status ON entities (entity_type, status);
-- a thread's replies by their root's key, for roots that arrive after them
CREATE INDEX entities_message_thread
    ON entities (((raw_data->>'channel_id') || ':' || (raw_data->>'thread_ts')))
    WHERE entity_type = 'message' AND raw_data ? 'thread_ts';

CREATE TABLE entity_relations (
    id              bigserial PRIMARY KEY,
    from_entity_id  bigint NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    to_entity_id    bigint NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    relation_type   text NOT NULL
                    CHECK (relation_type IN ('member_of', 'posted_in',
                           'posted_by', 'thread_reply', 'reacted_by',
                           'reacted_to', 'attached_to', 'custom_emoji_used')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (from_entity_id, to_entity_id, relation_type)
);

-- by its from side the unique index serves; by its to side this one
-- by its from side, the unique index serves; by its to side, this one
CREATE INDEX entity_relations_to ON entity_relations (relation_type, to_entity_id);

CREATE TABLE slack_events (
    event_id     text PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX slack_events_received ON slack_events (received_at);
