-- The personal access tokens an api-mode export minted for migrated users,
-- so that their posts, files and reactions are theirs: only the token ids,
-- so that the export revokes them at its end, or on its resume after a
-- crash. The tokens themselves live only in ferryd's memory.
CREATE TABLE export_tokens (
    job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    token_id    text NOT NULL,
    user_id     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, token_id)
);
