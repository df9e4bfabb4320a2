-- When each event was applied to each projection: operators see projection lag, and the
-- pipeline benchmark measures ingest-to-projection latency from it.
ALTER TABLE proj_applied ADD COLUMN applied_at timestamptz NOT NULL DEFAULT clock_timestamp();
