package telemetry

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/intake-dev/intake"
	jobstore "github.com/intake-dev/intake/internal/store"
)

// openStore opens and migrates a fresh SQLite store. A nil clock is
// time.Now.
func openStore(t *testing.T, clock func() time.Time) *jobstore.Store {
	t.Helper()
	ctx := context.Background()
	s, err := jobstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "intake.db"), jobstore.Options{Clock: clock})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return s
}

// value returns the value of the counter or gauge name{labels} in g (a
// histogram's sample count), and whether the series exists.
func value(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	v, ok, err := lookup(g, name, labels)
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	return v, ok
}

// lookup is value for goroutines other than the test's.
func lookup(g prometheus.Gatherer, name string, labels map[string]string) (float64, bool, error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, false, err
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true, nil
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true, nil
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount()), true, nil
			}
		}
	}
	return 0, false, nil
}

func lint(t *testing.T, g prometheus.Gatherer) {
	t.Helper()
	problems, err := testutil.GatherAndLint(g)
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "intake_") {
			t.Errorf("lint %s: %s", p.Metric, p.Text)
		}
	}
}

func TestNewRegistry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		bi   BuildInfo
		want string
	}{
		{"set", BuildInfo{Version: "v1.2.3", Revision: "abc123", Date: "2025-01-02"},
			`intake_build_info{goversion="` + runtime.Version() + `",revision="abc123",version="v1.2.3"} 1`},
		{"empty", BuildInfo{},
			`intake_build_info{goversion="` + runtime.Version() + `",revision="unknown",version="unknown"} 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := NewRegistry(tt.bi)
			want := "# HELP intake_build_info Build information of the running binary; always 1.\n" +
				"# TYPE intake_build_info gauge\n" + tt.want + "\n"
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "intake_build_info"); err != nil {
				t.Error(err)
			}
			for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
				if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 1 {
					t.Errorf("%s: %d series, %v; want the Go and process collectors", name, n, err)
				}
			}
			problems, err := testutil.GatherAndLint(reg)
			if err != nil || len(problems) > 0 {
				t.Errorf("lint: %v %+v", err, problems)
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{intake.ErrNoJob, "not_found"},
		{fmt.Errorf("claim: %w", intake.ErrNoJob), "not_found"},
		{intake.Errorf(intake.ENOTFOUND, "job x"), "not_found"},
		{fmt.Errorf("heartbeat: %w", intake.ErrLeaseLost), "lease_lost"},
		{intake.Errorf(intake.ECONFLICT, "terminal"), "conflict"},
		{intake.Errorf(intake.EINVALID, "cursor"), "invalid"},
		{context.Canceled, "canceled"},
		{intake.WrapError(intake.EUNAVAILABLE, context.Canceled, "store"), "canceled"},
		{context.DeadlineExceeded, "error"},
		{intake.Errorf(intake.EUNAVAILABLE, "down"), "error"},
		{errors.New("boom"), "error"},
	}
	for _, tt := range tests {
		if got := Outcome(tt.err); got != tt.want {
			t.Errorf("Outcome(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestNewLogger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level, format string
		wantErr       string // substring of the error; "" for none
		wantLine      string // substring of a logged warning
		debugShown    bool
	}{
		{"", "", "", `"msg":"hello"`, false},
		{"debug", "json", "", `"level":"WARN"`, true},
		{"INFO", "Text", "", "level=WARN msg=hello", false},
		{"warn", "text", "", "msg=hello", false},
		{"error", "json", "", "", false},
		{"verbose", "json", `"verbose"`, "", false},
		{"info", "yaml", `"yaml"`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.format, func(t *testing.T) {
			t.Parallel()
			var buf strings.Builder
			logger, err := NewLogger(&buf, tt.level, tt.format)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || intake.ErrorCode(err) != intake.EINVALID {
					t.Fatalf("NewLogger = %v, want an EINVALID error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			logger.Debug("detail")
			logger.Warn("hello", "k", "v")
			out := buf.String()
			if tt.wantLine == "" && out != "" {
				t.Errorf("logged %q at level %s", out, tt.level)
			}
			if !strings.Contains(out, tt.wantLine) {
				t.Errorf("output %q lacks %q", out, tt.wantLine)
			}
			if strings.Contains(out, "detail") != tt.debugShown {
				t.Errorf("debug shown = %v at level %q", !tt.debugShown, tt.level)
			}
		})
	}
}
