-- The jobs and documents tables: the same shape as the SQLite store's, with
-- native types. Times are timestamptz written at millisecond precision from
-- the process clock (never now()); a NULL time is an unset one. Read
-- README.md in this directory before adding a migration: release N's schema
-- must keep working with release N-1's binary.

-- +goose Up
CREATE TABLE jobs (
    id               uuid        PRIMARY KEY,  -- UUIDv7: sorts by creation time
    tenant           text        NOT NULL,
    source_type      text        NOT NULL,
    config           jsonb       NOT NULL,
    status           text        NOT NULL CHECK (status IN
                         ('pending', 'scheduled', 'processing', 'completed', 'failed', 'cancelled')),
    planned          boolean     NOT NULL DEFAULT false,
    total            integer     NOT NULL DEFAULT -1,
    collected        integer     NOT NULL DEFAULT 0,
    runs             integer     NOT NULL DEFAULT 0,
    attempts         integer     NOT NULL DEFAULT 0,
    available_at     timestamptz NOT NULL,
    lease_owner      text,
    lease_expires_at timestamptz,
    checkpoint       bytea,
    last_error       text        NOT NULL DEFAULT '',
    idempotency_key  text        NOT NULL DEFAULT '',
    request_hash     text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    started_at       timestamptz,
    completed_at     timestamptz
) WITH (fillfactor = 90); -- room on each page for HOT updates (RecordDocument touches no indexed column)

-- Claim: the oldest pending job by available_at, then id, in O(log n)
-- however many jobs are queued; also the oldest pending job for Stats.
-- Partial indexes hold only the rows in one status, so they stay small
-- while completed jobs pile up. Queries must spell the predicate
-- (status = 'pending') as a literal for the planner to use them.
CREATE INDEX jobs_pending ON jobs (available_at, id) WHERE status = 'pending';
-- Maintenance: due scheduled jobs, and expired leases.
CREATE INDEX jobs_scheduled ON jobs (available_at) WHERE status = 'scheduled';
CREATE INDEX jobs_lease_expiry ON jobs (lease_expires_at) WHERE status = 'processing';
-- Listing one status newest first.
CREATE INDEX jobs_status_id ON jobs (status, id);
-- Idempotency-Key is unique per tenant when given.
CREATE UNIQUE INDEX jobs_idempotency ON jobs (tenant, idempotency_key) WHERE idempotency_key <> '';

CREATE TABLE documents (
    id            uuid        PRIMARY KEY,
    job_id        uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq           integer     NOT NULL,
    name          text        NOT NULL,
    document_type text        NOT NULL,
    content_type  text        NOT NULL,
    size_bytes    bigint      NOT NULL,
    sha256        text        NOT NULL,
    blob_key      text        NOT NULL,
    collected_at  timestamptz NOT NULL,
    UNIQUE (job_id, seq)
);

-- The orphan sweep asks which blob keys are referenced.
CREATE INDEX documents_blob_key ON documents (blob_key);

-- +goose Down
DROP TABLE documents;
DROP TABLE jobs;
