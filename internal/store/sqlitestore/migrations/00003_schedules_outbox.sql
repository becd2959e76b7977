-- Schedules, change detection and the webhook outbox (#14): a new table of
-- schedules and one of delivery attempts, and nullable or defaulted columns
-- on jobs and documents, which release N-1's binary ignores (its INSERTs
-- leave them NULL or at their defaults).

-- +goose Up
CREATE TABLE schedules (
    id           TEXT    PRIMARY KEY,  -- UUIDv7
    tenant       TEXT    NOT NULL,
    name         TEXT    NOT NULL DEFAULT '',
    source_type  TEXT    NOT NULL,
    config       TEXT    NOT NULL,     -- JSON
    cron         TEXT    NOT NULL DEFAULT '',
    interval_ns  INTEGER NOT NULL DEFAULT 0,
    time_zone    TEXT    NOT NULL DEFAULT '',
    jitter_ns    INTEGER NOT NULL DEFAULT 0,
    paused       INTEGER NOT NULL DEFAULT 0,
    misfire      TEXT    NOT NULL,
    overlap      TEXT    NOT NULL,
    notify       TEXT,                 -- JSON; NULL when none
    next_fire_at INTEGER NOT NULL,
    last_fire_at INTEGER,
    last_job_id  TEXT    NOT NULL DEFAULT '',
    version      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

-- DueSchedules: schedules that are not paused by next tick.
CREATE INDEX schedules_due ON schedules (next_fire_at, id) WHERE NOT paused;

ALTER TABLE jobs ADD COLUMN schedule_id TEXT;
ALTER TABLE jobs ADD COLUMN previous_job_id TEXT;
ALTER TABLE jobs ADD COLUMN notify TEXT;            -- JSON; NULL when none
ALTER TABLE jobs ADD COLUMN notify_due_at INTEGER;  -- NULL when nothing is owed
ALTER TABLE jobs ADD COLUMN notify_attempts INTEGER NOT NULL DEFAULT 0;

-- The outbox: due notifications by due time; few rows at any time.
CREATE INDEX jobs_notify_due ON jobs (notify_due_at, id) WHERE notify_due_at IS NOT NULL;
-- ScheduleJobs and ScheduleHealth: a schedule's jobs by status, and its
-- latest completion.
CREATE INDEX jobs_schedule ON jobs (schedule_id, status, completed_at) WHERE schedule_id IS NOT NULL;

ALTER TABLE documents ADD COLUMN identity TEXT NOT NULL DEFAULT '';
ALTER TABLE documents ADD COLUMN change   TEXT NOT NULL DEFAULT '';

-- FindDocument and ChangeCounts' removed documents: a job's documents by
-- identity, the highest seq last.
CREATE INDEX documents_identity ON documents (job_id, identity, seq);

CREATE TABLE deliveries (
    id           TEXT    PRIMARY KEY,  -- UUIDv7
    job_id       TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    message_id   TEXT    NOT NULL,
    event        TEXT    NOT NULL,
    url          TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    status_code  INTEGER NOT NULL DEFAULT 0,
    ok           INTEGER NOT NULL DEFAULT 0,
    error        TEXT    NOT NULL DEFAULT '',
    duration_ms  INTEGER NOT NULL DEFAULT 0,
    attempted_at INTEGER NOT NULL
) STRICT;

-- ListDeliveries: a job's log in ID (time) order.
CREATE INDEX deliveries_job ON deliveries (job_id, id);

-- +goose Down
DROP TABLE deliveries;
DROP INDEX documents_identity;
ALTER TABLE documents DROP COLUMN change;
ALTER TABLE documents DROP COLUMN identity;
DROP INDEX jobs_schedule;
DROP INDEX jobs_notify_due;
ALTER TABLE jobs DROP COLUMN notify_attempts;
ALTER TABLE jobs DROP COLUMN notify_due_at;
ALTER TABLE jobs DROP COLUMN notify;
ALTER TABLE jobs DROP COLUMN previous_job_id;
ALTER TABLE jobs DROP COLUMN schedule_id;
DROP TABLE schedules;
