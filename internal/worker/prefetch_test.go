package worker

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/intake-dev/intake"
)

// batchStore counts how a pool claims and finishes: many counts ClaimMany
// calls (the store claims in batches on every driver: in one statement on
// PostgreSQL, one transaction on SQLite), single counts Claim calls;
// finishMany and finishSingle count FinishRuns and FinishRun calls.
type batchStore struct {
	intake.Store
	many         atomic.Int64
	single       atomic.Int64
	finishMany   atomic.Int64
	finishSingle atomic.Int64
}

func (s *batchStore) FinishRun(ctx context.Context, jobID, owner string, done bool) error {
	s.finishSingle.Add(1)
	return s.Store.FinishRun(ctx, jobID, owner, done)
}

func (s *batchStore) FinishRuns(ctx context.Context, runs []intake.FinishParams) []error {
	s.finishMany.Add(1)
	return s.Store.(intake.BatchFinisher).FinishRuns(ctx, runs)
}

func (s *batchStore) Claim(ctx context.Context, p intake.ClaimParams) (*intake.Job, error) {
	s.single.Add(1)
	return s.Store.Claim(ctx, p)
}

func (s *batchStore) ClaimMany(ctx context.Context, p intake.ClaimParams, n int) ([]*intake.Job, error) {
	s.many.Add(1)
	return s.Store.(intake.BatchClaimer).ClaimMany(ctx, p, n)
}

// batchStores are the job stores the batched pool is tested on.
var batchStores = map[string]func(*testing.T, *bundle) intake.Store{
	"sqlite":   func(_ *testing.T, b *bundle) intake.Store { return b.store },
	"postgres": func(t *testing.T, b *bundle) intake.Store { return pgStore(t, b.clock.Now) },
}

// waitFor polls cond until it holds, failing the test after a minute (a
// hung pool, not a slow one).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within a minute", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// statusCount returns how many jobs of the store have status s.
func statusCount(t *testing.T, st intake.Store, s intake.Status) int64 {
	t.Helper()
	stats, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return stats.Jobs[s]
}

// TestBatchedPoolsCompleteJobs runs two pools, as two worker processes
// would, that claim from one store in batches: every job completes in the
// runs its size takes, each document is recorded exactly once, and no run
// ended for any reason but a finished batch, so no job was claimed by two
// runs at once.
func TestBatchedPoolsCompleteJobs(t *testing.T) {
	t.Parallel()
	for name, open := range batchStores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const jobs, total = 40, 5
			b := newBundle(t)
			bs := &batchStore{Store: open(t, b)}
			b.store = bs
			var pools [2]*Worker
			for i := range pools {
				pools[i], _ = b.worker(t, Config{
					Concurrency: 4, Prefetch: 8, PollInterval: 10 * time.Millisecond,
					Identity: fmt.Sprintf("pool-%d", i),
				}, nil, &seqSource{})
			}
			ids := make([]string, jobs)
			for i := range ids {
				ids[i] = b.createJob(t, "seq", seqJob(total)).ID
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, len(pools))
			for _, w := range pools {
				go func() { done <- w.Run(ctx) }()
			}
			waitFor(t, "every job completed", func() bool {
				return statusCount(t, b.store, intake.StatusCompleted) == jobs
			})
			cancel()
			for range pools {
				if err := await(t, done, "Run"); err != nil {
					t.Fatalf("Run = %v, want nil", err)
				}
			}

			wantRuns := runsFor(total, intake.DefaultBatchFraction)
			for _, id := range ids {
				got := b.job(t, id)
				if got.Runs != wantRuns || got.Collected != total || got.Attempts != 0 {
					t.Errorf("job %s: runs %d, collected %d, attempts %d; want %d, %d, 0",
						id, got.Runs, got.Collected, got.Attempts, wantRuns, total)
				}
				b.checkDocuments(t, id, total, docBody)
				runs, err := b.store.ListRuns(context.Background(), id, 0, 50)
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range runs {
					want := intake.RunBatchDone
					if i == len(runs)-1 {
						want = intake.RunCompleted
					}
					if r.Number != i+1 || r.Outcome != want || r.Collected != r.Batch {
						t.Errorf("job %s run %d = %+v; want number %d, outcome %s, the whole batch", id, i+1, r, i+1, want)
					}
				}
			}
			var claimed float64
			for _, w := range pools {
				claimed += testutil.ToFloat64(w.metrics.claims.WithLabelValues("claimed"))
			}
			if claimed != jobs*float64(wantRuns) {
				t.Errorf("claims{claimed} = %v over both pools, want one per run, %d", claimed, jobs*wantRuns)
			}
			if bs.single.Load() != 0 || bs.many.Load() == 0 {
				t.Errorf("the pools made %d single claims and %d batch claims; want batch claims only",
					bs.single.Load(), bs.many.Load())
			}
			if bs.finishSingle.Load() != 0 || bs.finishMany.Load() == 0 {
				t.Errorf("the pools made %d single finishes and %d batch finishes; want batch finishes only",
					bs.finishSingle.Load(), bs.finishMany.Load())
			}
		})
	}
}

// TestLookahead checks how many jobs a pool holds beyond its idle workers:
// only as many as start within half a heartbeat interval at the pool's
// recent pace, at most Prefetch, and none before a run was timed.
func TestLookahead(t *testing.T) {
	t.Parallel()
	// HeartbeatInterval 20s: a buffered job must start within 10s.
	cfg := Config{Concurrency: 4, Prefetch: 10, LeaseTTL: time.Minute}
	tests := []struct {
		avg  time.Duration
		want int
	}{
		{0, 0},                              // nothing timed yet
		{time.Millisecond, 10},              // fast runs: Prefetch bounds it
		{4 * time.Second, 8},                // two rounds of four fit in 10s
		{5 * time.Second, 8},                // exactly two rounds
		{6 * time.Second, 4},                // one round
		{10 * time.Second, 4},               // one round, just
		{10*time.Second + 1, 0},             // not even one
		{time.Hour, 0},                      // long runs: idle workers only
		{time.Duration(1<<62 - 1), 0},       // no overflow
		{time.Nanosecond, cfg.Prefetch},     // no overflow either way
		{20 * time.Millisecond, 10},         // the bench's pace
		{3*time.Second + time.Second/3, 10}, // three rounds: 12, capped at 10
	}
	b := newBundle(t)
	w, _ := b.worker(t, cfg, nil, &seqSource{})
	for _, tt := range tests {
		p := newProducer(w, nil)
		p.runAvg.Store(int64(tt.avg))
		if got := p.lookahead(); got != tt.want {
			t.Errorf("lookahead with runs of %v = %d, want %d", tt.avg, got, tt.want)
		}
	}
}

// TestPrefetchedLeases checks that a job waiting in the buffer keeps its
// lease as a running job would: the producer renews it once it has waited
// a heartbeat interval, drops it when the lease is gone, and a worker
// handed a job whose lease lapsed leaves it alone.
func TestPrefetchedLeases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBundle(t)
	b.store = &batchStore{Store: b.store}
	const ttl = 30 * time.Second // heartbeat interval 10s
	w, _ := b.worker(t, Config{Concurrency: 1, LeaseTTL: ttl}, nil, &seqSource{})
	for range 2 {
		b.createJob(t, "seq", seqJob(3))
	}
	p := newProducer(w, b.store.(intake.BatchClaimer))
	if !p.fill(ctx, 2) || len(p.buf) != 2 {
		t.Fatalf("fill(2) buffered %d jobs", len(p.buf))
	}
	claimedAt := b.clock.Now()
	leaseExpiry := func(id string) time.Time { return b.job(t, id).LeaseExpiresAt }

	// Younger than a heartbeat interval: left as it is.
	b.clock.Advance(ttl/3 - time.Second)
	p.renew(ctx)
	for _, cj := range p.buf {
		if got := leaseExpiry(cj.job.ID); !got.Equal(claimedAt.Add(ttl)) {
			t.Errorf("lease of a job buffered for %v expires at %v, want %v, the claim's", ttl/3-time.Second, got, claimedAt.Add(ttl))
		}
	}
	// A heartbeat interval old: renewed.
	b.clock.Advance(time.Second)
	p.renew(ctx)
	for _, cj := range p.buf {
		if got, want := leaseExpiry(cj.job.ID), b.clock.Now().Add(ttl); !got.Equal(want) {
			t.Errorf("lease of a job buffered for a heartbeat interval expires at %v, want %v", got, want)
		}
	}
	// The lease lapses (the process stalled) and maintenance takes the
	// jobs back: the producer drops them.
	b.clock.Advance(ttl + time.Second)
	if _, err := b.store.Maintain(ctx, DefaultMaxAttempts); err != nil {
		t.Fatal(err)
	}
	p.renew(ctx)
	if len(p.buf) != 0 {
		t.Errorf("%d jobs with lapsed leases still buffered", len(p.buf))
	}
	if n := testutil.ToFloat64(w.metrics.runs.WithLabelValues("seq", outcomeLeaseLost)); n != 2 {
		t.Errorf("runs{outcome=lease_lost} = %v, want 2", n)
	}

	// A worker handed a job whose lease lapsed does not start it.
	if !p.fill(ctx, 1) {
		t.Fatal("fill(1) claimed nothing")
	}
	stale := p.buf[0]
	b.clock.Advance(ttl + time.Second)
	if _, err := b.store.Maintain(ctx, DefaultMaxAttempts); err != nil {
		t.Fatal(err)
	}
	w.startClaimed(ctx, ctx, stale, nil)
	got := b.job(t, stale.job.ID)
	wantStatus(t, got, intake.StatusPending)
	if got.Collected != 0 {
		t.Errorf("a job whose lease lapsed in the buffer collected %d documents", got.Collected)
	}
	// A worker handed a job that waited a heartbeat interval renews its
	// lease and runs it.
	if !p.fill(ctx, 1) {
		t.Fatal("fill(1) claimed nothing")
	}
	old := p.buf[1]
	b.clock.Advance(ttl / 3)
	w.startClaimed(ctx, ctx, old, nil)
	got = b.job(t, old.job.ID)
	wantStatus(t, got, intake.StatusPending)
	if got.Collected != 1 || got.Attempts != 0 {
		t.Errorf("a job that waited a heartbeat interval: collected %d, attempts %d; want 1, 0", got.Collected, got.Attempts)
	}
}

// TestPrefetchReleasedOnShutdown stops a pool of one worker while its
// run is blocked and the producer holds jobs it claimed ahead: Run gives
// every held job back unstarted, pending again with a drained run of no
// documents, and none of them lost an attempt or a document.
func TestPrefetchReleasedOnShutdown(t *testing.T) {
	t.Parallel()
	for name, open := range batchStores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t)
			b.store = &batchStore{Store: open(t, b)}
			g := newGate(2)
			const prefetch = 4
			w, _ := b.worker(t, Config{Concurrency: 1, Prefetch: prefetch, PollInterval: 10 * time.Millisecond}, nil, g.source())
			// Three one-document jobs time the pool's runs (so that it
			// prefetches), then a job blocks at its second document, and
			// six more wait.
			var quick, rest []string
			for range 3 {
				quick = append(quick, b.createJob(t, "seq", seqJob(1)).ID)
			}
			blocked := b.createJob(t, "seq", seqJob(20)).ID
			for range 6 {
				rest = append(rest, b.createJob(t, "seq", seqJob(1)).ID)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			reach(t, g.reached)
			waitFor(t, "the producer holds its prefetch", func() bool {
				return statusCount(t, b.store, intake.StatusProcessing) == 1+prefetch
			})
			cancel()
			close(g.release)
			if err := await(t, done, "Run"); err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}

			for _, id := range quick {
				wantStatus(t, b.job(t, id), intake.StatusCompleted)
			}
			got := b.job(t, blocked)
			wantStatus(t, got, intake.StatusPending)
			b.checkDocuments(t, blocked, got.Collected, docBody)
			released := 0
			for _, id := range rest {
				got := b.job(t, id)
				wantStatus(t, got, intake.StatusPending)
				if got.Collected != 0 || got.Attempts != 0 {
					t.Errorf("job %s: collected %d, attempts %d; want 0, 0", id, got.Collected, got.Attempts)
				}
				b.checkDocuments(t, id, 0, nil)
				if got.Runs == 0 {
					continue
				}
				released++
				runs, err := b.store.ListRuns(context.Background(), id, 0, 10)
				if err != nil {
					t.Fatal(err)
				}
				if len(runs) != 1 || runs[0].Outcome != intake.RunDrained || runs[0].Collected != 0 || runs[0].Batch < 1 {
					t.Errorf("job %s released unstarted: runs %+v, want one drained run of no documents", id, runs)
				}
				if !b.disp.notified(id) {
					t.Errorf("released job %s was not announced", id)
				}
			}
			if released != prefetch {
				t.Errorf("%d jobs released unstarted, want the %d prefetched", released, prefetch)
			}
			if n := testutil.ToFloat64(w.metrics.runs.WithLabelValues("seq", outcomeDrained)); n != prefetch+1 {
				t.Errorf("runs{outcome=drained} = %v, want %d (the blocked run and the prefetched jobs)", n, prefetch+1)
			}
			if n := statusCount(t, b.store, intake.StatusProcessing); n != 0 {
				t.Errorf("%d jobs still processing after Run returned", n)
			}
		})
	}
}

// heldClaims is a store whose ClaimMany calls, once armed, wait for
// release after they claimed: a claim still in flight when the pool stops.
type heldClaims struct {
	intake.Store
	armed   atomic.Bool
	claimed chan struct{} // closed when an armed claim has its jobs
	release chan struct{}
}

func (s *heldClaims) ClaimMany(ctx context.Context, p intake.ClaimParams, n int) ([]*intake.Job, error) {
	jobs, err := s.Store.(intake.BatchClaimer).ClaimMany(ctx, p, n)
	if err == nil && s.armed.CompareAndSwap(true, false) {
		close(s.claimed)
		<-s.release
	}
	return jobs, err
}

// TestClaimInFlightReleasedOnShutdown stops a pool while its producer's
// claim is in flight: the jobs that claim brings are the pool's, and it
// gives them back with the others (pending again, their runs drained)
// instead of leaving them to their leases.
func TestClaimInFlightReleasedOnShutdown(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	hs := &heldClaims{Store: b.store, claimed: make(chan struct{}), release: make(chan struct{})}
	hs.armed.Store(true)
	b.store = hs
	w, _ := b.worker(t, Config{Concurrency: 1, PollInterval: 10 * time.Millisecond}, nil, &seqSource{})
	ids := []string{b.createJob(t, "seq", seqJob(1)).ID}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	reach(t, hs.claimed)
	cancel()
	close(hs.release)
	if err := await(t, done, "Run"); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	for _, id := range ids {
		got := b.job(t, id)
		wantStatus(t, got, intake.StatusPending)
		runs, err := b.store.ListRuns(context.Background(), id, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].Outcome != intake.RunDrained {
			t.Errorf("job %s: runs %+v, want one drained run", id, runs)
		}
	}
}
