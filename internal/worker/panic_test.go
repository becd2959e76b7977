package worker

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/testenv"
)

// panicsCounted reads intake_worker_panics_total{component}.
func panicsCounted(t *testing.T, reg *prometheus.Registry, component string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "intake_worker_panics_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "component" && l.GetValue() == component {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no intake_worker_panics_total{component=%q} series", component)
	return 0
}

// TestSourcePanicFailsTheRun makes a source panic mid-batch: the run fails
// like any other failed attempt (and the job once its attempts are used
// up), the panic is logged with the job id and counted, and the process
// goes on.
func TestSourcePanicFailsTheRun(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	logs := &testenv.Buffer{}
	src := &seqSource{before: func(_ context.Context, seq int) error {
		if seq == 2 {
			var m map[string]int
			m["boom"]++ //nolint:staticcheck // a nil map on purpose: the kind of bug a source may have
		}
		return nil
	}}
	reg := prometheus.NewRegistry()
	w, err := New(Config{Identity: "test", Clock: b.clock.Now, MaxAttempts: 2}, b.store, b.blobs,
		intake.NewSources(src), b.disp, slog.New(slog.NewJSONHandler(logs, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	job := b.createJob(t, "seq", seqJob(10))
	runOnce(t, w, job.ID)
	got := b.job(t, job.ID)
	wantStatus(t, got, intake.StatusScheduled)
	if got.Attempts != 1 || got.Collected != 1 || !strings.Contains(got.LastError, "panic") {
		t.Errorf("after the panic: attempts %d, collected %d, last error %q", got.Attempts, got.Collected, got.LastError)
	}
	if n := panicsCounted(t, reg, "run"); n != 1 {
		t.Errorf("panics counted %v, want 1", n)
	}
	if l := logs.String(); !strings.Contains(l, `"job_id":"`+job.ID+`"`) || !strings.Contains(l, "assignment to entry in nil map") {
		t.Errorf("the log lacks the panic with the job id:\n%s", l)
	}
	b.clock.Advance(time.Hour)
	if err := b.maintainer(t, MaintainerConfig{}).RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	runOnce(t, w, job.ID)
	wantStatus(t, b.job(t, job.ID), intake.StatusFailed)
	if n := panicsCounted(t, reg, "run"); n != 2 {
		t.Errorf("panics counted %v, want 2", n)
	}
}

// panickyStore panics in Heartbeat and Maintain.
type panickyStore struct{ intake.Store }

func (panickyStore) Heartbeat(context.Context, string, string, time.Duration) error {
	panic("heartbeat bug")
}

func (panickyStore) Maintain(context.Context, int) (*intake.MaintainResult, error) {
	panic("maintain bug")
}

// TestHeartbeatPanicFailsTheRun panics in the heartbeat goroutine: the run
// ends (the lease can no longer be kept), the job is rescheduled, and the
// panic is counted.
func TestHeartbeatPanicFailsTheRun(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.store = panickyStore{b.store}
	src := &seqSource{before: func(ctx context.Context, _ int) error {
		<-ctx.Done() // until the heartbeat's failure ends the run
		return ctx.Err()
	}}
	w, reg := b.worker(t, Config{HeartbeatInterval: 5 * time.Millisecond}, nil, src)
	job := b.createJob(t, "seq", seqJob(3))
	runOnce(t, w, job.ID)
	wantStatus(t, b.job(t, job.ID), intake.StatusScheduled)
	if n := panicsCounted(t, reg, "heartbeat"); n != 1 {
		t.Errorf("panics counted %v, want 1", n)
	}
}

// TestMaintenancePanicIsRecovered panics in every maintenance pass: the
// loop logs and counts each and keeps going until it is stopped.
func TestMaintenancePanicIsRecovered(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.store = panickyStore{b.store}
	reg := prometheus.NewRegistry()
	m, err := NewMaintainer(MaintainerConfig{Interval: 5 * time.Millisecond}, b.store, b.blobs, b.disp, testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := panicsCounted(t, reg, "maintenance"); n < 2 {
		t.Errorf("panics counted %v, want one per pass (at least 2)", n)
	}
}
