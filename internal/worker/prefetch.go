package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/intake-dev/intake"
)

// claimedJob is a job the pool claimed and has not started yet.
type claimedJob struct {
	job   *intake.Job
	owner string
	// renewed is when its lease was taken or last renewed, on Config.Clock
	// (the store's clock, which times the lease).
	renewed time.Time
}

// producer claims jobs for the workers of one pool (Run) in batches, so
// that n idle workers cost one round trip to the store rather than n. It
// hands jobs to idle workers and may hold a few more in a buffer, but no
// more than would start within half a HeartbeatInterval of their claim at
// the pool's recent pace: a buffered job holds a lease that no run renews
// yet. It renews the lease of a job that waits longer all the same, and
// gives back the jobs it still holds when the pool stops.
type producer struct {
	w       *Worker
	claimer intake.BatchClaimer
	// out hands a job to a worker; unbuffered, so a job is either in buf
	// or with exactly one worker.
	out chan *claimedJob
	// wakeup tells the producer that a worker became idle (capacity 1).
	wakeup chan struct{}
	// idle counts the workers waiting on out: a worker adds itself, and
	// the producer takes it off when it hands it a job.
	idle atomic.Int64
	// runAvg is a moving average of run durations in nanoseconds, 0 until
	// a run has ended.
	runAvg atomic.Int64
	// buf holds the claimed jobs not handed out yet, oldest first. Only
	// the producer's goroutine touches it.
	buf []*claimedJob
	// waits tracks the goroutines waiting on the dispatcher.
	waits sync.WaitGroup
}

func newProducer(w *Worker, claimer intake.BatchClaimer) *producer {
	return &producer{w: w, claimer: claimer, out: make(chan *claimedJob), wakeup: make(chan struct{}, 1)}
}

// run claims and hands out jobs until ctx is done, then gives back the jobs
// it still holds. Claims and releases run under hard, so that a claim in
// flight when ctx ends is not cut off after the store committed it. A
// claim runs in a goroutine of its own, one at a time, so that the
// producer goes on handing out the jobs it holds during the round trip.
func (p *producer) run(ctx, hard context.Context) {
	defer p.waits.Wait()
	defer p.releaseAll(hard)
	renew := time.NewTicker(max(p.w.cfg.HeartbeatInterval/2, time.Millisecond))
	defer renew.Stop()
	var (
		// waiting is closed when a wait for the dispatcher ends; nil while
		// the producer is not waiting (the last claim got all it asked for).
		waiting chan struct{}
		// claiming delivers the claim in flight; nil while there is none.
		claiming chan claimResult
	)
	for ctx.Err() == nil {
		if waiting == nil && claiming == nil {
			if n := p.want(); n > 0 {
				claiming = make(chan claimResult, 1)
				ch := claiming
				p.waits.Go(func() { ch <- p.claimBatch(hard, n) })
			}
		}
		var (
			out  chan<- *claimedJob // nil, so never ready, when buf is empty
			next *claimedJob
		)
		if len(p.buf) > 0 {
			out, next = p.out, p.buf[0]
		}
		select {
		case <-ctx.Done():
		case out <- next:
			p.idle.Add(-1)
			p.buf[0] = nil
			p.buf = p.buf[1:]
		case res := <-claiming:
			claiming = nil
			if !p.accept(res) {
				waiting = make(chan struct{})
				p.waits.Go(func() {
					defer close(waiting)
					_ = p.w.disp.Wait(ctx, p.w.cfg.PollInterval) // returns ctx's error only
				})
			}
		case <-p.wakeup:
		case <-waiting:
			waiting = nil
		case <-renew.C:
			p.renew(hard)
		}
	}
	if claiming != nil {
		// The jobs of the claim in flight are the pool's: releaseAll gives
		// them back with the others.
		p.accept(<-claiming)
	}
}

// want is how many jobs to claim now: one for each idle worker that the
// buffer does not serve, plus the lookahead.
func (p *producer) want() int {
	return int(p.idle.Load()) + p.lookahead() - len(p.buf)
}

// lookahead is how many jobs the pool may hold beyond its idle workers:
// as many as would all start within half a HeartbeatInterval of their claim
// if runs keep their recent average duration (the k-th buffered job starts
// after about ⌈k/Concurrency⌉ runs), at most Prefetch. It is 0 until a run
// has been timed, and when runs take longer than that half interval.
func (p *producer) lookahead() int {
	avg := time.Duration(p.runAvg.Load())
	if avg <= 0 {
		return 0
	}
	rounds := int(min(p.w.cfg.HeartbeatInterval/2/avg, time.Duration(p.w.cfg.Prefetch)))
	return min(p.w.cfg.Prefetch, rounds*p.w.cfg.Concurrency)
}

// observe adds a run's duration to the moving average (weight 1/8).
func (p *producer) observe(d time.Duration) {
	d = max(d, 1)
	for {
		old := p.runAvg.Load()
		next := int64(d)
		if old > 0 {
			next = max(1, old+(int64(d)-old)/8)
		}
		if p.runAvg.CompareAndSwap(old, next) {
			return
		}
	}
}

// claimResult is what one claim of the producer brought.
type claimResult struct {
	n         int // jobs asked for
	owner     string
	claimedAt time.Time
	jobs      []*intake.Job
	err       error
}

// fill claims up to n jobs into the buffer in one call, and reports
// whether it got all of them (see accept).
func (p *producer) fill(ctx context.Context, n int) (full bool) {
	return p.accept(p.claimBatch(ctx, n))
}

// claimBatch claims up to n jobs in one call. It touches nothing of the
// producer's but the store, so it may run beside the producer's loop.
func (p *producer) claimBatch(ctx context.Context, n int) claimResult {
	res := claimResult{n: min(n, intake.MaxPageSize), owner: p.w.newOwner()} // new for every call: it fences these runs only
	res.claimedAt = p.w.cfg.Clock()
	res.jobs, res.err = p.claim(ctx, res.owner, res.n)
	return res
}

// accept takes a claim's jobs into the buffer and counts it. It reports
// whether the claim got all it asked for; fewer means the queue is empty
// for now (or the claim failed), and the producer waits for the dispatcher
// before it claims again.
func (p *producer) accept(res claimResult) (full bool) {
	switch err := res.err; {
	case errors.Is(err, intake.ErrNoJob) || intake.ErrorCode(err) == intake.ENOTFOUND:
		p.w.metrics.claims.WithLabelValues("empty").Inc()
		return false
	case err != nil:
		p.w.metrics.claims.WithLabelValues("error").Inc()
		p.w.logger.Error("worker run", "err", fmt.Errorf("claim jobs: %w", err))
		return false
	}
	p.w.metrics.claims.WithLabelValues("claimed").Add(float64(len(res.jobs)))
	for _, j := range res.jobs {
		p.buf = append(p.buf, &claimedJob{job: j, owner: res.owner, renewed: res.claimedAt})
	}
	return len(res.jobs) >= res.n
}

// claim is ClaimMany with a panic turned into an error, logged and counted.
func (p *producer) claim(ctx context.Context, owner string, n int) (jobs []*intake.Job, err error) {
	defer func() {
		if v := recover(); v != nil {
			jobs, err = nil, recovered(ctx, p.w.logger, p.w.metrics.panics, panicLoop, v)
		}
	}()
	return p.claimer.ClaimMany(ctx, intake.ClaimParams{
		Owner: owner, LeaseTTL: p.w.cfg.LeaseTTL, Worker: p.w.cfg.Identity,
	}, n)
}

// renew renews the lease of every buffered job that has waited a
// HeartbeatInterval since its claim or last renewal, as a run's heartbeat
// would, and drops the jobs whose lease is gone.
func (p *producer) renew(ctx context.Context) {
	now := p.w.cfg.Clock()
	kept := p.buf[:0]
	for _, cj := range p.buf {
		if now.Sub(cj.renewed) < p.w.cfg.HeartbeatInterval || p.w.renewLease(ctx, cj) == nil {
			kept = append(kept, cj)
		}
	}
	clear(p.buf[len(kept):])
	p.buf = kept
}

// releaseAll gives back every job still in the buffer, a few at a time.
func (p *producer) releaseAll(hard context.Context) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, cj := range p.buf {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p.w.releaseUnstarted(hard, cj)
		})
	}
	wg.Wait()
	clear(p.buf)
	p.buf = nil
}

// poolLoop is one worker of a pool with a producer: it waits for a job,
// runs it (ending it through c when c is not nil), and tells the producer
// how long the run took.
func (w *Worker) poolLoop(ctx, hard context.Context, p *producer, c *completer) {
	for {
		p.idle.Add(1)
		select {
		case p.wakeup <- struct{}{}:
		default: // a wakeup is pending already
		}
		var cj *claimedJob
		select {
		case cj = <-p.out: // the producer took this worker off idle
		case <-ctx.Done():
			p.idle.Add(-1)
			return
		}
		start := time.Now()
		w.startClaimed(ctx, hard, cj, c)
		p.observe(time.Since(start))
	}
}

// startClaimed runs a job the producer handed over. When the pool is
// stopping it gives the job back instead; when the job waited a whole
// HeartbeatInterval since its lease was last renewed, it renews the lease
// first, and leaves the job alone if the lease is gone.
func (w *Worker) startClaimed(stop, hard context.Context, cj *claimedJob, c *completer) {
	if stop.Err() != nil {
		w.releaseUnstarted(hard, cj)
		return
	}
	age := w.cfg.Clock().Sub(cj.renewed)
	if age >= w.cfg.HeartbeatInterval {
		if err := w.renewLease(hard, cj); err != nil {
			return
		}
		age = 0
	}
	if err := w.runJob(stop, hard, cj.job, cj.owner, max(0, age), c); err != nil {
		w.logger.Error("worker run", "err", err)
	}
}

// renewLease renews the lease of a claimed job that has not started. It
// returns an error only when the lease is gone (it lapsed and the job was
// taken back, or the job was cancelled); the run then ends as lease_lost
// without having started. Another failure is logged and left to the run's
// own heartbeat.
func (w *Worker) renewLease(ctx context.Context, cj *claimedJob) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = recovered(ctx, w.logger, w.metrics.panics, panicHeartbeat, v, "job_id", cj.job.ID)
		}
	}()
	renewedAt := w.cfg.Clock()
	err = w.store.Heartbeat(ctx, cj.job.ID, cj.owner, w.cfg.LeaseTTL)
	switch {
	case err == nil:
		cj.renewed = renewedAt
		return nil
	case isLeaseLost(err):
		w.metrics.runs.WithLabelValues(w.sourceLabel(cj.job.SourceType), outcomeLeaseLost).Inc()
		w.logger.Warn("a prefetched job's lease was lost before its run started",
			"job_id", cj.job.ID, "source_type", cj.job.SourceType)
		return err
	default:
		w.logger.Warn("renew the lease of a prefetched job", "job_id", cj.job.ID, "err", err)
		return nil
	}
}

// releaseUnstarted gives back a job that was claimed but not started
// because the pool is stopping. Its run ends as a run stopped before its
// first document would: drained, with the batch it would have collected,
// the job pending again and announced.
func (w *Worker) releaseUnstarted(hard context.Context, cj *claimedJob) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(hard), releaseTimeout)
	defer cancel()
	// A panic here leaves the job leased: its lease expires and the
	// maintenance loop takes it back.
	defer func() {
		if v := recover(); v != nil {
			_ = recovered(hard, w.logger, w.metrics.panics, panicLoop, v, "job_id", cj.job.ID)
		}
	}()
	r := &run{
		job:        cj.job,
		owner:      cj.owner,
		label:      w.sourceLabel(cj.job.SourceType),
		collected:  cj.job.Collected,
		checkpoint: cj.job.Checkpoint,
		drained:    true,
	}
	r.source, _ = w.sources.Lookup(cj.job.SourceType) // nil is fine for batchSize
	r.batch = max(1, w.batchSize(r))
	outcome := outcomeLeaseLost
	err := w.store.StartBatch(ctx, cj.job.ID, cj.owner, r.batch)
	switch {
	case err == nil:
		outcome, err = w.finish(hard, r, nil)
	case isLeaseLost(err):
		err = nil
	}
	w.metrics.runs.WithLabelValues(r.label, outcome).Inc()
	if err != nil {
		w.logger.Error("release a prefetched job; its lease will expire", "job_id", cj.job.ID, "err", err)
		return
	}
	w.logger.Info("prefetched job released unstarted", "job_id", cj.job.ID, "outcome", outcome)
}
