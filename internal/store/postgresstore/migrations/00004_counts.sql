-- Counted tables for the /metrics scrape (Stats and RunStats), so that it
-- reads a few dozen rows instead of every job, run and document:
--
--   job_counts         jobs by status;
--   document_counts    documents and their bytes;
--   run_counts         ended runs by outcome and duration bucket: how many,
--                      their total duration and the documents they recorded;
--   completion_counts  completed jobs by bucket of creation-to-completion
--                      time: how many and their total time;
--   run_stat_bounds    the bucket bounds of both histograms, fixed here.
--
-- Triggers keep the counts, not the store's statements: release N-1's
-- binary writes to this schema during a rolling upgrade and knows nothing
-- of them. Every trigger adds the difference a statement makes once per
-- statement (AFTER … FOR EACH STATEMENT, with transition tables): the rows
-- a statement leaves minus the rows it replaced, per counted key. So the
-- counts follow every path that writes (claims, finishes, Maintain,
-- Cancel, a manual UPDATE or DELETE, a cascade, TRUNCATE), and a statement
-- that changes no counted column (a heartbeat, a recorded document's job
-- update) nets to nothing and writes no count. Transition tables rule out
-- UPDATE OF column lists, so the UPDATE triggers fire on every update and
-- find nothing to add for most.
--
-- Counts are split into 16 shards by a byte of the ID (random in UUIDv7;
-- the job's ID for runs), so that concurrent claims and finishes, which
-- all change the counts of 'pending' and 'processing', lock different rows
-- until they commit. A reader sums the shards. Each trigger locks its rows
-- in key order, so two statements cannot deadlock on them.
--
-- The bucket of a duration is the index of the first bound it is at most,
-- compared at millisecond precision (bound_ms) as the scans of release
-- N-1's RunStats do; above every bound it is the number of bounds (+Inf).
-- Durations are summed in microseconds. RunStats answers from the
-- counters when it is asked for exactly these bounds (those of
-- internal/telemetry: RunDurationBuckets and CompletionBuckets) and scans
-- otherwise. Changing them needs a migration that rewrites the bounds and
-- recounts.
--
-- The functions run with this migration's search_path (the store's
-- schema), whatever the session that fires them uses.
--
-- The backfill counts under a lock that holds off writes to jobs,
-- job_runs and documents (not reads, nor SELECT … FOR UPDATE) until the
-- migration commits, so that no change is lost or counted twice: writers
-- queue for as long as counting takes (see docs/PERFORMANCE.md for a
-- million jobs).

-- +goose Up
LOCK TABLE jobs, job_runs, documents IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE job_counts (
    status text     NOT NULL,
    shard  smallint NOT NULL,
    n      bigint   NOT NULL,
    PRIMARY KEY (status, shard)
);

CREATE TABLE document_counts (
    shard smallint PRIMARY KEY,
    n     bigint   NOT NULL,
    bytes bigint   NOT NULL
);

CREATE TABLE run_stat_bounds (
    histogram text    NOT NULL CHECK (histogram IN ('duration', 'completion')),
    i         integer NOT NULL,  -- 0-based, ascending bounds
    bound     float8  NOT NULL,  -- seconds, as intake.RunStatsParams holds them
    bound_ms  bigint  NOT NULL,  -- the bound at the stores' millisecond precision
    PRIMARY KEY (histogram, i)
);

CREATE TABLE run_counts (
    outcome   text     NOT NULL,
    bucket    integer  NOT NULL,  -- of the duration bounds; their number for +Inf
    shard     smallint NOT NULL,
    n         bigint   NOT NULL,
    sum_us    bigint   NOT NULL,  -- total ended_at - started_at
    documents bigint   NOT NULL,  -- total collected
    PRIMARY KEY (outcome, bucket, shard)
);

CREATE TABLE completion_counts (
    bucket integer  NOT NULL,  -- of the completion bounds; their number for +Inf
    shard  smallint NOT NULL,
    n      bigint   NOT NULL,
    sum_us bigint   NOT NULL,  -- total completed_at - created_at
    PRIMARY KEY (bucket, shard)
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
-- new_rows and old_rows and add the first and subtract the second; the
-- INSERT and DELETE triggers name theirs changed_rows and pass the sign
-- of its rows (1 or -1) as their argument. A bucket is
-- width_bucket(us - 1, bounds in µs): the number of bounds below us, so
-- the index of the first one us is at most; NULL (no duration) is +Inf.

-- +goose StatementBegin
CREATE FUNCTION intake_count_jobs() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    sign integer := TG_ARGV[0];
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO job_counts AS c (status, shard, n)
        SELECT status, shard, sum(d) FROM (
            SELECT status, get_byte(uuid_send(id), 15) & 15 AS shard, 1 AS d FROM new_rows
            UNION ALL
            SELECT status, get_byte(uuid_send(id), 15) & 15, -1 FROM old_rows
        ) AS x
        GROUP BY status, shard HAVING sum(d) <> 0
        ORDER BY status, shard
        ON CONFLICT (status, shard) DO UPDATE SET n = c.n + excluded.n;

        INSERT INTO completion_counts AS c (bucket, shard, n, sum_us)
        SELECT coalesce(width_bucket(us - 1, (SELECT array_agg(bound_ms * 1000 ORDER BY i) FROM run_stat_bounds
                WHERE histogram = 'completion')), (SELECT count(*) FROM run_stat_bounds WHERE histogram = 'completion')),
            shard, sum(d), sum(d * coalesce(us, 0))
        FROM (
            SELECT get_byte(uuid_send(id), 15) & 15 AS shard,
                (extract(epoch FROM completed_at - created_at) * 1000000)::bigint AS us, 1 AS d
            FROM new_rows WHERE status = 'completed'
            UNION ALL
            SELECT get_byte(uuid_send(id), 15) & 15, (extract(epoch FROM completed_at - created_at) * 1000000)::bigint, -1
            FROM old_rows WHERE status = 'completed'
        ) AS x
        GROUP BY 1, 2 HAVING sum(d) <> 0 OR sum(d * coalesce(us, 0)) <> 0
        ORDER BY 1, 2
        ON CONFLICT (bucket, shard) DO UPDATE SET n = c.n + excluded.n, sum_us = c.sum_us + excluded.sum_us;
    ELSE
        INSERT INTO job_counts AS c (status, shard, n)
        SELECT status, get_byte(uuid_send(id), 15) & 15, sign * count(*) FROM changed_rows
        GROUP BY 1, 2
        ORDER BY 1, 2
        ON CONFLICT (status, shard) DO UPDATE SET n = c.n + excluded.n;

        INSERT INTO completion_counts AS c (bucket, shard, n, sum_us)
        SELECT coalesce(width_bucket(us - 1, (SELECT array_agg(bound_ms * 1000 ORDER BY i) FROM run_stat_bounds
                WHERE histogram = 'completion')), (SELECT count(*) FROM run_stat_bounds WHERE histogram = 'completion')),
            shard, sign * count(*), sign * sum(coalesce(us, 0))
        FROM (
            SELECT get_byte(uuid_send(id), 15) & 15 AS shard,
                (extract(epoch FROM completed_at - created_at) * 1000000)::bigint AS us
            FROM changed_rows WHERE status = 'completed'
        ) AS x
        GROUP BY 1, 2
        ORDER BY 1, 2
        ON CONFLICT (bucket, shard) DO UPDATE SET n = c.n + excluded.n, sum_us = c.sum_us + excluded.sum_us;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION intake_count_runs() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    sign integer := TG_ARGV[0];
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO run_counts AS c (outcome, bucket, shard, n, sum_us, documents)
        SELECT outcome, coalesce(width_bucket(us - 1, (SELECT array_agg(bound_ms * 1000 ORDER BY i)
                FROM run_stat_bounds WHERE histogram = 'duration')),
                (SELECT count(*) FROM run_stat_bounds WHERE histogram = 'duration')),
            shard, sum(d), sum(d * coalesce(us, 0)), sum(d * collected)
        FROM (
            SELECT outcome, get_byte(uuid_send(job_id), 15) & 15 AS shard, collected,
                (extract(epoch FROM ended_at - started_at) * 1000000)::bigint AS us, 1 AS d
            FROM new_rows WHERE outcome <> 'running'
            UNION ALL
            SELECT outcome, get_byte(uuid_send(job_id), 15) & 15, collected,
                (extract(epoch FROM ended_at - started_at) * 1000000)::bigint, -1
            FROM old_rows WHERE outcome <> 'running'
        ) AS x
        GROUP BY 1, 2, 3 HAVING sum(d) <> 0 OR sum(d * coalesce(us, 0)) <> 0 OR sum(d * collected) <> 0
        ORDER BY 1, 2, 3
        ON CONFLICT (outcome, bucket, shard) DO UPDATE SET n = c.n + excluded.n,
            sum_us = c.sum_us + excluded.sum_us, documents = c.documents + excluded.documents;
    ELSE
        INSERT INTO run_counts AS c (outcome, bucket, shard, n, sum_us, documents)
        SELECT outcome, coalesce(width_bucket(us - 1, (SELECT array_agg(bound_ms * 1000 ORDER BY i)
                FROM run_stat_bounds WHERE histogram = 'duration')),
                (SELECT count(*) FROM run_stat_bounds WHERE histogram = 'duration')),
            shard, sign * count(*), sign * sum(coalesce(us, 0)), sign * sum(collected)
        FROM (
            SELECT outcome, get_byte(uuid_send(job_id), 15) & 15 AS shard, collected,
                (extract(epoch FROM ended_at - started_at) * 1000000)::bigint AS us
            FROM changed_rows WHERE outcome <> 'running'
        ) AS x
        GROUP BY 1, 2, 3
        ORDER BY 1, 2, 3
        ON CONFLICT (outcome, bucket, shard) DO UPDATE SET n = c.n + excluded.n,
            sum_us = c.sum_us + excluded.sum_us, documents = c.documents + excluded.documents;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION intake_count_documents() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    sign integer := TG_ARGV[0];
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO document_counts AS c (shard, n, bytes)
        SELECT shard, sum(d), sum(d * size_bytes) FROM (
            SELECT get_byte(uuid_send(id), 15) & 15 AS shard, size_bytes, 1 AS d FROM new_rows
            UNION ALL
            SELECT get_byte(uuid_send(id), 15) & 15, size_bytes, -1 FROM old_rows
        ) AS x
        GROUP BY shard HAVING sum(d) <> 0 OR sum(d * size_bytes) <> 0
        ORDER BY shard
        ON CONFLICT (shard) DO UPDATE SET n = c.n + excluded.n, bytes = c.bytes + excluded.bytes;
    ELSE
        INSERT INTO document_counts AS c (shard, n, bytes)
        SELECT get_byte(uuid_send(id), 15) & 15, sign * count(*), sign * sum(size_bytes) FROM changed_rows
        GROUP BY 1
        ORDER BY 1
        ON CONFLICT (shard) DO UPDATE SET n = c.n + excluded.n, bytes = c.bytes + excluded.bytes;
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
    CASE TG_TABLE_NAME
    WHEN 'jobs' THEN
        DELETE FROM job_counts;
        DELETE FROM completion_counts;
    WHEN 'job_runs' THEN
        DELETE FROM run_counts;
    WHEN 'documents' THEN
        DELETE FROM document_counts;
    END CASE;
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
-- taken at the top.
INSERT INTO job_counts (status, shard, n)
SELECT status, get_byte(uuid_send(id), 15) & 15, count(*) FROM jobs GROUP BY 1, 2;

INSERT INTO completion_counts (bucket, shard, n, sum_us)
SELECT coalesce(width_bucket(us - 1, (SELECT array_agg(bound_ms * 1000 ORDER BY i) FROM run_stat_bounds
        WHERE histogram = 'completion')), (SELECT count(*) FROM run_stat_bounds WHERE histogram = 'completion')),
    shard, count(*), sum(coalesce(us, 0))
FROM (
    SELECT get_byte(uuid_send(id), 15) & 15 AS shard,
        (extract(epoch FROM completed_at - created_at) * 1000000)::bigint AS us
    FROM jobs WHERE status = 'completed'
) AS x
GROUP BY 1, 2;

INSERT INTO run_counts (outcome, bucket, shard, n, sum_us, documents)
SELECT outcome, coalesce(width_bucket(us - 1, (SELECT array_agg(bound_ms * 1000 ORDER BY i)
        FROM run_stat_bounds WHERE histogram = 'duration')),
        (SELECT count(*) FROM run_stat_bounds WHERE histogram = 'duration')),
    shard, count(*), sum(coalesce(us, 0)), sum(collected)
FROM (
    SELECT outcome, get_byte(uuid_send(job_id), 15) & 15 AS shard, collected,
        (extract(epoch FROM ended_at - started_at) * 1000000)::bigint AS us
    FROM job_runs WHERE outcome <> 'running'
) AS x
GROUP BY 1, 2, 3;

INSERT INTO document_counts (shard, n, bytes)
SELECT get_byte(uuid_send(id), 15) & 15, count(*), sum(size_bytes) FROM documents GROUP BY 1;

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
DROP TABLE completion_counts;
DROP TABLE run_counts;
DROP TABLE run_stat_bounds;
DROP TABLE document_counts;
DROP TABLE job_counts;
