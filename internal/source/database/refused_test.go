package database_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/intake-dev/intake"
)

// TestRefusedFunctions checks the first filter on the function names a job
// query may not call, in every spelling that reaches the same function.
func TestRefusedFunctions(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	s := b.source(t)
	for _, tt := range []struct {
		query   string
		refused bool
	}{
		{"SELECT pg_terminate_backend(pid) AS id FROM pg_stat_activity", true},
		{"SELECT PG_CANCEL_BACKEND(1) AS id", true},
		{`SELECT pg_catalog."pg_terminate_backend"(1) AS id`, true},
		{"SELECT pg_logical_emit_message(false, 'x', repeat('x', 1000000)) AS id", true},
		{"SELECT pg_notify('c', 'x') AS id", true},
		{"SELECT set_config('statement_timeout', '0', false) AS id", true},
		{"SELECT pg_advisory_lock(1) AS id", true},
		{"SELECT 1 AS id FROM query_to_xml('select pg_sleep(1)', true, true, '')", true},
		{"SELECT 1 AS id, ts_stat('select 1')", true},
		{`SELECT 1 AS id FROM U&"pg_term\0069nate_backend"(1)`, true},
		{"SELECT pg_terminate_backend/*x*/ (1) AS id", true},
		// Other identifiers that merely contain a name are fine.
		{"SELECT 1 AS id, 'pg_notify_x' AS my_set_config_col", false},
		{"SELECT 1 AS id, 2 AS pg_notify2", false},
	} {
		t.Run(tt.query, func(t *testing.T) {
			t.Parallel()
			cfg, _ := json.Marshal(map[string]any{"connection": "main", "query": tt.query, "key": []string{"id"}})
			err := s.Validate(t.Context(), cfg)
			var e *intake.Error
			gotRefused := intake.ErrorCode(err) == intake.EINVALID && asError(err, &e) &&
				slices.ContainsFunc(e.Fields, func(f intake.FieldError) bool { return f.Location == "query" })
			if gotRefused != tt.refused {
				t.Errorf("Validate(%s) = %v, want refused %v", tt.query, err, tt.refused)
			}
		})
	}
}

// TestRefusedFunctionNeverRuns runs a job whose query would terminate
// another session of the role through the source as the worker does: the
// filter refuses it and the other session lives on.
func TestRefusedFunctionNeverRuns(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	victim, err := b.admin.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Release()
	var pid int
	if err := victim.QueryRow(t.Context(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	s := b.source(t)
	cfg := fmt.Sprintf(`{"connection":"main","query":"SELECT pg_terminate_backend(%d) AS id","key":["id"]}`, pid)
	_, err = s.Next(t.Context(), json.RawMessage(cfg), 1, nil)
	if intake.ErrorCode(err) != intake.EINVALID {
		t.Errorf("Next = %v, want EINVALID", err)
	}
	if _, err := victim.Exec(t.Context(), "SELECT 1"); err != nil {
		t.Errorf("the other session was terminated: %v", err)
	}
}

func asError(err error, target **intake.Error) bool { return errors.As(err, target) }
