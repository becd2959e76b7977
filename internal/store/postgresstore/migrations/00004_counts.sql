-- Counts for the /metrics scrape (Stats and RunStats), so that it reads a
-- few dozen rows instead of every job, run and document. One table,
-- counts, holds them by name:
--
--   jobs         per status (key): n jobs;
--   documents    n documents of total bytes;
--   runs         per outcome (key) and duration bucket: n ended runs of
--                total µs (ended_at - started_at), which recorded
--                documents documents;
--   completions  per bucket: n completed jobs of total µs (completed_at -
--                created_at);
--
-- and run_stat_bounds the bucket bounds of both histograms, fixed here.
--
-- Triggers keep the counts, not the store's statements: release N-1's
-- binary writes to this schema during a rolling upgrade and knows nothing
-- of them. Each trigger adds the difference its statement makes in one
-- upsert per statement (AFTER … FOR EACH STATEMENT, with transition
-- tables): the rows the statement leaves minus the rows it replaced, per
-- counted key. So the counts follow every path that writes (claims,
-- finishes, Maintain, Cancel, a manual UPDATE or DELETE, a cascade,
-- TRUNCATE). Transition tables rule out UPDATE OF column lists, so the
-- UPDATE triggers fire on every update; one that changes no counted
-- column (a heartbeat, a plan, a recorded document's job update, a run's
-- batch) returns after one look at its rows and writes nothing.
--
-- Counts are split into 16 shards, and a statement adds to the shard of
-- its connection (pg_backend_pid() % 16), so that concurrent claims and
-- finishes, which all change the counts of 'pending' and 'processing',
-- lock different rows until they commit (a claim of many jobs locks two).
-- A shard's count alone means nothing (a job may be added in one and
-- taken away in another); a reader sums them. Each upsert locks its rows
-- in key order, so two statements cannot deadlock on them.
--
-- The bucket of a duration is the index of the first bound it is at most,
-- compared at millisecond precision (bound_ms) as the scans of release
-- N-1's RunStats do: width_bucket(µs - 1, the bounds in µs) counts the
-- bounds below it. Above every bound, or without a duration, it is the
-- number of bounds (+Inf). RunStats answers from the counts when it is
-- asked for exactly these bounds (those of internal/telemetry:
-- RunDurationBuckets and CompletionBuckets) and scans otherwise. Changing
-- them needs a migration that rewrites the bounds and recounts.
--
-- The functions run with this migration's search_path (the store's
-- schema), whatever the session that fires them uses.
--
-- The backfill counts under a lock that holds off writes to jobs,
-- job_runs and documents (not reads, nor SELECT … FOR UPDATE) until the
-- migration commits, so that no change is lost or counted twice: writers
-- queue for as long as counting takes (see docs/PERFORMANCE.md).

-- +goose Up
LOCK TABLE jobs, job_runs, documents IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE counts (
    name      text     NOT NULL CHECK (name IN ('jobs', 'documents', 'runs', 'completions')),
    key       text     NOT NULL,  -- jobs: the status; runs: the outcome; '' otherwise
    bucket    integer  NOT NULL,  -- runs, completions: the duration's bucket; 0 otherwise
    shard     smallint NOT NULL,
    n         bigint   NOT NULL,
    total     bigint   NOT NULL,  -- documents: bytes; runs, completions: µs; 0 for jobs
    documents bigint   NOT NULL,  -- runs: documents recorded (collected); 0 otherwise
    PRIMARY KEY (name, key, bucket, shard)
);

CREATE TABLE run_stat_bounds (
    histogram text    NOT NULL CHECK (histogram IN ('duration', 'completion')),
    i         integer NOT NULL,  -- 0-based, ascending bounds
    bound     float8  NOT NULL,  -- seconds, as intake.RunStatsParams holds them
    bound_ms  bigint  NOT NULL,  -- the bound at the stores' millisecond precision
    PRIMARY KEY (histogram, i)
);

-- internal/telemetry: RunDurationBuckets = ExponentialBuckets(0.05, 2, 14)
-- and CompletionBuckets = ExponentialBuckets(1, 2.5, 12), exact in float8.
INSERT INTO run_stat_bounds (histogram, i, bound, bound_ms)
SELECT h, i - 1, b, floor(b * 1000 + 1e-9)::bigint
FROM (SELECT 'duration', * FROM unnest(ARRAY[0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4,
        204.8, 409.6]::float8[]) WITH ORDINALITY
    UNION ALL
    SELECT 'completion', * FROM unnest(ARRAY[1, 2.5, 6.25, 15.625, 39.0625, 97.65625, 244.140625, 610.3515625,
        1525.87890625, 3814.697265625, 9536.7431640625, 23841.85791015625]::float8[]) WITH ORDINALITY
) AS v (h, b, i);

-- The trigger functions. The UPDATE triggers name their transition tables
-- new_rows and old_rows, and the functions add the first and subtract the
-- second; the INSERT and DELETE triggers name theirs changed_rows and pass
-- the sign of its rows (1 or -1) as their argument. Both branches of a
-- function differ only in the rows they start from (x).

-- +goose StatementBegin
CREATE FUNCTION intake_count_jobs() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    sign integer  := TG_ARGV[0];
    k    smallint := pg_backend_pid() % 16;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- Most updates (heartbeats, plans, recorded documents, the outbox)
        -- change no counted column: one cheap look, and nothing to add.
        IF NOT EXISTS (SELECT FROM new_rows n JOIN old_rows o USING (id)
                WHERE n.status IS DISTINCT FROM o.status OR (n.status = 'completed' OR o.status = 'completed')
                    AND (n.created_at, n.completed_at) IS DISTINCT FROM (o.created_at, o.completed_at)) THEN
            RETURN NULL;
        END IF;
        WITH x AS (
            SELECT status, completed_at - created_at AS t, 1 AS d FROM new_rows
            UNION ALL
            SELECT status, completed_at - created_at, -1 FROM old_rows
        ), b AS (
            SELECT array_agg(bound_ms * 1000 ORDER BY i) AS b FROM run_stat_bounds WHERE histogram = 'completion'
        )
        INSERT INTO counts AS c (name, key, bucket, shard, n, total, documents)
        SELECT name, key, bucket, k, sum(d), sum(d * us), 0 FROM (
            SELECT 'jobs' AS name, status AS key, 0 AS bucket, 0::bigint AS us, d FROM x
            UNION ALL
            SELECT 'completions', '', coalesce(width_bucket(us - 1, b.b), cardinality(b.b)), coalesce(us, 0), d
            FROM (SELECT (extract(epoch FROM t) * 1000000)::bigint AS us, d FROM x WHERE status = 'completed') AS y, b
        ) AS z
        GROUP BY name, key, bucket HAVING sum(d) <> 0 OR sum(d * us) <> 0
        ORDER BY name, key, bucket
        ON CONFLICT (name, key, bucket, shard) DO UPDATE SET n = c.n + excluded.n, total = c.total + excluded.total;
    ELSE
        WITH x AS (
            SELECT status, completed_at - created_at AS t, sign AS d FROM changed_rows
        ), b AS (
            SELECT array_agg(bound_ms * 1000 ORDER BY i) AS b FROM run_stat_bounds WHERE histogram = 'completion'
        )
        INSERT INTO counts AS c (name, key, bucket, shard, n, total, documents)
        SELECT name, key, bucket, k, sum(d), sum(d * us), 0 FROM (
            SELECT 'jobs' AS name, status AS key, 0 AS bucket, 0::bigint AS us, d FROM x
            UNION ALL
            SELECT 'completions', '', coalesce(width_bucket(us - 1, b.b), cardinality(b.b)), coalesce(us, 0), d
            FROM (SELECT (extract(epoch FROM t) * 1000000)::bigint AS us, d FROM x WHERE status = 'completed') AS y, b
        ) AS z
        GROUP BY name, key, bucket HAVING sum(d) <> 0 OR sum(d * us) <> 0
        ORDER BY name, key, bucket
        ON CONFLICT (name, key, bucket, shard) DO UPDATE SET n = c.n + excluded.n, total = c.total + excluded.total;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION intake_count_runs() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    sign integer  := TG_ARGV[0];
    k    smallint := pg_backend_pid() % 16;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        -- Open runs are not counted: a claim's new runs and StartBatch
        -- add nothing.
        IF NOT EXISTS (SELECT FROM new_rows WHERE outcome <> 'running'
                UNION ALL SELECT FROM old_rows WHERE outcome <> 'running') THEN
            RETURN NULL;
        END IF;
        WITH x AS (
            SELECT outcome, ended_at - started_at AS t, collected, 1 AS d FROM new_rows WHERE outcome <> 'running'
            UNION ALL
            SELECT outcome, ended_at - started_at, collected, -1 FROM old_rows WHERE outcome <> 'running'
        ), b AS (
            SELECT array_agg(bound_ms * 1000 ORDER BY i) AS b FROM run_stat_bounds WHERE histogram = 'duration'
        )
        INSERT INTO counts AS c (name, key, bucket, shard, n, total, documents)
        SELECT 'runs', outcome, coalesce(width_bucket(us - 1, b.b), cardinality(b.b)) AS bucket, k,
            sum(d), sum(d * coalesce(us, 0)), sum(d * collected)
        FROM (SELECT outcome, (extract(epoch FROM t) * 1000000)::bigint AS us, collected, d FROM x) AS y, b
        GROUP BY outcome, bucket HAVING sum(d) <> 0 OR sum(d * coalesce(us, 0)) <> 0 OR sum(d * collected) <> 0
        ORDER BY outcome, bucket
        ON CONFLICT (name, key, bucket, shard) DO UPDATE
            SET n = c.n + excluded.n, total = c.total + excluded.total, documents = c.documents + excluded.documents;
    ELSE
        IF NOT EXISTS (SELECT FROM changed_rows WHERE outcome <> 'running') THEN
            RETURN NULL;
        END IF;
        WITH x AS (
            SELECT outcome, ended_at - started_at AS t, collected, sign AS d FROM changed_rows WHERE outcome <> 'running'
        ), b AS (
            SELECT array_agg(bound_ms * 1000 ORDER BY i) AS b FROM run_stat_bounds WHERE histogram = 'duration'
        )
        INSERT INTO counts AS c (name, key, bucket, shard, n, total, documents)
        SELECT 'runs', outcome, coalesce(width_bucket(us - 1, b.b), cardinality(b.b)) AS bucket, k,
            sum(d), sum(d * coalesce(us, 0)), sum(d * collected)
        FROM (SELECT outcome, (extract(epoch FROM t) * 1000000)::bigint AS us, collected, d FROM x) AS y, b
        GROUP BY outcome, bucket HAVING sum(d) <> 0 OR sum(d * coalesce(us, 0)) <> 0 OR sum(d * collected) <> 0
        ORDER BY outcome, bucket
        ON CONFLICT (name, key, bucket, shard) DO UPDATE
            SET n = c.n + excluded.n, total = c.total + excluded.total, documents = c.documents + excluded.documents;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION intake_count_documents() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    sign integer  := TG_ARGV[0];
    k    smallint := pg_backend_pid() % 16;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        WITH x AS (
            SELECT size_bytes, 1 AS d FROM new_rows
            UNION ALL
            SELECT size_bytes, -1 FROM old_rows
        )
        INSERT INTO counts AS c (name, key, bucket, shard, n, total, documents)
        SELECT 'documents', '', 0, k, sum(d), sum(d * size_bytes), 0 FROM x
        HAVING sum(d) <> 0 OR sum(d * size_bytes) <> 0
        ON CONFLICT (name, key, bucket, shard) DO UPDATE SET n = c.n + excluded.n, total = c.total + excluded.total;
    ELSE
        WITH x AS (
            SELECT size_bytes, sign AS d FROM changed_rows
        )
        INSERT INTO counts AS c (name, key, bucket, shard, n, total, documents)
        SELECT 'documents', '', 0, k, sum(d), sum(d * size_bytes), 0 FROM x
        HAVING sum(d) <> 0 OR sum(d * size_bytes) <> 0
        ON CONFLICT (name, key, bucket, shard) DO UPDATE SET n = c.n + excluded.n, total = c.total + excluded.total;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- TRUNCATE (of jobs, which must cascade to job_runs and documents, or of
-- those alone) empties the counts of the tables it empties.

-- +goose StatementBegin
CREATE FUNCTION intake_count_truncate() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM counts WHERE name = ANY (CASE TG_TABLE_NAME
        WHEN 'jobs' THEN ARRAY['jobs', 'completions']
        WHEN 'job_runs' THEN ARRAY['runs']
        WHEN 'documents' THEN ARRAY['documents'] END);
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intake_count_jobs('1');
CREATE TRIGGER jobs_count_update AFTER UPDATE ON jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intake_count_jobs();
CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intake_count_jobs('-1');
CREATE TRIGGER jobs_count_truncate AFTER TRUNCATE ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION intake_count_truncate();

CREATE TRIGGER job_runs_count_insert AFTER INSERT ON job_runs REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intake_count_runs('1');
CREATE TRIGGER job_runs_count_update AFTER UPDATE ON job_runs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intake_count_runs();
CREATE TRIGGER job_runs_count_delete AFTER DELETE ON job_runs REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intake_count_runs('-1');
CREATE TRIGGER job_runs_count_truncate AFTER TRUNCATE ON job_runs
    FOR EACH STATEMENT EXECUTE FUNCTION intake_count_truncate();

CREATE TRIGGER documents_count_insert AFTER INSERT ON documents REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intake_count_documents('1');
CREATE TRIGGER documents_count_update AFTER UPDATE ON documents REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intake_count_documents();
CREATE TRIGGER documents_count_delete AFTER DELETE ON documents REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION intake_count_documents('-1');
CREATE TRIGGER documents_count_truncate AFTER TRUNCATE ON documents
    FOR EACH STATEMENT EXECUTE FUNCTION intake_count_truncate();

-- The backfill: what the triggers would have counted, under the lock
-- taken at the top, into shard 0.
WITH b AS (
    SELECT histogram, array_agg(bound_ms * 1000 ORDER BY i) AS b FROM run_stat_bounds GROUP BY histogram
)
INSERT INTO counts (name, key, bucket, shard, n, total, documents)
SELECT 'jobs', status, 0, 0, count(*), 0, 0 FROM jobs GROUP BY status
UNION ALL
SELECT 'completions', '', coalesce(width_bucket(us - 1, b.b), cardinality(b.b)) AS bucket, 0,
    count(*), sum(coalesce(us, 0)), 0
FROM (SELECT (extract(epoch FROM completed_at - created_at) * 1000000)::bigint AS us FROM jobs
    WHERE status = 'completed') AS y, b
WHERE b.histogram = 'completion'
GROUP BY bucket
UNION ALL
SELECT 'runs', outcome, coalesce(width_bucket(us - 1, b.b), cardinality(b.b)) AS bucket, 0,
    count(*), sum(coalesce(us, 0)), sum(collected)
FROM (SELECT outcome, (extract(epoch FROM ended_at - started_at) * 1000000)::bigint AS us, collected FROM job_runs
    WHERE outcome <> 'running') AS y, b
WHERE b.histogram = 'duration'
GROUP BY outcome, bucket
UNION ALL
SELECT 'documents', '', 0, 0, count(*), coalesce(sum(size_bytes), 0), 0 FROM documents;

-- +goose Down
DROP TRIGGER documents_count_truncate ON documents;
DROP TRIGGER documents_count_delete ON documents;
DROP TRIGGER documents_count_update ON documents;
DROP TRIGGER documents_count_insert ON documents;
DROP TRIGGER job_runs_count_truncate ON job_runs;
DROP TRIGGER job_runs_count_delete ON job_runs;
DROP TRIGGER job_runs_count_update ON job_runs;
DROP TRIGGER job_runs_count_insert ON job_runs;
DROP TRIGGER jobs_count_truncate ON jobs;
DROP TRIGGER jobs_count_delete ON jobs;
DROP TRIGGER jobs_count_update ON jobs;
DROP TRIGGER jobs_count_insert ON jobs;
DROP FUNCTION intake_count_truncate();
DROP FUNCTION intake_count_documents();
DROP FUNCTION intake_count_runs();
DROP FUNCTION intake_count_jobs();
DROP TABLE run_stat_bounds;
DROP TABLE counts;
