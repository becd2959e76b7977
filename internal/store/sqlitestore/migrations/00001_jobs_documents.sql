-- The jobs and documents tables. Times are INTEGER unix milliseconds (UTC);
-- a NULL time is an unset one. Read README.md in this directory before adding
-- a migration: release N's schema must keep working with release N-1's binary.

-- +goose Up
CREATE TABLE jobs (
    id               TEXT    PRIMARY KEY,  -- UUIDv7: sorts by creation time
    tenant           TEXT    NOT NULL,
    source_type      TEXT    NOT NULL,
    config           TEXT    NOT NULL,     -- JSON
    status           TEXT    NOT NULL CHECK (status IN
                         ('pending', 'scheduled', 'processing', 'completed', 'failed', 'cancelled')),
    planned          INTEGER NOT NULL DEFAULT 0,
    total            INTEGER NOT NULL DEFAULT -1,
    collected        INTEGER NOT NULL DEFAULT 0,
    runs             INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    available_at     INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    checkpoint       BLOB,
    last_error       TEXT    NOT NULL DEFAULT '',
    idempotency_key  TEXT    NOT NULL DEFAULT '',
    request_hash     TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    started_at       INTEGER,
    completed_at     INTEGER
) STRICT;

-- Claim: the oldest pending job by available_at, then id. The same index
-- finds due scheduled jobs (status = 'scheduled' AND available_at <= now)
-- and the oldest pending one for Stats.
CREATE INDEX jobs_claim ON jobs (status, available_at, id);
-- Listing one status newest first.
CREATE INDEX jobs_status_id ON jobs (status, id);
-- Maintenance: expired leases (status = 'processing' AND lease_expires_at <= now).
CREATE INDEX jobs_lease_expiry ON jobs (status, lease_expires_at);
-- Idempotency-Key is unique per tenant when given.
CREATE UNIQUE INDEX jobs_idempotency ON jobs (tenant, idempotency_key) WHERE idempotency_key <> '';

CREATE TABLE documents (
    id            TEXT    PRIMARY KEY,
    job_id        TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    document_type TEXT    NOT NULL,
    content_type  TEXT    NOT NULL,
    size_bytes    INTEGER NOT NULL,
    sha256        TEXT    NOT NULL,
    blob_key      TEXT    NOT NULL,
    collected_at  INTEGER NOT NULL,
    UNIQUE (job_id, seq)
) STRICT;

-- The orphan sweep asks which blob keys are referenced.
CREATE INDEX documents_blob_key ON documents (blob_key);

-- +goose Down
DROP TABLE documents;
DROP TABLE jobs;
