-- The run records: one row per claim of a job, opened by Claim and closed by
-- the call that releases the job, in the same transaction as the job's own
-- change. A new table only, which release N-1's binary ignores.

-- +goose Up
CREATE TABLE job_runs (
    job_id           TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    number           INTEGER NOT NULL,  -- jobs.runs at claim
    worker           TEXT    NOT NULL,  -- INTAKE_WORKER_ID: host or pod name
    lease_owner      TEXT    NOT NULL,
    started_at       INTEGER NOT NULL,
    ended_at         INTEGER,           -- NULL while the run is open
    batch            INTEGER NOT NULL DEFAULT 0,
    collected_before INTEGER NOT NULL,  -- jobs.collected at claim
    collected        INTEGER NOT NULL DEFAULT 0,
    outcome          TEXT    NOT NULL DEFAULT 'running',
    error            TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, number)
) STRICT;

-- +goose Down
DROP TABLE job_runs;
