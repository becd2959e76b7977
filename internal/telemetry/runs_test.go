package telemetry

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
)

// runStatsStore counts RunStats calls and fails them while fail is set.
type runStatsStore struct {
	intake.Store
	calls atomic.Int64
	fail  atomic.Bool
}

func (s *runStatsStore) RunStats(ctx context.Context, p intake.RunStatsParams) (*intake.RunStats, error) {
	s.calls.Add(1)
	if s.fail.Load() {
		return nil, errors.New("store down")
	}
	return s.Store.RunStats(ctx, p)
}

func TestRunCollectorValues(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		now = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	s := openStore(t, clock)
	ctx := context.Background()
	createJobs(t, s, 2)
	// Job 1: a 0.3 s batch_done run, then a 4 s completing run.
	j, err := s.Claim(ctx, intake.ClaimParams{Owner: "a", LeaseTTL: time.Hour, Worker: "pod-a"})
	if err != nil {
		t.Fatal(err)
	}
	advance(300 * time.Millisecond)
	if err := s.FinishRun(ctx, j.ID, "a", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, intake.ClaimParams{Owner: "b", LeaseTTL: time.Hour, JobID: j.ID}); err != nil {
		t.Fatal(err)
	}
	advance(4 * time.Second)
	if err := s.FinishRun(ctx, j.ID, "b", true); err != nil {
		t.Fatal(err)
	}
	// Job 2: open, counted nowhere.
	if _, err := s.Claim(ctx, intake.ClaimParams{Owner: "c", LeaseTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}

	spy := &runStatsStore{Store: s}
	c := NewRunCollector(spy, time.Second, time.Minute, nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"intake_recorded_runs_total", map[string]string{"outcome": "batch_done"}, 1},
		{"intake_recorded_runs_total", map[string]string{"outcome": "completed"}, 1},
		{"intake_recorded_runs_total", map[string]string{"outcome": "lease_expired"}, 0},
		{"intake_recorded_run_duration_seconds", map[string]string{"outcome": "completed"}, 1},
		{"intake_recorded_run_duration_seconds", map[string]string{"outcome": "failed"}, 0},
		{"intake_recorded_job_completion_seconds", nil, 1},
		{"intake_run_stats_up", nil, 1},
	} {
		if got, ok := value(t, reg, tt.name, tt.labels); !ok || got != tt.want {
			t.Errorf("%s%v = %v (present %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "intake_recorded_job_completion_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		if h.GetSampleSum() < 4.299 || h.GetSampleSum() > 4.301 {
			t.Errorf("completion sum = %v, want 4.3", h.GetSampleSum())
		}
		for _, b := range h.GetBucket() {
			want := uint64(0)
			if b.GetUpperBound() >= 4.3 {
				want = 1
			}
			if b.GetCumulativeCount() != want {
				t.Errorf("completion bucket le=%v = %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
			}
		}
	}
	// Every gather above was served from one RunStats call (the cache).
	if n := spy.calls.Load(); n != 1 {
		t.Errorf("RunStats called %d times for several scrapes within the TTL, want 1", n)
	}
}

func TestRunCollectorKeepsValuesOnError(t *testing.T) {
	t.Parallel()
	s := openStore(t, time.Now)
	createJobs(t, s, 1)
	ctx := context.Background()
	j, err := s.Claim(ctx, intake.ClaimParams{Owner: "a", LeaseTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Fail(ctx, j.ID, "a", "bad"); err != nil {
		t.Fatal(err)
	}
	spy := &runStatsStore{Store: s}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewRunCollector(spy, time.Second, 0, nil))
	if got, _ := value(t, reg, "intake_recorded_runs_total", map[string]string{"outcome": "failed"}); got != 1 {
		t.Fatalf("runs{failed} = %v, want 1", got)
	}
	spy.fail.Store(true)
	if got, _ := value(t, reg, "intake_run_stats_up", nil); got != 0 {
		t.Errorf("up = %v after a failed read, want 0", got)
	}
	if got, ok := value(t, reg, "intake_recorded_runs_total", map[string]string{"outcome": "failed"}); !ok || got != 1 {
		t.Errorf("runs{failed} = %v (present %v) after a failed read, want the last value 1", got, ok)
	}
}
