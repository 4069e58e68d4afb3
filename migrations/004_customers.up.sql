-- The import target (SPEC B3) and the bad rows of each import, committed
-- with the batch they belong to so that errors.csv is complete after a crash.
CREATE TABLE customers (
    id          bigserial PRIMARY KEY,
    email       text NOT NULL UNIQUE,
    first_name  text,
    last_name   text,
    phone       text,
    city        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE import_errors (
    job_id  uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    line    bigint NOT NULL,
    email   text,
    error   text NOT NULL,
    raw     text NOT NULL,
    PRIMARY KEY (job_id, line)
);
