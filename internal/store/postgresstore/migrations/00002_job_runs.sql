-- The run records: one row per claim of a job, opened by Claim and closed by
-- the statement that releases the job (a data-modifying CTE of the same
-- statement), so the records always agree with the jobs. A new table only,
-- which release N-1's binary ignores.

-- +goose Up
CREATE TABLE job_runs (
    job_id           uuid        NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    number           integer     NOT NULL,  -- jobs.runs at claim
    worker           text        NOT NULL,  -- INTAKE_WORKER_ID: host or pod name
    lease_owner      text        NOT NULL,
    started_at       timestamptz NOT NULL,
    ended_at         timestamptz,           -- NULL while the run is open
    batch            integer     NOT NULL DEFAULT 0,
    collected_before integer     NOT NULL,  -- jobs.collected at claim
    collected        integer     NOT NULL DEFAULT 0,
    outcome          text        NOT NULL DEFAULT 'running',
    error            text        NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, number)
);

-- +goose Down
DROP TABLE job_runs;
