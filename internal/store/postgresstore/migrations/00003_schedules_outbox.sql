-- Schedules, change detection and the webhook outbox (#14): a new table of
-- schedules and one of delivery attempts, and nullable or defaulted columns
-- on jobs and documents, which release N-1's binary ignores. Adding a
-- column with a constant default rewrites nothing. The indexes on jobs and
-- documents are built in the migration's transaction, not CONCURRENTLY:
-- a concurrent build waits for every transaction with an older snapshot,
-- including replicas' migrators waiting for Migrate's advisory lock, which
-- this one holds. The partial indexes on jobs hold no row yet (their scan
-- blocks writes to jobs for as long as reading the table takes);
-- documents_identity indexes every document.

-- +goose Up
CREATE TABLE schedules (
    id           uuid        PRIMARY KEY,  -- UUIDv7
    tenant       text        NOT NULL,
    name         text        NOT NULL DEFAULT '',
    source_type  text        NOT NULL,
    config       jsonb       NOT NULL,
    cron         text        NOT NULL DEFAULT '',
    interval_ns  bigint      NOT NULL DEFAULT 0,
    time_zone    text        NOT NULL DEFAULT '',
    jitter_ns    bigint      NOT NULL DEFAULT 0,
    paused       boolean     NOT NULL DEFAULT false,
    misfire      text        NOT NULL,
    overlap      text        NOT NULL,
    notify       jsonb,                    -- NULL when none
    next_fire_at timestamptz NOT NULL,
    last_fire_at timestamptz,
    last_job_id  text        NOT NULL DEFAULT '',
    version      bigint      NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

-- DueSchedules: schedules that are not paused by next tick. Queries must
-- spell the predicate (NOT paused) for the planner to use it.
CREATE INDEX schedules_due ON schedules (next_fire_at, id) WHERE NOT paused;

ALTER TABLE jobs
    ADD COLUMN schedule_id     uuid,
    ADD COLUMN previous_job_id uuid,
    ADD COLUMN notify          jsonb,        -- NULL when none
    ADD COLUMN notify_due_at   timestamptz,  -- NULL when nothing is owed
    ADD COLUMN notify_attempts integer NOT NULL DEFAULT 0;

-- The outbox: due notifications by due time; few rows at any time.
CREATE INDEX jobs_notify_due ON jobs (notify_due_at, id) WHERE notify_due_at IS NOT NULL;
-- ScheduleJobs and ScheduleHealth: a schedule's jobs by status, and its
-- latest completion; jobs without a schedule stay out.
CREATE INDEX jobs_schedule ON jobs (schedule_id, status, completed_at) WHERE schedule_id IS NOT NULL;

ALTER TABLE documents
    ADD COLUMN identity text NOT NULL DEFAULT '',
    ADD COLUMN change   text NOT NULL DEFAULT '';

-- FindDocument and the removed documents of ChangeCounts: a job's
-- documents by identity, the highest seq last.
CREATE INDEX documents_identity ON documents (job_id, identity, seq);

CREATE TABLE deliveries (
    id           uuid        PRIMARY KEY,  -- UUIDv7
    job_id       uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    message_id   text        NOT NULL,
    event        text        NOT NULL,
    url          text        NOT NULL,
    attempt      integer     NOT NULL,
    status_code  integer     NOT NULL DEFAULT 0,
    ok           boolean     NOT NULL DEFAULT false,
    error        text        NOT NULL DEFAULT '',
    duration_ms  bigint      NOT NULL DEFAULT 0,
    attempted_at timestamptz NOT NULL
);

-- ListDeliveries: a job's log in ID (time) order.
CREATE INDEX deliveries_job ON deliveries (job_id, id);

-- +goose Down
DROP TABLE deliveries;
DROP INDEX documents_identity;
ALTER TABLE documents DROP COLUMN change, DROP COLUMN identity;
DROP INDEX jobs_schedule;
DROP INDEX jobs_notify_due;
ALTER TABLE jobs DROP COLUMN notify_attempts, DROP COLUMN notify_due_at, DROP COLUMN notify,
    DROP COLUMN previous_job_id, DROP COLUMN schedule_id;
DROP TABLE schedules;
