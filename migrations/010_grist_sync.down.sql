ALTER TABLE grist_sync_state DROP COLUMN last_fetch_at;
