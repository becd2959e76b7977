-- Counts for the /metrics scrape (Stats and RunStats), so that it reads a
-- few dozen rows instead of every job, run and document. One table,
-- counts, holds them by name:
--
--   jobs         per status (key): n jobs;
--   documents    n documents of total bytes;
--   runs         per outcome (key) and duration bucket: n ended runs of
--                total ms (ended_at - started_at), which recorded
--                documents documents;
--   completions  per bucket: n completed jobs of total ms (completed_at -
--                created_at);
--
-- and run_stat_bounds the bucket bounds of both histograms, fixed here.
--
-- Triggers keep the counts, not the store's statements: release N-1's
-- binary writes to this schema during a rolling upgrade and knows nothing
-- of them. Row triggers on every insert, delete and update of a counted
-- column subtract the row they replace and add the row they leave, so the
-- counts follow every path that writes (claims, finishes, Maintain,
-- Cancel, a manual UPDATE or DELETE, a cascade). SQLite has one writer, so
-- one row per key is enough.
--
-- The bucket of a duration is the index of the first bound it is at most,
-- compared at millisecond precision (bound_ms) as the scans of release
-- N-1's RunStats do: the number of bounds below it. Above every bound, or
-- without a duration, it is the number of bounds (+Inf). RunStats answers
-- from the counts when it is asked for exactly these bounds (those of
-- internal/telemetry: RunDurationBuckets and CompletionBuckets) and scans
-- otherwise. Changing them needs a migration that rewrites the bounds and
-- recounts.
--
-- The migration counts what is there in its own transaction, which holds
-- SQLite's write lock from its first statement, so no write comes between
-- the count and the triggers.

-- +goose Up
CREATE TABLE counts (
    name      TEXT    NOT NULL CHECK (name IN ('jobs', 'documents', 'runs', 'completions')),
    key       TEXT    NOT NULL,  -- jobs: the status; runs: the outcome; '' otherwise
    bucket    INTEGER NOT NULL,  -- runs, completions: the duration's bucket; 0 otherwise
    n         INTEGER NOT NULL,
    total     INTEGER NOT NULL,  -- documents: bytes; runs, completions: ms; 0 for jobs
    documents INTEGER NOT NULL,  -- runs: documents recorded (collected); 0 otherwise
    PRIMARY KEY (name, key, bucket)
) STRICT;

CREATE TABLE run_stat_bounds (
    histogram TEXT    NOT NULL CHECK (histogram IN ('duration', 'completion')),
    i         INTEGER NOT NULL,  -- 0-based, ascending bounds
    bound     REAL    NOT NULL,  -- seconds, as intake.RunStatsParams holds them
    bound_ms  INTEGER NOT NULL,  -- the bound at the stores' millisecond precision
    PRIMARY KEY (histogram, i)
) STRICT;

-- internal/telemetry: RunDurationBuckets = ExponentialBuckets(0.05, 2, 14)
-- and CompletionBuckets = ExponentialBuckets(1, 2.5, 12), exact as REAL.
-- CAST truncates, which is floor for positive bounds.
INSERT INTO run_stat_bounds (histogram, i, bound, bound_ms)
SELECT h, i, b, CAST(b * 1000 + 1e-9 AS INTEGER) FROM (
    SELECT 'duration' AS h, column1 AS i, column2 AS b FROM (VALUES
        (0, 0.05), (1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.6), (6, 3.2), (7, 6.4), (8, 12.8), (9, 25.6),
        (10, 51.2), (11, 102.4), (12, 204.8), (13, 409.6))
    UNION ALL
    SELECT 'completion', column1, column2 FROM (VALUES
        (0, 1.0), (1, 2.5), (2, 6.25), (3, 15.625), (4, 39.0625), (5, 97.65625), (6, 244.140625), (7, 610.3515625),
        (8, 1525.87890625), (9, 3814.697265625), (10, 9536.7431640625), (11, 23841.85791015625))
);

-- Each trigger upserts the rows it counts as (name, key, bucket, n, total,
-- documents) into counts: one SELECT of them, WHERE true for the parser.
-- A bucket is the number of bounds below the duration (d).

-- jobs by status.
-- +goose StatementBegin
CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO counts (name, key, bucket, n, total, documents) VALUES ('jobs', NEW.status, 0, 1, 0, 0)
        ON CONFLICT (name, key, bucket) DO UPDATE SET n = n + excluded.n;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER jobs_count_update AFTER UPDATE OF status ON jobs WHEN OLD.status IS NOT NEW.status BEGIN
    INSERT INTO counts (name, key, bucket, n, total, documents)
        VALUES ('jobs', OLD.status, 0, -1, 0, 0), ('jobs', NEW.status, 0, 1, 0, 0)
        ON CONFLICT (name, key, bucket) DO UPDATE SET n = n + excluded.n;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    INSERT INTO counts (name, key, bucket, n, total, documents) VALUES ('jobs', OLD.status, 0, -1, 0, 0)
        ON CONFLICT (name, key, bucket) DO UPDATE SET n = n + excluded.n;
END;
-- +goose StatementEnd

-- Completed jobs by bucket of completed_at - created_at.
-- +goose StatementBegin
CREATE TRIGGER jobs_completion_insert AFTER INSERT ON jobs WHEN NEW.status = 'completed' BEGIN
    INSERT INTO counts (name, key, bucket, n, total, documents)
    SELECT 'completions', '',
        (SELECT count(*) FROM run_stat_bounds WHERE histogram = 'completion' AND (d IS NULL OR bound_ms < d)),
        1, coalesce(d, 0), 0
    FROM (SELECT NEW.completed_at - NEW.created_at AS d) WHERE true
    ON CONFLICT (name, key, bucket) DO UPDATE SET n = n + excluded.n, total = total + excluded.total;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER jobs_completion_update AFTER UPDATE OF status, created_at, completed_at ON jobs
WHEN (OLD.status = 'completed' OR NEW.status = 'completed')
    AND (OLD.status IS NOT NEW.status OR OLD.created_at IS NOT NEW.created_at
        OR OLD.completed_at IS NOT NEW.completed_at) BEGIN
    INSERT INTO counts (name, key, bucket, n, total, documents)
    SELECT 'completions', '',
        (SELECT count(*) FROM run_stat_bounds WHERE histogram = 'completion' AND (d IS NULL OR bound_ms < d)),
        sign, sign * coalesce(d, 0), 0
    FROM (SELECT -1 AS sign, OLD.completed_at - OLD.created_at AS d WHERE OLD.status = 'completed'
        UNION ALL
        SELECT 1, NEW.completed_at - NEW.created_at WHERE NEW.status = 'completed') WHERE true
    ON CONFLICT (name, key, bucket) DO UPDATE SET n = n + excluded.n, total = total + excluded.total;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER jobs_completion_delete AFTER DELETE ON jobs WHEN OLD.status = 'completed' BEGIN
    INSERT INTO counts (name, key, bucket, n, total, documents)
    SELECT 'completions', '',
        (SELECT count(*) FROM run_stat_bounds WHERE histogram = 'completion' AND (d IS NULL OR bound_ms < d)),
        -1, -coalesce(d, 0), 0
    FROM (SELECT OLD.completed_at - OLD.created_at AS d) WHERE true
    ON CONFLICT (name, key, bucket) DO UPDATE SET n = n + excluded.n, total = total + excluded.total;
END;
-- +goose StatementEnd

-- Ended runs by outcome and bucket of ended_at - started_at.
-- +goose StatementBegin
CREATE TRIGGER job_runs_count_insert AFTER INSERT ON job_runs WHEN NEW.outcome <> 'running' BEGIN
    INSERT INTO counts (name, key, bucket, n, total, documents)
    SELECT 'runs', NEW.outcome,
        (SELECT count(*) FROM run_stat_bounds WHERE histogram = 'duration' AND (d IS NULL OR bound_ms < d)),
        1, coalesce(d, 0), NEW.collected
    FROM (SELECT NEW.ended_at - NEW.started_at AS d) WHERE true
    ON CONFLICT (name, key, bucket) DO UPDATE
        SET n = n + excluded.n, total = total + excluded.total, documents = documents + excluded.documents;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER job_runs_count_update AFTER UPDATE OF outcome, started_at, ended_at, collected ON job_runs
WHEN OLD.outcome <> 'running' OR NEW.outcome <> 'running' BEGIN
    INSERT INTO counts (name, key, bucket, n, total, documents)
    SELECT 'runs', outcome,
        (SELECT count(*) FROM run_stat_bounds WHERE histogram = 'duration' AND (d IS NULL OR bound_ms < d)),
        sign, sign * coalesce(d, 0), sign * collected
    FROM (SELECT -1 AS sign, OLD.outcome AS outcome, OLD.ended_at - OLD.started_at AS d, OLD.collected AS collected
            WHERE OLD.outcome <> 'running'
        UNION ALL
        SELECT 1, NEW.outcome, NEW.ended_at - NEW.started_at, NEW.collected WHERE NEW.outcome <> 'running') WHERE true
    ON CONFLICT (name, key, bucket) DO UPDATE
        SET n = n + excluded.n, total = total + excluded.total, documents = documents + excluded.documents;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER job_runs_count_delete AFTER DELETE ON job_runs WHEN OLD.outcome <> 'running' BEGIN
    INSERT INTO counts (name, key, bucket, n, total, documents)
    SELECT 'runs', OLD.outcome,
        (SELECT count(*) FROM run_stat_bounds WHERE histogram = 'duration' AND (d IS NULL OR bound_ms < d)),
        -1, -coalesce(d, 0), -OLD.collected
    FROM (SELECT OLD.ended_at - OLD.started_at AS d) WHERE true
    ON CONFLICT (name, key, bucket) DO UPDATE
        SET n = n + excluded.n, total = total + excluded.total, documents = documents + excluded.documents;
END;
-- +goose StatementEnd

-- Documents and their bytes.
-- +goose StatementBegin
CREATE TRIGGER documents_count_insert AFTER INSERT ON documents BEGIN
    INSERT INTO counts (name, key, bucket, n, total, documents) VALUES ('documents', '', 0, 1, NEW.size_bytes, 0)
        ON CONFLICT (name, key, bucket) DO UPDATE SET n = n + excluded.n, total = total + excluded.total;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER documents_count_update AFTER UPDATE OF size_bytes ON documents BEGIN
    INSERT INTO counts (name, key, bucket, n, total, documents)
        VALUES ('documents', '', 0, 0, NEW.size_bytes - OLD.size_bytes, 0)
        ON CONFLICT (name, key, bucket) DO UPDATE SET total = total + excluded.total;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER documents_count_delete AFTER DELETE ON documents BEGIN
    INSERT INTO counts (name, key, bucket, n, total, documents) VALUES ('documents', '', 0, -1, -OLD.size_bytes, 0)
        ON CONFLICT (name, key, bucket) DO UPDATE SET n = n + excluded.n, total = total + excluded.total;
END;
-- +goose StatementEnd

-- The backfill: what the triggers would have counted.
INSERT INTO counts (name, key, bucket, n, total, documents)
SELECT 'jobs', status, 0, count(*), 0, 0 FROM jobs GROUP BY status
UNION ALL
SELECT 'completions', '',
    (SELECT count(*) FROM run_stat_bounds WHERE histogram = 'completion' AND (d IS NULL OR bound_ms < d)) AS bucket,
    count(*), sum(coalesce(d, 0)), 0
FROM (SELECT completed_at - created_at AS d FROM jobs WHERE status = 'completed')
GROUP BY bucket
UNION ALL
SELECT 'runs', outcome,
    (SELECT count(*) FROM run_stat_bounds WHERE histogram = 'duration' AND (d IS NULL OR bound_ms < d)) AS bucket,
    count(*), sum(coalesce(d, 0)), sum(collected)
FROM (SELECT outcome, ended_at - started_at AS d, collected FROM job_runs WHERE outcome <> 'running')
GROUP BY outcome, bucket
UNION ALL
SELECT 'documents', '', 0, count(*), coalesce(sum(size_bytes), 0), 0 FROM documents;

-- +goose Down
DROP TRIGGER documents_count_delete;
DROP TRIGGER documents_count_update;
DROP TRIGGER documents_count_insert;
DROP TRIGGER job_runs_count_delete;
DROP TRIGGER job_runs_count_update;
DROP TRIGGER job_runs_count_insert;
DROP TRIGGER jobs_completion_delete;
DROP TRIGGER jobs_completion_update;
DROP TRIGGER jobs_completion_insert;
DROP TRIGGER jobs_count_delete;
DROP TRIGGER jobs_count_update;
DROP TRIGGER jobs_count_insert;
DROP TABLE run_stat_bounds;
DROP TABLE counts;
