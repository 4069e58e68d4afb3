-- What a dry-run export found: the rows it would fail or skip and why. A
-- dry run writes nothing to Mattermost and leaves the rows' statuses alone,
-- so its report is kept here, per export job.
CREATE TABLE export_findings (
    job_id        uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    entity_id     bigint NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    status        text NOT NULL CHECK (status IN ('failed', 'skipped')),
    error_message text NOT NULL,
    found_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, entity_id)
);
