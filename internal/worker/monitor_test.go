package worker

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/egress"
	"github.com/intake-dev/intake/internal/schedule"
	"github.com/intake-dev/intake/internal/webhook"
)

// monitorFixture is a bundle with a due schedule, a completed job that
// notifies a loopback receiver, and a job whose lease has expired.
type monitorFixture struct {
	b        *bundle
	schedule *intake.Schedule
	notified *intake.Job
	expired  *intake.Job
	received atomic.Int32
}

func newMonitorFixture(t *testing.T) *monitorFixture {
	t.Helper()
	ctx := t.Context()
	f := &monitorFixture{b: newBundle(t)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		f.received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	var err error
	f.schedule, err = f.b.store.CreateSchedule(ctx, &intake.Schedule{
		Tenant: intake.DefaultTenant, SourceType: "seq", Config: json.RawMessage(`{"total":1}`),
		Interval: intake.Duration(time.Hour), NextFireAt: f.b.clock.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := f.b.store.CreateJobs(ctx, []*intake.Job{
		{Tenant: intake.DefaultTenant, SourceType: "seq", Config: json.RawMessage(`{"total":1}`),
			Notify: &intake.Notify{URL: srv.URL + "/hook", Secret: "HOOK"}},
		{Tenant: intake.DefaultTenant, SourceType: "seq", Config: json.RawMessage(`{"total":1}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.notified, f.expired = jobs[0], jobs[1]
	if _, err := f.b.store.Claim(ctx, intake.ClaimParams{Owner: "w1", LeaseTTL: time.Minute, JobID: f.notified.ID}); err != nil {
		t.Fatal(err)
	}
	if err := f.b.store.FinishRun(ctx, f.notified.ID, "w1", true); err != nil {
		t.Fatal(err)
	}
	claim(t, f.b, f.expired.ID)
	f.b.clock.Advance(2 * time.Minute)
	return f
}

// maintainer returns a Maintainer with a real Scheduler and Deliverer on
// store (the bundle's, or one that fails in places).
func (f *monitorFixture) maintainer(t *testing.T, store intake.Store) (*Maintainer, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	sch, err := schedule.New(schedule.Config{Clock: f.b.clock.Now}, store, f.b.disp, testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	policy, _ := egress.NewPolicy([]string{"127.0.0.1"})
	del, err := webhook.New(webhook.Config{Policy: policy, Clock: f.b.clock.Now,
		Secrets: map[string]webhook.Secret{"HOOK": {Value: "whsec_aGVsbG8=", Hosts: []string{"127.0.0.1"}}}}, store, testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMaintainer(MaintainerConfig{Clock: f.b.clock.Now, Scheduler: sch, Deliverer: del}, store, f.b.blobs, f.b.disp, testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

// scheduleJobs returns the number of jobs the schedule fired.
func (f *monitorFixture) scheduleJobs(t *testing.T) int {
	t.Helper()
	s, err := f.b.store.GetSchedule(t.Context(), f.schedule.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.LastJobID == "" {
		return 0
	}
	return 1
}

// TestMaintainerRunsMonitors checks that a pass promotes jobs, fires the
// due schedule and delivers the due notification.
func TestMaintainerRunsMonitors(t *testing.T) {
	t.Parallel()
	f := newMonitorFixture(t)
	m, _ := f.maintainer(t, f.b.store)
	if err := m.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, f.b.job(t, f.expired.ID), intake.StatusPending)
	if f.scheduleJobs(t) != 1 || f.received.Load() != 1 {
		t.Fatalf("schedule jobs %d, webhooks received %d; want 1, 1", f.scheduleJobs(t), f.received.Load())
	}
	for _, task := range []string{"maintain", "schedules", "webhooks"} {
		if n := testutil.ToFloat64(m.metrics.runs.WithLabelValues(task, "ok")); n != 1 {
			t.Errorf("runs{%s,ok} = %v, want 1", task, n)
		}
	}
}

// faultyStore fails or panics in one task's calls.
type faultyStore struct {
	intake.Store
	fail string // "maintain", "schedules" or "webhooks"
	kind string // "error" or "panic"
}

func (s faultyStore) fault(task string) error {
	if s.fail != task {
		return nil
	}
	if s.kind == "panic" {
		panic(task + " bug")
	}
	return errors.New(task + " down")
}

func (s faultyStore) Maintain(ctx context.Context, maxAttempts int) (*intake.MaintainResult, error) {
	if err := s.fault("maintain"); err != nil {
		return nil, err
	}
	return s.Store.Maintain(ctx, maxAttempts)
}

func (s faultyStore) DueSchedules(ctx context.Context, until time.Time, limit int) ([]*intake.Schedule, error) {
	if err := s.fault("schedules"); err != nil {
		return nil, err
	}
	return s.Store.DueSchedules(ctx, until, limit)
}

func (s faultyStore) ClaimNotifications(ctx context.Context, ttl time.Duration, limit int) ([]*intake.NotifyClaim, error) {
	if err := s.fault("webhooks"); err != nil {
		return nil, err
	}
	return s.Store.ClaimNotifications(ctx, ttl, limit)
}

// TestMaintainerTaskFailureIsolated fails (or panics in) one task of a
// pass at a time: the others still do their work, and the pass reports
// the failure.
func TestMaintainerTaskFailureIsolated(t *testing.T) {
	t.Parallel()
	for _, task := range []string{"maintain", "schedules", "webhooks"} {
		for _, kind := range []string{"error", "panic"} {
			t.Run(task+" "+kind, func(t *testing.T) {
				t.Parallel()
				f := newMonitorFixture(t)
				m, reg := f.maintainer(t, faultyStore{Store: f.b.store, fail: task, kind: kind})
				err := m.RunOnce(t.Context())
				if err == nil || !strings.Contains(err.Error(), task) {
					t.Fatalf("RunOnce = %v, want the %s failure", err, task)
				}
				promoted := f.b.job(t, f.expired.ID).Status == intake.StatusPending
				if promoted != (task != "maintain") || (f.scheduleJobs(t) == 1) != (task != "schedules") || (f.received.Load() == 1) != (task != "webhooks") {
					t.Fatalf("promoted %v, schedule jobs %d, webhooks %d: only %s should have failed", promoted, f.scheduleJobs(t), f.received.Load(), task)
				}
				component := map[string]string{"maintain": "maintenance", "schedules": "schedules", "webhooks": "webhooks"}[task]
				if n := panicsCounted(t, reg, component); (n == 1) != (kind == "panic") {
					t.Errorf("panics{%s} = %v", component, n)
				}
			})
		}
	}
}

// TestMaintainerRunDelivers checks that Run's own delivery loop delivers.
func TestMaintainerRunDelivers(t *testing.T) {
	t.Parallel()
	f := newMonitorFixture(t)
	m, _ := f.maintainer(t, f.b.store)
	m.cfg.Interval = 5 * time.Millisecond
	m.cfg.OrphanInterval = -1
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	for deadline := time.Now().Add(time.Minute); f.received.Load() == 0 || f.scheduleJobs(t) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("Run neither delivered nor fired within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := await(t, done, "Run"); err != nil {
		t.Fatalf("Run = %v", err)
	}
}
