-- The sync's change filter (issue 13): each fetch asks Grist for rows
-- with updated_at >= the previous fetch's start - an overlap, as the
-- original did with its "last sync" time. last_updated_at (migration 009)
-- keeps the largest updated_at seen, for the status; this is when the
-- last successful fetch began, on ferryd's clock (epoch seconds), so that
-- rows a bulk load stamped long ago are not read again every cycle.
ALTER TABLE grist_sync_state ADD COLUMN last_fetch_at double precision;
