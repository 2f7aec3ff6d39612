-- Usage rollups (internal/analytics/usagedb). One row per
-- (granularity, consumer, route, bucket, status class); minute rows are
-- written by the usage pipeline and hour/day rows are merged at write time
-- (upsert), so queries at any granularity read one row per bucket.
CREATE TABLE IF NOT EXISTS usage_rollups (
    granularity   TEXT    NOT NULL,            -- 'minute' | 'hour' | 'day'
    consumer_id   TEXT    NOT NULL,            -- '' for anonymous traffic
    route         TEXT    NOT NULL,
    bucket        INTEGER NOT NULL,            -- unix seconds of the bucket start, UTC
    status_class  INTEGER NOT NULL,            -- 2 for 2xx ...; 0 unknown
    requests      INTEGER NOT NULL DEFAULT 0,
    errors        INTEGER NOT NULL DEFAULT 0,  -- status >= 500
    client_errors INTEGER NOT NULL DEFAULT 0,  -- 4xx
    bytes_in      INTEGER NOT NULL DEFAULT 0,
    bytes_out     INTEGER NOT NULL DEFAULT 0,
    latency       BLOB,                        -- analytics.Sketch, milliseconds
    PRIMARY KEY (granularity, consumer_id, route, bucket, status_class)
);
CREATE INDEX IF NOT EXISTS usage_rollups_by_time ON usage_rollups (granularity, bucket);

-- Batches already applied: a retried batch (same id) is skipped, so a write
-- whose commit outcome was unknown is never counted twice.
CREATE TABLE IF NOT EXISTS usage_batches (
    id         TEXT    PRIMARY KEY,
    applied_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_batches_by_time ON usage_batches (applied_at);
