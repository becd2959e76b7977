package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store/driver"
)

// The run records live in job_runs. Claim inserts a job's open record and
// every call that releases the job closes it in the same transaction, so
// the records always agree with the jobs.

// runColumns lists the columns scanRun reads, in order.
const runColumns = `job_id, number, worker, lease_owner, started_at, ended_at, batch, collected, outcome, error`

// scanRun reads one row of runColumns.
func scanRun(row scanner) (*intake.Run, error) {
	var (
		r       intake.Run
		started int64
		ended   sql.NullInt64
	)
	err := row.Scan(&r.JobID, &r.Number, &r.Worker, &r.LeaseOwner, &started, &ended, &r.Batch, &r.Collected,
		&r.Outcome, &r.Error)
	if err != nil {
		return nil, err
	}
	r.StartedAt, r.EndedAt = fromMS(started), fromNullMS(ended)
	return &r, nil
}

// openRun inserts the open record of the run that claimed j.
func openRun(ctx context.Context, tx *sql.Tx, j *intake.Job, p intake.ClaimParams, now int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO job_runs (job_id, number, worker, lease_owner, started_at, collected_before)
		VALUES (?, ?, ?, ?, ?, ?)`, j.ID, j.Runs, p.Worker, p.Owner, now, j.Collected)
	return err
}

// runCollected is the number of documents an open run has recorded.
const runCollected = `((SELECT j.collected FROM jobs j WHERE j.id = job_runs.job_id) - collected_before)`

// closeRun ends the open run of a job under owner with outcome, or, when
// outcome is empty (FinishRun without done), with batch_done or drained
// depending on whether the run recorded its whole batch.
func closeRun(ctx context.Context, tx *sql.Tx, jobID, owner string, outcome intake.RunOutcome, errText string, now int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE job_runs SET ended_at = ?1, error = ?2, collected = `+runCollected+`,
			outcome = CASE WHEN ?3 <> '' THEN ?3 WHEN batch > `+runCollected+` THEN 'drained' ELSE 'batch_done' END
		WHERE job_id = ?4 AND lease_owner = ?5 AND outcome = 'running'`,
		now, errText, string(outcome), jobID, owner)
	return err
}

// closeRunsOf ends, with outcome and errText, the open runs of the
// processing jobs that match where (a condition on jobs with parameters
// args starting at ?4). Call it before the jobs lose their lease owner.
func closeRunsOf(ctx context.Context, tx *sql.Tx, outcome intake.RunOutcome, errText string, now int64, where string, args ...any) error {
	//nolint:gosec // where is one of the callers' constant conditions; values are parameters.
	_, err := tx.ExecContext(ctx, `UPDATE job_runs SET ended_at = ?1, error = ?2, collected = `+runCollected+`,
			outcome = ?3
		WHERE outcome = 'running' AND (job_id, lease_owner) IN
			(SELECT id, lease_owner FROM jobs WHERE status = 'processing' AND `+where+`)`,
		append([]any{now, errText, string(outcome)}, args...)...)
	return err
}

// release runs a fenced job update (args end with the job ID and the
// owner) and closes the run in one transaction, and reports whether the
// update changed the job.
func (s *Driver) release(ctx context.Context, now time.Time, jobID, owner string, outcome intake.RunOutcome, errText string,
	query string, args ...any) (held bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		held, err = releaseTx(ctx, tx, now, jobID, owner, outcome, errText, query, args...)
		return err
	})
	return held && err == nil, err
}

// releaseTx is release in a transaction of the caller's.
func releaseTx(ctx context.Context, tx *sql.Tx, now time.Time, jobID, owner string, outcome intake.RunOutcome, errText string,
	query string, args ...any) (held bool, err error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return false, err
	}
	if held, err = affected(res); err != nil || !held {
		return false, err
	}
	return true, closeRun(ctx, tx, jobID, owner, outcome, errText, ms(now))
}

// StartBatch records the batch size on the open run.
func (s *Driver) StartBatch(ctx context.Context, jobID, owner string, batch int) (bool, error) {
	return s.fenced(ctx, `UPDATE job_runs SET batch = ?1
		WHERE job_id = ?2 AND lease_owner = ?3 AND outcome = 'running'
			AND EXISTS (SELECT 1 FROM jobs WHERE id = ?2 AND status = 'processing' AND lease_owner = ?3)`,
		batch, jobID, owner)
}

// ListRuns returns up to limit run records of a job with Number greater
// than after, in Number order.
func (s *Driver) ListRuns(ctx context.Context, jobID string, after, limit int) ([]*intake.Run, error) {
	return queryAll(ctx, s.reader, scanRun, `SELECT `+runColumns+` FROM job_runs
		WHERE job_id = ? AND number > ? ORDER BY number LIMIT ?`, jobID, after, limit)
}

// runCountersQuery reads the bucket bounds of migration 00004 and the
// counts of runs and completions its triggers keep in one statement (one
// snapshot): a few dozen rows of driver.Counter however many runs and jobs
// there are.
const runCountersQuery = `SELECT 'bound', histogram, i, bound, 0, 0, 0 FROM run_stat_bounds
	UNION ALL
	SELECT name, key, bucket, 0, n, total, documents FROM counts WHERE name IN ('runs', 'completions')`

// RunStats reads the counters that the triggers of migration 00004 keep
// when p's bounds are the ones they count into (telemetry's); for other
// bounds it aggregates the ended runs by outcome and the completed jobs in
// two queries that scan them, counting the buckets in SQL.
func (s *Driver) RunStats(ctx context.Context, p intake.RunStatsParams) (*intake.RunStats, error) {
	counters, err := queryAll(ctx, s.reader, func(row scanner) (driver.Counter, error) {
		var c driver.Counter
		return c, row.Scan(c.Dest()...)
	}, runCountersQuery)
	if err != nil {
		return nil, err
	}
	if st, ok := driver.CountedRunStats(p, counters, time.Millisecond); ok {
		return st, nil
	}
	return s.scanRunStats(ctx, p)
}

// scanRunStats aggregates the ended runs by outcome and the completed jobs
// in two queries that return a few rows, counting the buckets in SQL.
func (s *Driver) scanRunStats(ctx context.Context, p intake.RunStatsParams) (*intake.RunStats, error) {
	st := intake.NewRunStats(p)
	err := eachRow(ctx, s.reader, func(row scanner) error { return driver.ScanOutcome(row.Scan, p, st) }, runOutcomesQuery(p))
	if err != nil {
		return nil, err
	}
	if err := s.reader.QueryRowContext(ctx, completionQuery(p)).Scan(driver.HistogramDest(&st.Completion)...); err != nil {
		return nil, err
	}
	return st, nil
}

// runOutcomesQuery sums the ended runs by outcome, with the histogram of
// their durations.
func runOutcomesQuery(p intake.RunStatsParams) string {
	//nolint:gosec // the bucket bounds are numbers formatted here, not input text.
	return `SELECT outcome, coalesce(sum(collected), 0), ` + histogramColumns(`ended_at - started_at`, p.DurationBuckets) + `
		FROM job_runs WHERE outcome <> 'running' GROUP BY outcome`
}

// completionQuery returns the histogram of the completed jobs' times from
// creation to completion.
func completionQuery(p intake.RunStatsParams) string {
	//nolint:gosec // the bucket bounds are numbers formatted here, not input text.
	return `SELECT ` + histogramColumns(`completed_at - created_at`, p.CompletionBuckets) + `
		FROM jobs WHERE status = 'completed'`
}

// histogramColumns returns the count, the sum in seconds and the
// cumulative bucket counts of a duration in milliseconds.
func histogramColumns(ms string, bounds []float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "count(*), coalesce(sum(%s), 0) / 1000.0", ms)
	for _, bound := range bounds {
		fmt.Fprintf(&b, ", coalesce(sum(CASE WHEN %s <= %d THEN 1 ELSE 0 END), 0)", ms, int64(math.Floor(bound*1000+1e-9)))
	}
	return b.String()
}
