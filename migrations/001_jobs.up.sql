-- Every long job (import, slack_parse, export, delete/restore queues) is a
-- row here; runners claim rows with FOR UPDATE SKIP LOCKED and heartbeat
-- while they work, so a crashed ferryd's jobs can be taken over.
CREATE TABLE jobs (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind          text NOT NULL,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'processing', 'done', 'failed', 'cancelled')),
    owner         text,
    params        jsonb NOT NULL DEFAULT '{}',
    progress      jsonb NOT NULL DEFAULT '{}',
    error         text,
    attempts      int NOT NULL DEFAULT 0,
    worker        text,
    heartbeat_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz
);

CREATE INDEX jobs_claim ON jobs (kind, created_at) WHERE status IN ('pending', 'processing');
CREATE INDEX jobs_owner ON jobs (owner, created_at DESC);
