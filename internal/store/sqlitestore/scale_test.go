package sqlitestore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store/sqlitestore"
	"github.com/intake-dev/intake/internal/store/storetest"
	"github.com/intake-dev/intake/internal/telemetry"
)

// scaleSchedules inserts the 100 schedules that own a tenth of the jobs.
const scaleSchedules = `WITH RECURSIVE k(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM k WHERE k < 100)
	INSERT INTO schedules (id, tenant, source_type, config, misfire, overlap, next_fire_at, version, created_at, updated_at)
		SELECT printf('00000000-0000-7000-9000-%012x', k), 'default', 'filings', '{}', 'skip', 'skip',
			1893456000000, 1, 1893456000000, 1893456000000
		FROM k`

// scaleLoad inserts jobs ?1 to ?2 across the statuses (10% pending, 1%
// scheduled, 1% processing, 80% completed, 5% failed, 3% cancelled), a run
// for every job that was claimed and a document for every completed job
// that has none yet, as the PostgreSQL store's TestScalePlans does; every
// tenth job belongs to a schedule. IDs sort by creation, as UUIDv7 do.
var scaleLoad = []string{
	`WITH RECURSIVE g(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM g WHERE i < ?2)
	INSERT INTO jobs (id, tenant, source_type, config, status, available_at, created_at, updated_at,
			started_at, completed_at, schedule_id)
		SELECT printf('%08x-%04x-7000-8000-%012x', i >> 16, i & 65535, i), 'default', 'filings', '{}',
			st, t, t, t,
			CASE WHEN st IN ('pending', 'scheduled') THEN NULL ELSE t END,
			CASE WHEN st IN ('completed', 'failed', 'cancelled') THEN t + 1000 END,
			CASE WHEN i % 10 = 0 THEN printf('00000000-0000-7000-9000-%012x', i / 10 % 100 + 1) END
		FROM (SELECT i, 1893456000000 + i AS t,
			CASE WHEN i % 100 < 10 THEN 'pending' WHEN i % 100 = 10 THEN 'scheduled'
				WHEN i % 100 = 11 THEN 'processing' WHEN i % 100 < 17 THEN 'failed'
				WHEN i % 100 < 20 THEN 'cancelled' ELSE 'completed' END AS st
			FROM g)`,
	`INSERT INTO job_runs (job_id, number, worker, lease_owner, started_at, ended_at, collected_before, collected, outcome)
		SELECT id, 1, 'w', 'o', started_at, completed_at, 0, 10,
			CASE WHEN status = 'processing' THEN 'running' ELSE status END
		FROM jobs j WHERE status NOT IN ('pending', 'scheduled')
			AND NOT EXISTS (SELECT 1 FROM job_runs r WHERE r.job_id = j.id)`,
	`INSERT INTO documents (id, job_id, seq, name, document_type, content_type, size_bytes, sha256, blob_key, collected_at)
		SELECT id, id, 1, 'filing.pdf', 'filing', 'application/pdf', 4096, '', id, completed_at
		FROM jobs j WHERE status = 'completed'
			AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.job_id = j.id)`,
}

// load inserts jobs from to to with their runs and documents.
func load(t *testing.T, db *sql.DB, from, to int) {
	t.Helper()
	for i, q := range scaleLoad {
		if _, err := db.ExecContext(t.Context(), q, from, to); err != nil {
			t.Fatalf("load step %d: %v", i+1, err)
		}
	}
}

// TestScalePlans loads INTAKE_TEST_SCALE_ROWS jobs, half before migration
// 00004 (which counts them) and half after (which its triggers count),
// checks that the counts equal a scan, and checks the plans of the reads
// of a /metrics scrape (Stats, RunStats, ScheduleHealth) and of the first
// and a deep page of a job list by status: none may scan jobs, job_runs or
// documents whole (the counted tables, a few dozen rows, are read whole),
// and each must search its index. The plans and the median times of all
// the reads are logged, never asserted.
func TestScalePlans(t *testing.T) {
	t.Parallel()
	rows := storetest.ScaleRows(t)
	path := filepath.Join(t.TempDir(), "intake.db")
	d, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer d.Close()
	ctx := t.Context()
	if err := d.MigrateTo(ctx, 3); err != nil {
		t.Fatalf("MigrateTo(3): %v", err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Now()
	if _, err := db.ExecContext(ctx, scaleSchedules); err != nil {
		t.Fatalf("load schedules: %v", err)
	}
	load(t, db, 1, rows/2)
	t.Logf("%d jobs with their runs and documents loaded before migration 00004 in %v", rows/2,
		time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if err := d.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	t.Logf("migration 00004 (counting them, writes held off) took %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	load(t, db, rows/2+1, rows)
	t.Logf("%d more jobs with their runs and documents loaded through its triggers in %v", rows-rows/2,
		time.Since(start).Round(time.Millisecond))
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatalf("analyze: %v", err)
	}
	params := intake.RunStatsParams{DurationBuckets: telemetry.RunDurationBuckets, CompletionBuckets: telemetry.CompletionBuckets}
	storetest.WantCounted(t, "after the load", d, params, d.ScanStats, d.ScanRunStats)

	var deep string
	err = db.QueryRowContext(ctx, `SELECT id FROM jobs WHERE status = 'completed' ORDER BY id DESC LIMIT 1 OFFSET ?`,
		rows*8/10*9/10).Scan(&deep)
	if err != nil {
		t.Fatalf("deep cursor: %v", err)
	}
	page := intake.MaxPageSize + 1 // the store asks for one more job than a page
	listJobs := func(status intake.Status, before string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := d.ListJobs(ctx, status, before, page)
			return err
		}
	}
	tests := []struct {
		name, query string
		args        []any
		search      string // what the plan must search ("SEARCH jobs USING … jobs_claim"), "" for nothing
		call        func(context.Context) error
	}{
		{"Stats by status", sqlitestore.StatsCountsQuery, nil, "", nil},
		{"Stats oldest pending and documents", sqlitestore.StatsRestQuery, nil, "jobs_claim",
			func(ctx context.Context) error { _, err := d.Stats(ctx); return err }},
		{"RunStats", sqlitestore.RunCountersQuery, nil, "",
			func(ctx context.Context) error { _, err := d.RunStats(ctx, params); return err }},
		{"ScheduleHealth", sqlitestore.ScheduleHealthQuery, nil, "jobs_schedule",
			func(ctx context.Context) error { _, err := d.ScheduleHealth(ctx); return err }},
		{"ListJobs pending, first page", sqlitestore.ListJobsByStatusQuery,
			[]any{"~", page, "pending"}, "jobs_status_id", listJobs(intake.StatusPending, "")},
		{"ListJobs processing, first page", sqlitestore.ListJobsByStatusQuery,
			[]any{"~", page, "processing"}, "jobs_status_id", listJobs(intake.StatusProcessing, "")},
		{"ListJobs completed, first page", sqlitestore.ListJobsByStatusQuery,
			[]any{"~", page, "completed"}, "jobs_status_id", listJobs(intake.StatusCompleted, "")},
		{"ListJobs completed, deep page", sqlitestore.ListJobsByStatusQuery,
			[]any{deep, page, "completed"}, "jobs_status_id", listJobs(intake.StatusCompleted, deep)},
	}
	for _, tt := range tests {
		plan := queryPlan(t, db, tt.query, tt.args...)
		text := strings.Join(plan, "\n")
		t.Logf("%s: EXPLAIN QUERY PLAN:\n%s", tt.name, text)
		var scans []string
		for _, step := range plan {
			for _, table := range []string{"jobs", "job_runs", "documents"} {
				if strings.HasPrefix(step, "SCAN "+table) {
					scans = append(scans, step)
				}
			}
		}
		if tt.search != "" && (!strings.Contains(text, "SEARCH jobs USING") || !strings.Contains(text, tt.search)) {
			t.Errorf("%s does not search jobs through %s", tt.name, tt.search)
		}
		if len(scans) > 0 {
			t.Errorf("%s scans the whole of a table or index: %q", tt.name, scans)
		}
		if tt.call != nil {
			t.Logf("%s: median of 5 calls through the driver: %v", tt.name, storetest.Median(t, 5, tt.call))
		}
	}
	t.Logf("a scrape's store reads (Stats, RunStats, ScheduleHealth, ListSchedules): median of 5: %v",
		storetest.Median(t, 5, storetest.ScrapeReads(d, params)))
}
