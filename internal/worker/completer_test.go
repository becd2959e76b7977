package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/intake-dev/intake"
)

// finishStore counts how runs end: single counts FinishRun and Plan calls,
// batches the sizes of the FinishRuns calls. A call of FinishRuns waits for
// hold, when set, to be closed.
type finishStore struct {
	intake.Store
	single  atomic.Int64
	plans   atomic.Int64
	hold    chan struct{}
	mu      sync.Mutex
	batches []int
}

func (s *finishStore) FinishRun(ctx context.Context, jobID, owner string, done bool) error {
	s.single.Add(1)
	return s.Store.FinishRun(ctx, jobID, owner, done)
}

func (s *finishStore) Plan(ctx context.Context, jobID, owner string, total int, checkpoint []byte) error {
	s.plans.Add(1)
	return s.Store.Plan(ctx, jobID, owner, total, checkpoint)
}

func (s *finishStore) FinishRuns(ctx context.Context, runs []intake.FinishParams) []error {
	s.mu.Lock()
	s.batches = append(s.batches, len(runs))
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		<-hold
	}
	return s.Store.(intake.BatchFinisher).FinishRuns(ctx, runs)
}

func (s *finishStore) calls() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.batches...)
}

// TestCompleterBatches checks the completer's group commit: the finishes
// handed over while a FinishRuns call is in flight make the next call, one
// call for all of them, and each run gets its own result.
func TestCompleterBatches(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	fs := &finishStore{Store: b.store, hold: make(chan struct{})}
	b.store = fs
	w, _ := b.worker(t, Config{Concurrency: 8}, nil, &seqSource{})
	const n = 6
	ids := make([]string, n)
	for i := range ids {
		ids[i] = b.createJob(t, "seq", seqJob(0)).ID
	}
	jobs, err := fs.Store.(intake.BatchClaimer).ClaimMany(context.Background(),
		intake.ClaimParams{Owner: "b1", LeaseTTL: time.Minute}, n)
	if err != nil || len(jobs) != n {
		t.Fatalf("ClaimMany = %d jobs, %v", len(jobs), err)
	}
	c := newCompleter(w, fs)
	go c.run(context.Background())
	results := make([]chan error, n)
	finish := func(i int, owner string) {
		results[i] = make(chan error, 1)
		go func() {
			results[i] <- c.finish(context.Background(), intake.FinishParams{JobID: jobs[i].ID, Owner: owner, Done: true})
		}()
	}
	// The first finish goes out alone and is held in the store; the
	// others queue meanwhile, one of them under an owner that lost its
	// lease.
	finish(0, "b1")
	waitFor(t, "the first call", func() bool { return len(fs.calls()) == 1 })
	for i := 1; i < n; i++ {
		owner := "b1"
		if i == 3 {
			owner = "b2"
		}
		finish(i, owner)
	}
	waitFor(t, "the other finishes queued", func() bool { return len(c.queue) == n-1 })
	close(fs.hold)
	for i, ch := range results {
		err := await(t, ch, fmt.Sprintf("finish %d", i))
		switch {
		case i == 3:
			if !errors.Is(err, intake.ErrLeaseLost) {
				t.Errorf("finish %d under another owner = %v, want ErrLeaseLost", i, err)
			}
		case err != nil:
			t.Errorf("finish %d = %v", i, err)
		}
	}
	c.stop()
	if got := fs.calls(); len(got) != 2 || got[0] != 1 || got[1] != n-1 {
		t.Errorf("FinishRuns calls of %v runs, want [1 %d]", got, n-1)
	}
	for i, j := range jobs {
		want := intake.StatusCompleted
		if i == 3 {
			want = intake.StatusProcessing
		}
		wantStatus(t, b.job(t, j.ID), want)
	}
}

// TestPlanFoldedIntoFinish checks that a run that plans a job with nothing
// to collect records the plan with its finish, in one write, on a store
// that finishes in batches, alone (RunOnce) or from a pool; and with Plan
// and FinishRun on one that does not.
func TestPlanFoldedIntoFinish(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pool    bool
		batches bool
	}{
		{"RunOnce", false, true},
		{"pool", true, true},
		{"RunOnce without batches", false, false},
		{"pool without batches", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t)
			fs := &finishStore{Store: b.store}
			b.store = fs
			if !tt.batches {
				b.store = struct{ intake.Store }{fs} // hides FinishRuns
			}
			w, _ := b.worker(t, Config{Concurrency: 4, PollInterval: 10 * time.Millisecond}, nil, &seqSource{})
			const n = 5
			ids := make([]string, n)
			for i := range ids {
				ids[i] = b.createJob(t, "seq", seqJob(0)).ID
			}
			if tt.pool {
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- w.Run(ctx) }()
				waitFor(t, "every job completed", func() bool {
					return statusCount(t, b.store, intake.StatusCompleted) == n
				})
				cancel()
				if err := await(t, done, "Run"); err != nil {
					t.Fatalf("Run = %v", err)
				}
			} else {
				for _, id := range ids {
					runOnce(t, w, id)
				}
			}
			for _, id := range ids {
				j := b.job(t, id)
				if j.Status != intake.StatusCompleted || !j.Planned || j.Total != 0 || string(j.Checkpoint) != "0" {
					t.Errorf("job %s: status %s, Planned %v, Total %d, Checkpoint %q; want completed with the plan (0, \"0\")",
						id, j.Status, j.Planned, j.Total, j.Checkpoint)
				}
			}
			wantPlans, wantSingle, wantBatched := int64(0), int64(0), n
			if !tt.batches {
				wantPlans, wantSingle, wantBatched = n, n, 0
			}
			batched := 0
			for _, size := range fs.calls() {
				batched += size
			}
			if fs.plans.Load() != wantPlans || fs.single.Load() != wantSingle || batched != wantBatched {
				t.Errorf("%d Plan calls, %d FinishRun calls, %d runs finished in batches; want %d, %d, %d",
					fs.plans.Load(), fs.single.Load(), batched, wantPlans, wantSingle, wantBatched)
			}
			if got := testutil.ToFloat64(w.metrics.runs.WithLabelValues("seq", outcomeCompleted)); got != n {
				t.Errorf("runs{completed} = %v, want %d", got, n)
			}
		})
	}
}
