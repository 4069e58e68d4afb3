-- The authoritative Idempotency-Key records (the nginx zone only caches
-- them): one per user and key, written in the same transaction as the work
-- the first request did, so a duplicate either waits for that transaction
-- or finds its answer here.
CREATE TABLE idempotency_keys (
    user_id          text NOT NULL,
    key              text NOT NULL,
    fingerprint      text NOT NULL,
    response_status  int NOT NULL,
    response_body    text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);

CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
