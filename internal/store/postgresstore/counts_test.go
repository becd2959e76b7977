package postgresstore_test

import (
	"context"
	"testing"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store/postgresstore"
	"github.com/intake-dev/intake/internal/store/storetest"
	"github.com/intake-dev/intake/internal/telemetry"
	"github.com/intake-dev/intake/internal/testenv"
)

// telemetryBounds are the bounds of the run collector of /metrics, which
// migration 00004 counts into.
var telemetryBounds = intake.RunStatsParams{
	DurationBuckets:   telemetry.RunDurationBuckets,
	CompletionBuckets: telemetry.CompletionBuckets,
}

// TestCountsFollowEveryWrite changes jobs, runs and documents behind the
// store's back, as an operator or an older binary could, and checks after
// each statement that Stats and RunStats still equal a scan: the triggers
// count every insert, update, delete, cascade and truncate.
func TestCountsFollowEveryWrite(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(storetest.Epoch)
	s, d := openStore(t, clock.Now)
	ids := storetest.Populate(t, s, clock, 36)
	exec := func(ctx context.Context, sql string, args ...any) error {
		_, err := d.Pool().Exec(ctx, sql, args...)
		return err
	}
	storetest.CountsFollowWrites(t, d, telemetryBounds, d.ScanStats, d.ScanRunStats, exec, []storetest.Write{
		{What: "two jobs deleted with their runs and documents", SQL: `DELETE FROM jobs WHERE id IN ($1, $2)`, Args: []any{ids[1], ids[2]}},
		{What: "a document deleted", SQL: `DELETE FROM documents WHERE id = (SELECT id FROM documents ORDER BY id LIMIT 1)`},
		{What: "documents resized", SQL: `UPDATE documents SET size_bytes = size_bytes * 3 WHERE seq = 2`},
		{What: "ended runs lengthened", SQL: `UPDATE job_runs SET ended_at = ended_at + interval '7 seconds', collected = collected + 1
			WHERE outcome <> 'running'`},
		{What: "open runs ended by hand", SQL: `UPDATE job_runs SET ended_at = started_at + interval '90 seconds', outcome = 'failed'
			WHERE outcome = 'running'`},
		{What: "an ended run inserted", SQL: `INSERT INTO job_runs (job_id, number, worker, lease_owner, started_at, ended_at,
				collected_before, collected, outcome)
			SELECT id, 99, 'w', 'o', created_at, created_at + interval '0.05 seconds', 0, 4, 'drained' FROM jobs
			WHERE id = $1`, Args: []any{ids[0]}},
		{What: "completions moved", SQL: `UPDATE jobs SET completed_at = completed_at + interval '1 hour' WHERE status = 'completed'`},
		{What: "statuses changed by hand", SQL: `UPDATE jobs SET status = 'cancelled' WHERE status IN ('pending', 'failed')`},
		{What: "a completed job inserted", SQL: `INSERT INTO jobs (id, tenant, source_type, config, status, available_at, created_at,
				updated_at, completed_at)
			VALUES (gen_random_uuid(), 'default', 'filings', '{}', 'completed', now(), now(), now(), now() + interval '2 seconds')`},
		{What: "every job's runs deleted", SQL: `DELETE FROM job_runs`},
		{What: "truncated", SQL: `TRUNCATE jobs CASCADE`},
	})
}

// TestRunStatsReadsCounters checks that RunStats answers from the
// counters for the bounds of internal/telemetry, which must therefore be
// the ones migration 00004 stored, and scans for other bounds: a counter
// written by hand shows in the first and not in the second.
func TestRunStatsReadsCounters(t *testing.T) {
	t.Parallel()
	d := open(t).(*postgresstore.Driver)
	storetest.RunStatsReadsCounters(t, d, telemetryBounds, func(ctx context.Context) error {
		_, err := d.Pool().Exec(ctx, `INSERT INTO counts (name, key, bucket, shard, n, total, documents)
		VALUES ('runs', 'completed', 2, 0, 5, 1000000, 7), ('completions', '', 12, 3, 2, 90000000000, 0)`)
		return err
	})
}
