-- The advisory lock a job's runner holds on its own session for as long as
-- it lives: a processing job whose lock nobody holds has lost its runner (a
-- ferryd killed, a connection gone), and is taken over at once instead of
-- after JOB_STALE_SECONDS without a heartbeat.
ALTER TABLE jobs ADD COLUMN runner_lock bigint;
