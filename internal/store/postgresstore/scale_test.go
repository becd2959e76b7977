package postgresstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store/postgresstore"
	"github.com/intake-dev/intake/internal/store/storetest"
	"github.com/intake-dev/intake/internal/telemetry"
)

// scaleSchedules inserts the 100 schedules that own a tenth of the jobs.
const scaleSchedules = `INSERT INTO schedules (id, tenant, source_type, config, misfire, overlap, next_fire_at, version,
		created_at, updated_at)
	SELECT ('00000000-0000-7000-9000-' || lpad(to_hex(k), 12, '0'))::uuid, 'default', 'filings', '{}',
		'skip', 'skip', timestamptz '2030-01-01', 1, timestamptz '2030-01-01', timestamptz '2030-01-01'
	FROM generate_series(1, 100) AS k`

// scaleLoad inserts jobs $1 to $2 across the statuses (10% pending, 1%
// scheduled, 1% processing, 80% completed, 5% failed, 3% cancelled), a run
// for every job that was claimed and a document for every completed job
// that has none yet; every tenth job belongs to a schedule. IDs sort by
// creation, as UUIDv7 do.
var scaleLoad = []string{
	`INSERT INTO jobs (id, tenant, source_type, config, status, available_at, created_at, updated_at,
			started_at, completed_at, schedule_id)
		SELECT (lpad(to_hex(i), 12, '0') || '70008000' || lpad(to_hex(i), 12, '0'))::uuid, 'default', 'filings', '{}',
			st, t, t, t,
			CASE WHEN st IN ('pending', 'scheduled') THEN NULL ELSE t END,
			CASE WHEN st IN ('completed', 'failed', 'cancelled') THEN t + interval '1 second' END,
			CASE WHEN i % 10 = 0 THEN ('00000000-0000-7000-9000-' || lpad(to_hex(i / 10 % 100 + 1), 12, '0'))::uuid END
		FROM generate_series($1::int, $2::int) AS i,
			LATERAL (SELECT timestamptz '2030-01-01' + i * interval '1 millisecond',
				CASE WHEN i % 100 < 10 THEN 'pending' WHEN i % 100 = 10 THEN 'scheduled'
					WHEN i % 100 = 11 THEN 'processing' WHEN i % 100 < 17 THEN 'failed'
					WHEN i % 100 < 20 THEN 'cancelled' ELSE 'completed' END) AS at (t, st)`,
	`INSERT INTO job_runs (job_id, number, worker, lease_owner, started_at, ended_at, collected_before, collected, outcome)
		SELECT id, 1, 'w', 'o', started_at, completed_at, 0, 10,
			CASE WHEN status = 'processing' THEN 'running' ELSE status END
		FROM jobs j WHERE status NOT IN ('pending', 'scheduled')
			AND NOT EXISTS (SELECT 1 FROM job_runs r WHERE r.job_id = j.id)`,
	`INSERT INTO documents (id, job_id, seq, name, document_type, content_type, size_bytes, sha256, blob_key, collected_at)
		SELECT id, id, 1, 'filing.pdf', 'filing', 'application/pdf', 4096, '', id::text, completed_at
		FROM jobs j WHERE status = 'completed'
			AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.job_id = j.id)`,
}

// load inserts jobs from to to with their runs and documents.
func load(t *testing.T, d *postgresstore.Driver, from, to int) {
	t.Helper()
	for i, q := range scaleLoad {
		var args []any
		if strings.Contains(q, "$1") {
			args = []any{from, to}
		}
		if _, err := d.Pool().Exec(t.Context(), q, args...); err != nil {
			t.Fatalf("load step %d: %v", i+1, err)
		}
	}
}

// TestScalePlans loads INTAKE_TEST_SCALE_ROWS jobs, half before migration
// 00004 (which counts them) and half after (which its triggers count),
// checks that the counts equal a scan, and checks the plans of the reads
// of a /metrics scrape (Stats, RunStats, ScheduleHealth) and of the first
// and a deep page of a job list by status: none may scan jobs, job_runs or
// documents sequentially (the counted tables, a few dozen rows, are read
// whole), and each must use its index. The plans and the median times of
// all the reads are logged, never asserted.
func TestScalePlans(t *testing.T) {
	t.Parallel()
	rows := storetest.ScaleRows(t)
	d := openDriver(t, postgresstore.Config{StatementTimeout: -1})
	ctx := t.Context()
	if err := d.MigrateTo(ctx, 3); err != nil {
		t.Fatalf("MigrateTo(3): %v", err)
	}
	start := time.Now()
	if _, err := d.Pool().Exec(ctx, scaleSchedules); err != nil {
		t.Fatalf("load schedules: %v", err)
	}
	load(t, d, 1, rows/2)
	t.Logf("%d jobs with their runs and documents loaded before migration 00004 in %v", rows/2,
		time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if err := d.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	t.Logf("migration 00004 (counting them, writes held off) took %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	load(t, d, rows/2+1, rows)
	t.Logf("%d more jobs with their runs and documents loaded through its triggers in %v", rows-rows/2,
		time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if _, err := d.Pool().Exec(ctx, `VACUUM ANALYZE schedules, jobs, job_runs, documents`); err != nil {
		t.Fatalf("vacuum: %v", err)
	}
	t.Logf("vacuumed and analysed in %v", time.Since(start).Round(time.Millisecond))
	params := intake.RunStatsParams{DurationBuckets: telemetry.RunDurationBuckets, CompletionBuckets: telemetry.CompletionBuckets}
	storetest.WantCounted(t, "after the load", d, params, d.ScanStats, d.ScanRunStats)

	var deep string
	err := d.Pool().QueryRow(ctx, `SELECT id::text FROM jobs WHERE status = 'completed' ORDER BY id DESC OFFSET $1 LIMIT 1`,
		rows*8/10*9/10).Scan(&deep)
	if err != nil {
		t.Fatalf("deep cursor: %v", err)
	}
	page := intake.MaxPageSize + 1 // the store asks for one more job than a page
	tests := []struct {
		name, query string
		args        []any
		index       string // what the plan must use
		call        func(context.Context) error
	}{
		{"Stats", postgresstore.StatsQuery, nil, "jobs_pending",
			func(ctx context.Context) error { _, err := d.Stats(ctx); return err }},
		{"RunStats", postgresstore.RunCountersQuery, nil, "counts",
			func(ctx context.Context) error { _, err := d.RunStats(ctx, params); return err }},
		{"ScheduleHealth", postgresstore.ScheduleHealthQuery, nil, "jobs_schedule",
			func(ctx context.Context) error { _, err := d.ScheduleHealth(ctx); return err }},
		{"ListJobs pending, first page", postgresstore.ListJobsByStatusQuery,
			[]any{"ffffffff-ffff-ffff-ffff-ffffffffffff", page, "pending"}, "Index Scan",
			func(ctx context.Context) error {
				_, err := d.ListJobs(ctx, intake.StatusPending, "", page)
				return err
			}},
		{"ListJobs processing, first page", postgresstore.ListJobsByStatusQuery,
			[]any{"ffffffff-ffff-ffff-ffff-ffffffffffff", page, "processing"}, "Index Scan",
			func(ctx context.Context) error {
				_, err := d.ListJobs(ctx, intake.StatusProcessing, "", page)
				return err
			}},
		{"ListJobs completed, first page", postgresstore.ListJobsByStatusQuery,
			[]any{"ffffffff-ffff-ffff-ffff-ffffffffffff", page, "completed"}, "Index Scan",
			func(ctx context.Context) error {
				_, err := d.ListJobs(ctx, intake.StatusCompleted, "", page)
				return err
			}},
		{"ListJobs completed, deep page", postgresstore.ListJobsByStatusQuery,
			[]any{deep, page, "completed"}, "Index Scan",
			func(ctx context.Context) error {
				_, err := d.ListJobs(ctx, intake.StatusCompleted, deep, page)
				return err
			}},
	}
	for _, tt := range tests {
		var text string
		for range 3 { // the last of three runs: the steady state
			text = explainAnalyze(t, d, tt.query, tt.args...)
		}
		t.Logf("%s: EXPLAIN (ANALYZE, BUFFERS), run 3 of 3:\n%s", tt.name, text)
		var scans []string
		for _, table := range []string{"jobs", "job_runs", "documents"} {
			if strings.Contains(text, "Seq Scan on "+table+" ") {
				scans = append(scans, table)
			}
		}
		if !strings.Contains(text, tt.index) {
			t.Errorf("%s does not use %s", tt.name, tt.index)
		}
		if len(scans) > 0 {
			t.Errorf("%s scans %v sequentially", tt.name, scans)
		}
		if tt.call != nil {
			t.Logf("%s: median of 5 calls through the driver: %v", tt.name, storetest.Median(t, 5, tt.call))
		}
	}
	t.Logf("a scrape's store reads (Stats, RunStats, ScheduleHealth, ListSchedules): median of 5: %v",
		storetest.Median(t, 5, storetest.ScrapeReads(d, params)))
}

// explainAnalyze returns the EXPLAIN (ANALYZE, BUFFERS) output of a query.
func explainAnalyze(t *testing.T, d *postgresstore.Driver, query string, args ...any) string {
	t.Helper()
	r, err := d.Pool().Query(t.Context(), `EXPLAIN (ANALYZE, BUFFERS) `+query, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	plan, err := pgx.CollectRows(r, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	return strings.Join(plan, "\n")
}
