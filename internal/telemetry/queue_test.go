package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/intake-dev/intake"
)

// countingStore counts Stats calls. When block is set, Stats waits until
// block is closed or its context ends, and reports each entry on entered.
type countingStore struct {
	intake.Store
	calls   atomic.Int64
	block   chan struct{}
	entered chan struct{}
}

func (s *countingStore) Stats(ctx context.Context) (*intake.Stats, error) {
	s.calls.Add(1)
	if s.block != nil {
		if s.entered != nil {
			s.entered <- struct{}{}
		}
		select {
		case <-s.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.Store.Stats(ctx)
}

func createJobs(t *testing.T, s intake.Store, n int) {
	t.Helper()
	jobs := make([]*intake.Job, n)
	for i := range jobs {
		jobs[i] = &intake.Job{SourceType: "filings"}
	}
	if _, err := s.CreateJobs(context.Background(), jobs); err != nil {
		t.Fatal(err)
	}
}

func TestQueueCollectorValues(t *testing.T) {
	t.Parallel()
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s := openStore(t, func() time.Time { return base })
	createJobs(t, s, 3)
	if _, err := s.Claim(context.Background(), intake.ClaimParams{Owner: "w", LeaseTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	c := NewQueueCollector(s, time.Second, 0, nil)
	c.(*queueCollector).now = func() time.Time { return base.Add(90 * time.Second) }

	want := `
# HELP intake_documents_stored Documents recorded in the store.
# TYPE intake_documents_stored gauge
intake_documents_stored 0
# HELP intake_documents_stored_bytes Total size of the documents recorded in the store.
# TYPE intake_documents_stored_bytes gauge
intake_documents_stored_bytes 0
# HELP intake_jobs Jobs in the store by status (a snapshot of the shared store: aggregate replicas with max).
# TYPE intake_jobs gauge
intake_jobs{status="cancelled"} 0
intake_jobs{status="completed"} 0
intake_jobs{status="failed"} 0
intake_jobs{status="pending"} 2
intake_jobs{status="processing"} 1
intake_jobs{status="scheduled"} 0
# HELP intake_queue_oldest_pending_age_seconds Time since the oldest pending job became claimable; 0 when none is pending.
# TYPE intake_queue_oldest_pending_age_seconds gauge
intake_queue_oldest_pending_age_seconds 90
# HELP intake_queue_stats_up Whether the last read of the queue statistics from the store succeeded (1) or not (0).
# TYPE intake_queue_stats_up gauge
intake_queue_stats_up 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	lint(t, reg)

	// With nothing pending the age is 0, not the age of some old job.
	empty := prometheus.NewRegistry()
	empty.MustRegister(NewQueueCollector(openStore(t, nil), time.Second, 0, nil))
	if v, ok := value(t, empty, "intake_queue_oldest_pending_age_seconds", nil); !ok || v != 0 {
		t.Errorf("oldest pending age with an empty queue = %v (present %v), want 0", v, ok)
	}
}

func TestQueueCollectorCache(t *testing.T) {
	t.Parallel()
	s := &countingStore{Store: openStore(t, nil)}
	createJobs(t, s, 1)
	c := NewQueueCollector(s, time.Second, time.Hour, nil)
	now := time.Now()
	c.(*queueCollector).now = func() time.Time { return now }

	for range 2 {
		if n := testutil.CollectAndCount(c, "intake_jobs"); n != len(intake.Statuses) {
			t.Fatalf("%d intake_jobs series, want %d", n, len(intake.Statuses))
		}
	}
	if got := s.calls.Load(); got != 1 {
		t.Errorf("two scrapes within the TTL made %d Stats calls, want 1", got)
	}
	createJobs(t, s, 1) // not visible until the cache expires
	if v := mustPending(t, c); v != 1 {
		t.Errorf("cached pending = %v, want the cached 1", v)
	}
	now = now.Add(time.Hour)
	if v := mustPending(t, c); v != 2 || s.calls.Load() != 2 {
		t.Errorf("after the TTL: pending %v with %d calls, want 2 with 2", v, s.calls.Load())
	}

	// Without a TTL every scrape reads the store.
	s0 := &countingStore{Store: openStore(t, nil)}
	c0 := NewQueueCollector(s0, time.Second, 0, nil)
	testutil.CollectAndCount(c0)
	testutil.CollectAndCount(c0)
	if got := s0.calls.Load(); got != 2 {
		t.Errorf("two scrapes without a TTL made %d Stats calls, want 2", got)
	}
}

// pending scrapes c alone and returns intake_jobs{status="pending"}.
func pending(c prometheus.Collector) (float64, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		return 0, err
	}
	v, ok, err := lookup(reg, "intake_jobs", map[string]string{"status": "pending"})
	if err == nil && !ok {
		err = errors.New("no pending series")
	}
	return v, err
}

func mustPending(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	v, err := pending(c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestQueueCollectorConcurrent holds the first Stats call open while other
// scrapes arrive: they wait for it and share its result.
func TestQueueCollectorConcurrent(t *testing.T) {
	t.Parallel()
	s := &countingStore{Store: openStore(t, nil), block: make(chan struct{}), entered: make(chan struct{}, 16)}
	createJobs(t, s, 1)
	c := NewQueueCollector(s, time.Minute, time.Hour, nil)

	const scrapers = 8
	var (
		started sync.WaitGroup
		done    sync.WaitGroup
	)
	results := make([]float64, scrapers)
	errs := make([]error, scrapers)
	for i := range scrapers {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			results[i], errs[i] = pending(c)
		}()
	}
	<-s.entered
	started.Wait()
	time.Sleep(20 * time.Millisecond) // let the other scrapers reach the collector
	close(s.block)
	done.Wait()
	if got := s.calls.Load(); got != 1 {
		t.Errorf("%d concurrent scrapes made %d Stats calls, want 1", scrapers, got)
	}
	for i, v := range results {
		if errs[i] != nil || v != 1 {
			t.Errorf("scraper %d saw pending %v (%v), want 1", i, v, errs[i])
		}
	}
}

func TestQueueCollectorTimeout(t *testing.T) {
	t.Parallel()
	s := &countingStore{Store: openStore(t, nil), block: make(chan struct{})} // never released
	var logs strings.Builder
	c := NewQueueCollector(s, 20*time.Millisecond, 0, slog.New(slog.NewTextHandler(&logs, nil)))

	want := `
# HELP intake_queue_stats_up Whether the last read of the queue statistics from the store succeeded (1) or not (0).
# TYPE intake_queue_stats_up gauge
intake_queue_stats_up 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "intake_jobs"); n != 0 {
		t.Errorf("%d intake_jobs series before any successful read, want none", n)
	}
	if !strings.Contains(logs.String(), "deadline exceeded") {
		t.Errorf("log %q does not report the timeout", logs.String())
	}
}

func TestQueueCollectorClosedStore(t *testing.T) {
	t.Parallel()
	s := openStore(t, nil)
	createJobs(t, s, 1)
	var logs strings.Builder
	c := NewQueueCollector(s, time.Second, 0, slog.New(slog.NewTextHandler(&logs, nil)))
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)

	if v, _ := value(t, reg, "intake_queue_stats_up", nil); v != 1 {
		t.Fatalf("up = %v before closing, want 1", v)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v, _ := value(t, reg, "intake_queue_stats_up", nil); v != 0 {
		t.Errorf("up = %v on a closed store, want 0", v)
	}
	if v, ok := value(t, reg, "intake_jobs", map[string]string{"status": "pending"}); !ok || v != 1 {
		t.Errorf("pending = %v (present %v) on a closed store, want the last value 1", v, ok)
	}
	if !strings.Contains(logs.String(), "read queue stats") {
		t.Errorf("log %q does not report the failure", logs.String())
	}
}
