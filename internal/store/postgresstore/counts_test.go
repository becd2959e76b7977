package postgresstore_test

import (
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
	storetest.WantCounted(t, "populated", d, telemetryBounds, d.ScanStats, d.ScanRunStats)
	for _, tt := range []struct {
		what, sql string
		args      []any
	}{
		{"two jobs deleted with their runs and documents", `DELETE FROM jobs WHERE id IN ($1, $2)`, []any{ids[1], ids[2]}},
		{"a document deleted", `DELETE FROM documents WHERE id = (SELECT id FROM documents ORDER BY id LIMIT 1)`, nil},
		{"documents resized", `UPDATE documents SET size_bytes = size_bytes * 3 WHERE seq = 2`, nil},
		{"ended runs lengthened", `UPDATE job_runs SET ended_at = ended_at + interval '7 seconds', collected = collected + 1
			WHERE outcome <> 'running'`, nil},
		{"open runs ended by hand", `UPDATE job_runs SET ended_at = started_at + interval '90 seconds', outcome = 'failed'
			WHERE outcome = 'running'`, nil},
		{"an ended run inserted", `INSERT INTO job_runs (job_id, number, worker, lease_owner, started_at, ended_at,
				collected_before, collected, outcome)
			SELECT id, 99, 'w', 'o', created_at, created_at + interval '0.05 seconds', 0, 4, 'drained' FROM jobs
			WHERE id = $1`, []any{ids[0]}},
		{"completions moved", `UPDATE jobs SET completed_at = completed_at + interval '1 hour' WHERE status = 'completed'`, nil},
		{"statuses changed by hand", `UPDATE jobs SET status = 'cancelled' WHERE status IN ('pending', 'failed')`, nil},
		{"a completed job inserted", `INSERT INTO jobs (id, tenant, source_type, config, status, available_at, created_at,
				updated_at, completed_at)
			VALUES (gen_random_uuid(), 'default', 'filings', '{}', 'completed', now(), now(), now(), now() + interval '2 seconds')`, nil},
		{"every job's runs deleted", `DELETE FROM job_runs`, nil},
		{"truncated", `TRUNCATE jobs CASCADE`, nil},
	} {
		if _, err := d.Pool().Exec(t.Context(), tt.sql, tt.args...); err != nil {
			t.Fatalf("%s: %v", tt.what, err)
		}
		storetest.WantCounted(t, tt.what, d, telemetryBounds, d.ScanStats, d.ScanRunStats)
	}
}

// TestRunStatsReadsCounters checks that RunStats answers from the
// counters for the bounds of internal/telemetry, which must therefore be
// the ones migration 00004 stored, and scans for other bounds: a counter
// written by hand shows in the first and not in the second.
func TestRunStatsReadsCounters(t *testing.T) {
	t.Parallel()
	d := open(t).(*postgresstore.Driver)
	ctx := t.Context()
	_, err := d.Pool().Exec(ctx, `INSERT INTO counts (name, key, bucket, shard, n, total, documents)
		VALUES ('runs', 'completed', 2, 0, 5, 1000000, 7), ('completions', '', 12, 3, 2, 90000000000, 0)`)
	if err != nil {
		t.Fatalf("write counters: %v", err)
	}
	st, err := d.RunStats(ctx, telemetryBounds)
	if err != nil {
		t.Fatalf("RunStats: %v", err)
	}
	runs := st.Runs[intake.RunCompleted]
	if runs.Count != 5 || runs.Sum != 1 || runs.Buckets[1] != 0 || runs.Buckets[2] != 5 || st.Documents != 7 {
		t.Errorf("RunStats in telemetry's bounds: completed runs %+v, documents %d; want the counters' 5 runs "+
			"from bucket 2 on, 1 s and 7 documents", runs, st.Documents)
	}
	if c := st.Completion; c.Count != 2 || c.Sum != 90000 || c.Buckets[11] != 0 {
		t.Errorf("RunStats in telemetry's bounds: completion %+v, want the counters' 2 jobs above every bound", c)
	}
	st, err = d.RunStats(ctx, intake.RunStatsParams{DurationBuckets: []float64{1, 10}, CompletionBuckets: []float64{5}})
	if err != nil {
		t.Fatalf("RunStats: %v", err)
	}
	if st.Runs[intake.RunCompleted].Count != 0 || st.Completion.Count != 0 {
		t.Errorf("RunStats in other bounds read the counters: %+v", st)
	}
}
