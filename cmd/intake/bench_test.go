package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store"
)

// TestBench runs `intake bench -n 300` on SQLite and PostgreSQL: every job
// it inserted completes, and the output ends with the latency percentiles
// and a last line of exactly "N jobs/s".
func TestBench(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string {
			return "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "bench.db"))
		},
		"postgres": func(t *testing.T) string {
			return strings.TrimPrefix(postgresDatabase(t).env[0], "INTAKE_DATABASE_URL=")
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url := open(t)
			const jobs = 300
			var stdout, stderr bytes.Buffer
			args := []string{"bench", "--database-url", url, "-n", fmt.Sprint(jobs), "--workers", "8"}
			// A process has one CPU profile at a time: one subtest takes it.
			profile := ""
			if name == "sqlite" {
				profile = filepath.Join(t.TempDir(), "cpu.prof")
				args = append(args, "--cpu-profile", profile)
			}
			err := run(context.Background(), args, nil, &stdout, &stderr)
			if err != nil {
				t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
			}
			out := stdout.String()
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if last := lines[len(lines)-1]; !regexp.MustCompile(`^[1-9][0-9]* jobs/s$`).MatchString(last) {
				t.Errorf("last line %q, want \"N jobs/s\"", last)
			}
			for _, want := range []*regexp.Regexp{
				regexp.MustCompile(`(?m)^bench: total jobs worked \[ +300 \], total jobs inserted \[ +300 \]`),
				regexp.MustCompile(`(?m)^bench: claim latency, per claim call \([0-9]+ calls, 300 jobs\): p50 \S+  p90 \S+  p99 \S+  max \S+$`),
				regexp.MustCompile(`(?m)^bench: completion latency, claim to completed \(300 jobs\): p50 \S+  p90 \S+  p99 \S+  max \S+$`),
			} {
				if !want.MatchString(out) {
					t.Errorf("output does not match %s:\n%s", want, out)
				}
			}
			if !strings.Contains(lines[0], "claims in batches, finishes in batches") {
				t.Errorf("first line %q, want claims and finishes in batches", lines[0])
			}
			if fi, err := os.Stat(profile); profile != "" && (err != nil || fi.Size() == 0) {
				t.Errorf("--cpu-profile wrote no profile: %v", err)
			}
			if strings.Contains(out, "did not complete") {
				t.Errorf("some runs did not complete their job:\n%s\nstderr:\n%s", out, &stderr)
			}

			st, err := store.Open(context.Background(), url, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			stats, err := st.Stats(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range intake.Statuses {
				want := int64(0)
				if s == intake.StatusCompleted {
					want = jobs
				}
				if stats.Jobs[s] != want {
					t.Errorf("after the bench the store holds %d %s jobs, want %d", stats.Jobs[s], s, want)
				}
			}

			// A store with jobs still to run is refused: the bench's
			// workers would claim them.
			if _, err := st.CreateJobs(context.Background(), []*intake.Job{{SourceType: "filings"}}); err != nil {
				t.Fatal(err)
			}
			stdout.Reset()
			err = run(context.Background(), []string{"bench", "--database-url", url, "-n", "10"}, nil, &stdout, &stderr)
			if code := exitCode(err); code != exitUsage || !strings.Contains(fmt.Sprint(err), "1 jobs that are not finished") {
				t.Errorf("bench on a store with a pending job: %v (exit %d), want exit %d naming the job", err, code, exitUsage)
			}
		})
	}
}

// exitCode is the code main would exit with for err.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		return exitFailure
	}
}

// TestBenchFlags checks that bad flags are usage errors (exit 2) that say
// what is wrong, before anything is opened.
func TestBenchFlags(t *testing.T) {
	t.Parallel()
	db := "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "never.db"))
	tests := []struct {
		args []string
		want string
	}{
		{nil, "--database-url is required"},
		{[]string{"--database-url", db, "-n", "-1"}, "-n must not be negative"},
		{[]string{"--database-url", db, "--workers", "0"}, "--workers must be at least 1"},
		{[]string{"--database-url", db, "--duration", "-1s"}, "--duration must not be negative"},
		{[]string{"--database-url", db, "--insert-batch", "0"}, "--insert-batch must be at least 1"},
		{[]string{"--database-url", db, "--prefetch", "-2"}, "--prefetch must be -1 or more"},
		{[]string{"--database-url", db, "extra"}, "unexpected arguments: extra"},
		{[]string{"--database-url", db, "--log-level", "loud"}, "--log-level"},
		{[]string{"--database-url", "mysql://db/x"}, "--database-url"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"bench"}, tt.args...), nil, &stdout, &stderr)
		if code := exitCode(err); code != exitUsage || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("bench %q: %v (exit %d), want exit %d and %q", tt.args, err, code, exitUsage, tt.want)
		}
	}
}

// TestAPIRefusesBenchJobs checks that the bench's no-op source exists
// only inside `intake bench`: the API neither lists nor accepts it.
func TestAPIRefusesBenchJobs(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	var problem struct {
		Detail string `json:"detail"`
		Errors []struct {
			Location string `json:"location"`
			Message  string `json:"message"`
		} `json:"errors"`
	}
	status := postJSON(t, s.base+"/api/v1/jobs/trigger", `{"source_type":"`+benchSourceType+`","config":{}}`, &problem)
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("trigger a %s job: status %d, want 422", benchSourceType, status)
	}
	if !strings.Contains(fmt.Sprint(problem), "unknown source") {
		t.Errorf("trigger a %s job: %+v, want an unknown source type", benchSourceType, problem)
	}
	var list struct {
		Sources []struct {
			Type string `json:"type"`
		} `json:"sources"`
	}
	if code := getJSON(t, s.base+"/api/v1/sources", &list); code != http.StatusOK || len(list.Sources) == 0 {
		t.Fatalf("GET /api/v1/sources: %d, %d sources", code, len(list.Sources))
	}
	for _, src := range list.Sources {
		if src.Type == "" {
			t.Fatalf("GET /api/v1/sources: a source without a type: %+v", list)
		}
		if src.Type == benchSourceType {
			t.Errorf("/api/v1/sources lists %q", benchSourceType)
		}
	}
}

// TestLatencyQuantiles checks the bench's fixed-size histogram: each
// percentile is within one bucket (2 %) above the true one, and never
// above the largest observation.
func TestLatencyQuantiles(t *testing.T) {
	t.Parallel()
	var l latency
	for i := 1; i <= 1000; i++ {
		l.observe(time.Duration(i) * time.Millisecond)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 500 * time.Millisecond},
		{0.9, 900 * time.Millisecond},
		{0.99, 990 * time.Millisecond},
		{1, time.Second},
	}
	for _, tt := range tests {
		got := l.quantile(tt.q)
		if got < tt.want || float64(got) > float64(tt.want)*latencyGrowth {
			t.Errorf("quantile(%v) = %v, want %v to 2 %% above", tt.q, got, tt.want)
		}
	}
	if got := l.quantile(1); got != time.Second {
		t.Errorf("quantile(1) = %v, want the largest observation, 1s", got)
	}
	var empty latency
	if empty.quantile(0.5) != 0 || empty.summary() != "none" {
		t.Errorf("an empty histogram: quantile %v, summary %q", empty.quantile(0.5), empty.summary())
	}
	var tiny latency
	tiny.observe(0)
	tiny.observe(100 * time.Hour) // beyond the last bucket
	if got := tiny.quantile(0.5); got > latencyMin {
		t.Errorf("median of {0, 100h} = %v, want at most %v", got, latencyMin)
	}
	if got := tiny.quantile(1); got != 100*time.Hour {
		t.Errorf("max of {0, 100h} = %v, want 100h", got)
	}
}
