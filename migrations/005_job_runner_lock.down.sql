ALTER TABLE jobs DROP COLUMN runner_lock;
