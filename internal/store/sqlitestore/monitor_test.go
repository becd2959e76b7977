package sqlitestore_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intake-dev/intake/internal/store/sqlitestore"
)

// TestMonitorPlans checks that the queries the maintenance loop runs on
// every pass (ScheduleJobs, ScheduleHealth, ClaimNotifications) search
// jobs through an index rather than scan the table, which grows with
// every job ever run.
func TestMonitorPlans(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intake.db")
	d, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer d.Close()
	if err := d.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tests := []struct {
		name, query string
		indexes     []string
		args        []any
	}{
		{"ScheduleJobs", sqlitestore.ScheduleJobsQuery, []string{"jobs_schedule", "jobs_idempotency"}, []any{"s", "default", "k"}},
		{"ScheduleHealth", sqlitestore.ScheduleHealthQuery, []string{"jobs_schedule"}, nil},
		{"ClaimNotifications", sqlitestore.ClaimNotificationsQuery, []string{"jobs_notify_due"}, []any{1, 2, 10}},
	}
	for _, tt := range tests {
		plan := queryPlan(t, db, tt.query, tt.args...)
		text := strings.Join(plan, "\n")
		t.Logf("%s:\n%s", tt.name, text)
		for _, index := range tt.indexes {
			if !strings.Contains(text, index) {
				t.Errorf("%s does not use %s:\n%s", tt.name, index, text)
			}
		}
		for _, step := range plan {
			if strings.HasPrefix(step, "SCAN jobs") {
				t.Errorf("%s scans jobs (%q):\n%s", tt.name, step, text)
			}
		}
	}
}

// queryPlan returns the steps of EXPLAIN QUERY PLAN of query.
func queryPlan(t *testing.T, db *sql.DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatalf("explain: %v", err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("explain: %v", err)
	}
	return plan
}
