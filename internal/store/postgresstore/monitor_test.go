package postgresstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/intake-dev/intake/internal/store/postgresstore"
	"github.com/jackc/pgx/v5"
)

// TestMonitorPlans loads jobs, most of them ended without a schedule or a
// notification, as a long-lived store holds, and checks that the queries
// the maintenance loop runs on every pass (ScheduleJobs, ScheduleHealth,
// ClaimNotifications) read jobs through an index, never a sequential scan,
// with the parameters' values known (a custom plan) and unknown (the
// generic plan a cached statement ends up with).
func TestMonitorPlans(t *testing.T) {
	t.Parallel()
	d := open(t).(*postgresstore.Driver)
	ctx := t.Context()
	const sid = "01890a5d-ac96-774b-bcce-b302099a8057"
	_, err := d.Pool().Exec(ctx, `INSERT INTO jobs (id, tenant, source_type, config, status, available_at, created_at,
			updated_at, completed_at, schedule_id, notify, notify_due_at)
		SELECT gen_random_uuid(), 'default', 'filings', '{}', 'completed', t, t, t, t,
			CASE WHEN i % 100 = 0 THEN $1::uuid END,
			CASE WHEN i % 10 = 0 THEN '{"url":"http://127.0.0.1:9/"}'::jsonb END,
			CASE WHEN i % 1000 = 0 THEN t END
		FROM generate_series(1, 20000) AS i,
			LATERAL (SELECT timestamptz '2030-01-01' + i * interval '1 millisecond') AS at (t)`, sid)
	if err != nil {
		t.Fatalf("load jobs: %v", err)
	}
	_, err = d.Pool().Exec(ctx, `INSERT INTO schedules (id, tenant, source_type, config, misfire, overlap,
			next_fire_at, version, created_at, updated_at)
		VALUES ($1, 'default', 'filings', '{}', 'fire_once', 'skip', now(), 1, now(), now())`, sid)
	if err != nil {
		t.Fatalf("insert schedule: %v", err)
	}
	if _, err := d.Pool().Exec(ctx, `ANALYZE jobs; ANALYZE schedules`); err != nil {
		t.Fatalf("analyze: %v", err)
	}
	tests := []struct {
		name, query, args string
		indexes           []string
	}{
		{"ScheduleJobs", postgresstore.ScheduleJobsQuery, `('` + sid + `', 'default', 'schedule:` + sid + `:2030-01-01T00:00:00Z')`,
			[]string{"jobs_schedule", "jobs_idempotency"}},
		{"ScheduleHealth", postgresstore.ScheduleHealthQuery, ``, []string{"jobs_schedule"}},
		{"ClaimNotifications", postgresstore.ClaimNotificationsQuery,
			`('2030-01-01T00:00:30Z', '2030-01-01T00:01:30Z', 100)`, []string{"jobs_notify_due"}},
	}
	for _, tt := range tests {
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			plan := explain(t, d, mode, tt.query, tt.args)
			for _, index := range tt.indexes {
				if strings.Contains(plan, "Seq Scan on jobs") || !strings.Contains(plan, index) {
					t.Errorf("%s (%s) does not read jobs through %s:\n%s", tt.name, mode, index, plan)
				}
			}
		}
	}
}

// explain prepares query and returns the EXPLAIN output of executing it
// with args (a parenthesised list of SQL literals, or empty) under the
// plan_cache_mode mode, in a transaction that it rolls back.
func explain(t *testing.T, d *postgresstore.Driver, mode, query, args string) string {
	t.Helper()
	ctx := t.Context()
	tx, err := d.Pool().Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	for _, stmt := range []string{"SET LOCAL plan_cache_mode = " + mode, "PREPARE monitor_plan AS " + query} {
		if _, err := tx.Exec(ctx, stmt, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	defer func() {
		_, _ = tx.Exec(context.WithoutCancel(ctx), "DEALLOCATE monitor_plan", pgx.QueryExecModeSimpleProtocol)
	}()
	r, err := tx.Query(ctx, "EXPLAIN EXECUTE monitor_plan"+args, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	plan, err := pgx.CollectRows(r, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	return strings.Join(plan, "\n")
}
