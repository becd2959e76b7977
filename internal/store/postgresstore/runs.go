package postgresstore

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// The run records live in job_runs. Claim inserts a job's open record and
// every statement that releases the job closes it through a data-modifying
// CTE of the same statement, so the records always agree with the jobs.

// runColumns lists the columns scanRun reads, in order.
const runColumns = `job_id::text, number, worker, lease_owner, started_at, ended_at, batch, collected, outcome, error`

// scanRun reads one row of runColumns.
func scanRun(row pgx.Row) (*intake.Run, error) {
	var (
		r     intake.Run
		ended pgtype.Timestamptz
	)
	err := row.Scan(&r.JobID, &r.Number, &r.Worker, &r.LeaseOwner, &r.StartedAt, &ended, &r.Batch,
		&r.Collected, &r.Outcome, &r.Error)
	if err != nil {
		return nil, err
	}
	r.StartedAt = r.StartedAt.UTC()
	if ended.Valid {
		r.EndedAt = ended.Time.UTC()
	}
	return &r, nil
}

// openingRuns wraps a claim statement (one ending in RETURNING and the
// job columns) so that the same statement opens the run records of the
// jobs it claims; $1 is the owner, $3 the time and worker the parameter
// holding the worker's name.
func openingRuns(claim, worker string) string {
	return `WITH c AS (` + claim + `), r AS (
		INSERT INTO job_runs (job_id, number, worker, lease_owner, started_at, collected_before)
		SELECT c.id, c.runs, ` + worker + `::text, $1, $3, c.collected FROM c
	) SELECT * FROM c`
}

// closingRun wraps a fenced job UPDATE (ending with its WHERE clause; $1
// is the job ID and $2 the owner) so that the same statement closes the
// run: outcome, errText and now name the parameters of the outcome (empty
// to choose batch_done or drained by whether the whole batch was
// recorded), the error and the time. The statement returns a row when the
// job matched the fence.
func closingRun(update, outcome, errText, now string) string {
	return `WITH j AS (` + update + ` RETURNING id, collected), r AS (
		UPDATE job_runs AS r SET ended_at = ` + now + `, error = ` + errText + `::text,
			collected = j.collected - r.collected_before,
			outcome = CASE WHEN ` + outcome + `::text <> '' THEN ` + outcome + `::text
				WHEN r.batch > j.collected - r.collected_before THEN 'drained' ELSE 'batch_done' END
		FROM j WHERE r.job_id = j.id AND r.lease_owner = $2 AND r.outcome = 'running'
	) SELECT 1 FROM j`
}

// StartBatch records the batch size on the open run.
func (s *Driver) StartBatch(ctx context.Context, jobID, owner string, batch int) (bool, error) {
	return s.fenced(ctx, `UPDATE job_runs SET batch = $3
		WHERE job_id = $1 AND lease_owner = $2 AND outcome = 'running'
			AND EXISTS (SELECT 1 FROM jobs WHERE `+fence+`)`, jobID, owner, batch)
}

// ListRuns returns up to limit run records of a job with Number greater
// than after, in Number order.
func (s *Driver) ListRuns(ctx context.Context, jobID string, after, limit int) ([]*intake.Run, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM job_runs
		WHERE job_id = $1 AND number > $2 ORDER BY number LIMIT $3`, jobID, after, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*intake.Run, error) { return scanRun(row) })
}

// runCountersQuery reads the bucket bounds of migration 00004 and the
// counts of runs and completions its triggers keep, summed over their
// shards, in one statement (one snapshot): a few dozen rows of
// driver.Counter however many runs and jobs there are.
const runCountersQuery = `SELECT 'bound', histogram, i, bound, 0::bigint, 0::bigint, 0::bigint FROM run_stat_bounds
	UNION ALL
	SELECT name, key, bucket, 0, sum(n)::bigint, sum(total)::bigint, sum(documents)::bigint
	FROM counts WHERE name IN ('runs', 'completions') GROUP BY name, key, bucket`

// RunStats reads the counters that the triggers of migration 00004 keep
// when p's bounds are the ones they count into (telemetry's); for other
// bounds it aggregates the ended runs by outcome and the completed jobs in
// two queries that scan them, counting the buckets in SQL.
func (s *Driver) RunStats(ctx context.Context, p intake.RunStatsParams) (*intake.RunStats, error) {
	rows, err := s.pool.Query(ctx, runCountersQuery)
	if err != nil {
		return nil, err
	}
	var c driver.Counter
	counters, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (driver.Counter, error) {
		return c, row.Scan(c.Dest()...)
	})
	if err != nil {
		return nil, err
	}
	if st, ok := driver.CountedRunStats(p, counters, time.Microsecond); ok {
		return st, nil
	}
	return s.scanRunStats(ctx, p)
}

// scanRunStats aggregates the ended runs by outcome and the completed jobs
// in two queries that return a few rows, counting the buckets in SQL.
func (s *Driver) scanRunStats(ctx context.Context, p intake.RunStatsParams) (*intake.RunStats, error) {
	st := intake.NewRunStats(p)
	rows, err := s.pool.Query(ctx, runOutcomesQuery(p))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		if err := driver.ScanOutcome(rows.Scan, p, st); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	err = s.pool.QueryRow(ctx, completionQuery(p)).Scan(driver.HistogramDest(&st.Completion)...)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// runOutcomesQuery sums the ended runs by outcome, with the histogram of
// their durations.
func runOutcomesQuery(p intake.RunStatsParams) string {
	return `SELECT outcome, coalesce(sum(collected), 0)::bigint, ` +
		histogramColumns(`extract(epoch FROM ended_at - started_at)`, p.DurationBuckets) + `
		FROM job_runs WHERE outcome <> 'running' GROUP BY outcome`
}

// completionQuery returns the histogram of the completed jobs' times from
// creation to completion.
func completionQuery(p intake.RunStatsParams) string {
	return `SELECT ` + histogramColumns(`extract(epoch FROM completed_at - created_at)`, p.CompletionBuckets) + `
		FROM jobs WHERE status = 'completed'`
}

// histogramColumns returns the count, the sum and the cumulative bucket
// counts of a duration in seconds. Times are kept at millisecond
// precision, so each bound is compared at that precision.
func histogramColumns(seconds string, bounds []float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "count(*)::bigint, coalesce(sum(%s), 0)::float8", seconds)
	for _, bound := range bounds {
		fmt.Fprintf(&b, ", count(*) FILTER (WHERE %s <= %s)::bigint", seconds,
			fmt.Sprint(math.Floor(bound*1000+1e-9)/1000))
	}
	return b.String()
}
