-- tollgate core schema (PostgreSQL). Same logical schema as the SQLite files.
CREATE TABLE consumers (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    plan       TEXT NOT NULL DEFAULT '',
    groups     TEXT NOT NULL DEFAULT '[]',
    metadata   TEXT NOT NULL DEFAULT '{}',
    enabled    BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    consumer_id TEXT NOT NULL REFERENCES consumers(id) ON DELETE CASCADE,
    prefix      TEXT NOT NULL,
    hash        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX api_keys_consumer ON api_keys(consumer_id);

CREATE TABLE basic_credentials (
    consumer_id TEXT PRIMARY KEY REFERENCES consumers(id) ON DELETE CASCADE,
    username    TEXT NOT NULL UNIQUE,
    hash        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE audit_log (
    id     BIGSERIAL PRIMARY KEY,
    at     TIMESTAMPTZ NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE config_revisions (
    n          BIGINT PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    author     TEXT NOT NULL DEFAULT '',
    source     TEXT NOT NULL DEFAULT '',
    hash       TEXT NOT NULL,
    document   TEXT NOT NULL
);
CREATE INDEX config_revisions_hash ON config_revisions(hash);

-- changes is the change feed every node polls; NOTIFY tollgate_changes only wakes the poll.
CREATE TABLE changes (
    seq         BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    kind        TEXT NOT NULL,
    id          TEXT NOT NULL,
    consumer_id TEXT NOT NULL DEFAULT ''
);
