package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob"
	"github.com/intake-dev/intake/internal/dispatch/poll"
	"github.com/intake-dev/intake/internal/redact"
	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/telemetry"
	"github.com/intake-dev/intake/internal/worker"
)

const benchUsage = `usage: intake bench --database-url URL [-n JOBS] [--workers N] [--duration D]

Measures the job queue on a store: inserts no-op jobs in batches and works
them with the real worker pool (a claim, then the plan and the finish in
one write, batched with other runs' finishes; no documents, so no blob
storage and no source is involved), printing progress every two
seconds, claim and completion latency percentiles, and last a line
"N jobs/s": jobs completed per second from the pool's start to the last
completion.

With -n it inserts that many jobs first and works them down; without, it
keeps a backlog inserted until --duration has passed or it is interrupted.

The jobs stay in the store as completed jobs of source_type bench. Use a
database that no intake serve or work uses: their workers cannot run bench
jobs, and the bench's workers would claim, and fail, their jobs. The bench
refuses a store that holds jobs not yet finished.

flags:`

// benchSourceType is the source_type of the bench's jobs. Only `intake
// bench` registers a source for it, so the API refuses it.
const benchSourceType = "bench"

// benchSource is the bench's no-op source: a job has no documents, so a
// run claims it, plans it and completes it — the queue's own work and
// nothing else.
type benchSource struct{}

func (benchSource) Type() string                                    { return benchSourceType }
func (benchSource) Validate(context.Context, json.RawMessage) error { return nil }
func (benchSource) Plan(context.Context, json.RawMessage) (int, []byte, error) {
	return 0, nil, nil
}
func (benchSource) Next(context.Context, json.RawMessage, int, []byte) (*intake.Item, error) {
	return nil, intake.ErrExhausted
}
func (benchSource) Close() error { return nil }

// benchOptions are the bench's flags.
type benchOptions struct {
	databaseURL string
	jobs        int
	workers     int
	duration    time.Duration
	insertBatch int
	maxConns    int
	prefetch    int
	logLevel    string
	cpuProfile  string
}

// Bench defaults. Two seconds between progress lines and 2,000 workers, as
// river bench: a run of intake's pool holds its worker until its finish is
// committed, so the pool's size bounds the jobs in flight (claimed, running
// or waiting for their batch's commit).
const (
	benchWorkers      = 2000
	benchInsertBatch  = 1000
	benchProgress     = 2 * time.Second
	benchPollInterval = 20 * time.Millisecond
)

func parseBenchFlags(args []string, stderr io.Writer) (*benchOptions, error) {
	o := &benchOptions{}
	fs := flag.NewFlagSet("intake bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, benchUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.databaseURL, "database-url", "", "the store to benchmark (sqlite://PATH, postgres://…, mongodb://…); required")
	fs.IntVar(&o.jobs, "n", 0, "jobs to insert before the pool starts and to work down; 0: insert continuously")
	fs.IntVar(&o.workers, "workers", benchWorkers, "size of the worker pool")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (e.g. 1m); 0: when the jobs are done, or never with -n 0")
	fs.IntVar(&o.insertBatch, "insert-batch", benchInsertBatch, "jobs per insert")
	fs.IntVar(&o.maxConns, "max-conns", 0, "PostgreSQL pool size; 0 keeps pool_max_conns in the URL or pgxpool's default")
	fs.IntVar(&o.prefetch, "prefetch", 0, "jobs the pool may claim ahead of its idle workers; 0: --workers; -1: no batches, each worker claims its own job")
	fs.StringVar(&o.logLevel, "log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	fs.StringVar(&o.cpuProfile, "cpu-profile", "", "write a CPU profile of the worked part of the bench to this file (go tool pprof reads it)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	case o.databaseURL == "":
		return nil, errors.New("--database-url is required: the bench inserts jobs, so name the store (a database no intake serve or work uses)")
	case o.jobs < 0:
		return nil, fmt.Errorf("-n must not be negative, not %d", o.jobs)
	case o.workers < 1:
		return nil, fmt.Errorf("--workers must be at least 1, not %d", o.workers)
	case o.duration < 0:
		return nil, fmt.Errorf("--duration must not be negative, not %s", o.duration)
	case o.insertBatch < 1:
		return nil, fmt.Errorf("--insert-batch must be at least 1, not %d", o.insertBatch)
	case o.prefetch < -1:
		return nil, fmt.Errorf("--prefetch must be -1 or more, not %d", o.prefetch)
	case o.maxConns < 0 || o.maxConns > math.MaxInt32:
		return nil, fmt.Errorf("--max-conns must be in 0..%d, not %d", math.MaxInt32, o.maxConns)
	}
	return o, nil
}

// runBench is `intake bench`.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseBenchFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return usageError("bench: %v", err)
	}
	logger, err := telemetry.NewLogger(stderr, o.logLevel, "text")
	if err != nil {
		return usageError("bench: --log-level: %v", err)
	}

	raw, err := store.Open(ctx, o.databaseURL, store.Options{Logger: logger, MaxConns: int32(o.maxConns)}) //nolint:gosec // checked above
	if err != nil {
		return openError("--database-url", err)
	}
	defer func() { _ = raw.Close() }()
	if err := raw.Migrate(ctx); err != nil {
		return fmt.Errorf("bench: migrate: %w", err)
	}
	stats, err := raw.Stats(ctx)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if n := stats.Jobs[intake.StatusPending] + stats.Jobs[intake.StatusScheduled] + stats.Jobs[intake.StatusProcessing]; n > 0 {
		return usageError("bench: the store holds %d jobs that are not finished (pending, scheduled or processing): "+
			"run the bench on a database that no intake serve or work uses", n)
	}

	// The worker needs blob storage; bench jobs have no documents, so an
	// empty directory that is removed afterwards is never written to.
	dir, err := os.MkdirTemp("", "intake-bench-")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	blobs, err := blob.Open(ctx, "file://"+dir, blob.Options{Logger: logger})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer func() { _ = blobs.Close() }()
	disp := poll.New()
	defer func() { _ = disp.Close() }()

	bs, rec := newBenchStore(raw)
	w, err := worker.New(worker.Config{
		Concurrency:  o.workers,
		Prefetch:     o.prefetch,
		PollInterval: benchPollInterval,
		Identity:     "intake-bench",
	}, bs, blobs, intake.NewSources(benchSource{}), disp, logger, nil)
	if err != nil {
		return usageError("bench: %v", err)
	}
	b := &bench{opts: o, store: bs, rec: rec, disp: disp, stdout: stdout, logger: logger}
	_, batched := bs.(intake.BatchClaimer)
	claims := "one claim per job"
	if batched && o.prefetch >= 0 {
		claims = "claims in batches"
	}
	if _, ok := bs.(intake.BatchFinisher); ok {
		claims += ", finishes in batches"
	}
	fmt.Fprintf(stdout, "bench: store %s, %d workers, %s\n", redact.Location(o.databaseURL), o.workers, claims)
	return b.run(ctx, w)
}

// bench is one run of the benchmark.
type bench struct {
	opts     *benchOptions
	store    intake.Store // the store under test, timed by rec
	rec      *benchRecorder
	disp     intake.Dispatcher
	stdout   io.Writer
	logger   *slog.Logger
	inserted atomic.Int64
}

func (b *bench) run(ctx context.Context, w *worker.Worker) error {
	rec := b.rec
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	insertErr := make(chan error, 1)
	if b.opts.jobs > 0 {
		fmt.Fprintf(b.stdout, "bench: inserting %d jobs in batches of %d\n", b.opts.jobs, b.opts.insertBatch)
		start := time.Now()
		if err := b.insert(ctx, b.opts.jobs); err != nil {
			return err
		}
		d := time.Since(start)
		fmt.Fprintf(b.stdout, "bench: inserted %d jobs in %s (%.0f jobs/s)\n",
			b.opts.jobs, d.Round(time.Millisecond), float64(b.opts.jobs)/d.Seconds())
	} else {
		// Keep a backlog of a few seconds of work, and start with one.
		backlog := max(10_000, 50*b.opts.workers)
		if err := b.insert(ctx, backlog); err != nil {
			return err
		}
		go func() { insertErr <- b.keepBacklog(ctx, rec, backlog) }()
	}

	if b.opts.cpuProfile != "" {
		stopProfile, err := startCPUProfile(b.opts.cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	rec.start(time.Now(), b.opts.jobs)
	poolDone := make(chan error, 1)
	go func() { poolDone <- w.Run(ctx) }()
	var deadline <-chan time.Time
	if b.opts.duration > 0 {
		t := time.NewTimer(b.opts.duration)
		defer t.Stop()
		deadline = t.C
	}
	tick := time.NewTicker(benchProgress)
	defer tick.Stop()
	var lastWorked, lastInserted int64
	var err error
loop:
	for {
		select {
		case <-ctx.Done(): // interrupted: report what was done
			break loop
		case <-deadline:
			break loop
		case err = <-insertErr:
			break loop
		case <-rec.done:
			break loop
		case <-tick.C:
			worked, inserted := rec.worked.Load(), b.inserted.Load()
			fmt.Fprintf(b.stdout, "bench: jobs worked [ %10d ], inserted [ %10d ], job/sec [ %10.1f ] [%s]\n",
				worked-lastWorked, inserted-lastInserted, float64(worked-lastWorked)/benchProgress.Seconds(), benchProgress)
			lastWorked, lastInserted = worked, inserted
		}
	}
	stop()
	if perr := <-poolDone; perr != nil && err == nil {
		err = perr
	}
	b.report(rec)
	return err
}

// startCPUProfile profiles the process into the file at path until the
// returned function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path) //nolint:gosec // the operator names the file
	if err != nil {
		return nil, fmt.Errorf("bench: --cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("bench: --cpu-profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// insert creates n bench jobs in batches, announcing each batch.
func (b *bench) insert(ctx context.Context, n int) error {
	batch := make([]*intake.Job, 0, b.opts.insertBatch)
	for n > 0 {
		batch = batch[:0]
		for range min(n, b.opts.insertBatch) {
			batch = append(batch, &intake.Job{SourceType: benchSourceType, Config: json.RawMessage(`{}`)})
		}
		jobs, err := b.store.CreateJobs(ctx, batch)
		select {
		case <-ctx.Done():
			return nil // interrupted: the bench reports what it did
		default:
		}
		if err != nil {
			return fmt.Errorf("bench: insert jobs: %w", err)
		}
		n -= len(jobs)
		b.inserted.Add(int64(len(jobs)))
		if err := b.disp.Notify(ctx, jobs[0].ID); err != nil {
			b.logger.Warn("notify", "err", err)
		}
	}
	return nil
}

// keepBacklog tops the backlog of unworked jobs up to n whenever it falls
// below half of it, until ctx is done.
func (b *bench) keepBacklog(ctx context.Context, rec *benchRecorder, n int) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if left := b.inserted.Load() - rec.worked.Load(); left < int64(n/2) {
			if err := b.insert(ctx, n-int(left)); err != nil {
				return err
			}
		}
	}
}

// report prints the totals, the latency percentiles and, last, the rate.
func (b *bench) report(rec *benchRecorder) {
	worked := rec.worked.Load()
	elapsed := rec.elapsed()
	fmt.Fprintf(b.stdout, "bench: total jobs worked [ %10d ], total jobs inserted [ %10d ], running %s\n",
		worked, b.inserted.Load(), elapsed.Round(time.Millisecond))
	if n := rec.failed.Load(); n > 0 {
		fmt.Fprintf(b.stdout, "bench: %d runs did not complete their job (see the log)\n", n)
	}
	fmt.Fprintf(b.stdout, "bench: claim latency, per claim call (%d calls, %d jobs): %s\n",
		rec.claims.count(), rec.claimed.Load(), rec.claims.summary())
	fmt.Fprintf(b.stdout, "bench: completion latency, claim to completed (%d jobs): %s\n",
		rec.completions.count(), rec.completions.summary())
	rate := 0.0
	if elapsed > 0 {
		rate = float64(worked) / elapsed.Seconds()
	}
	fmt.Fprintf(b.stdout, "%.0f jobs/s\n", rate)
}

// benchRecorder times the claims and runs of the bench's pool.
type benchRecorder struct {
	claims      latency // one observation per Claim or ClaimMany call
	completions latency // claim to completion, per job
	claimed     atomic.Int64
	worked      atomic.Int64
	failed      atomic.Int64
	startedAt   atomic.Int64 // unix nanoseconds
	lastWorked  atomic.Int64 // unix nanoseconds

	mu        sync.Mutex
	claimedAt map[string]time.Time
	// done is closed when target jobs were worked; nil (never ready)
	// without a target.
	done   chan struct{}
	target int64
}

// start marks the pool's start, from which the rate is measured, and the
// number of jobs after which the bench ends (0: none).
func (r *benchRecorder) start(t time.Time, target int) {
	r.startedAt.Store(t.UnixNano())
	if target > 0 {
		r.mu.Lock()
		r.done, r.target = make(chan struct{}), int64(target)
		r.mu.Unlock()
	}
}

// elapsed is the time from the pool's start to the last completion.
func (r *benchRecorder) elapsed() time.Duration {
	last := r.lastWorked.Load()
	if last == 0 {
		return 0
	}
	return time.Duration(last - r.startedAt.Load())
}

func (r *benchRecorder) claimedJobs(jobs []*intake.Job, took time.Duration) {
	now := time.Now()
	r.claims.observe(took)
	r.claimed.Add(int64(len(jobs)))
	r.mu.Lock()
	for _, j := range jobs {
		r.claimedAt[j.ID] = now
	}
	r.mu.Unlock()
}

// Ends of runs, for ended.
const (
	runCompleted = iota // the job completed
	runReleased         // the job went back to pending (the pool stopped)
	runFailed           // the job was rescheduled or failed
)

func (r *benchRecorder) ended(jobID string, how int) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.claimedAt[jobID]
	delete(r.claimedAt, jobID)
	switch how {
	case runFailed:
		r.failed.Add(1)
	case runCompleted:
		if ok {
			r.completions.observe(now.Sub(at))
		}
		r.lastWorked.Store(now.UnixNano())
		if n := r.worked.Add(1); r.done != nil && n == r.target {
			close(r.done)
		}
	}
}

// benchStore is the bench's store: the store under test, timed.
type benchStore struct {
	intake.Store
	rec *benchRecorder
}

// batchBenchStore is benchStore for a store that claims and finishes in
// batches (store.Store does both on every driver).
type batchBenchStore struct {
	*benchStore
	claimer  intake.BatchClaimer
	finisher intake.BatchFinisher
}

// newBenchStore wraps s, claiming and finishing in batches when s does,
// and returns the recorder of its timings.
func newBenchStore(s intake.Store) (intake.Store, *benchRecorder) {
	rec := &benchRecorder{claimedAt: map[string]time.Time{}}
	bs := &benchStore{Store: s, rec: rec}
	bc, claims := s.(intake.BatchClaimer)
	bf, finishes := s.(intake.BatchFinisher)
	if claims && finishes {
		return &batchBenchStore{benchStore: bs, claimer: bc, finisher: bf}, rec
	}
	return bs, rec
}

func (s *benchStore) Claim(ctx context.Context, p intake.ClaimParams) (*intake.Job, error) {
	start := time.Now()
	j, err := s.Store.Claim(ctx, p)
	if err == nil {
		s.rec.claimedJobs([]*intake.Job{j}, time.Since(start))
	}
	return j, err
}

func (s *batchBenchStore) ClaimMany(ctx context.Context, p intake.ClaimParams, n int) ([]*intake.Job, error) {
	start := time.Now()
	jobs, err := s.claimer.ClaimMany(ctx, p, n)
	if err == nil {
		s.rec.claimedJobs(jobs, time.Since(start))
	}
	return jobs, err
}

func (s *benchStore) FinishRun(ctx context.Context, jobID, owner string, done bool) error {
	err := s.Store.FinishRun(ctx, jobID, owner, done)
	switch {
	case err == nil && done:
		s.rec.ended(jobID, runCompleted)
	case err == nil:
		s.rec.ended(jobID, runReleased)
	}
	return err
}

func (s *batchBenchStore) FinishRuns(ctx context.Context, runs []intake.FinishParams) []error {
	errs := s.finisher.FinishRuns(ctx, runs)
	for i, err := range errs {
		switch {
		case err == nil && runs[i].Done:
			s.rec.ended(runs[i].JobID, runCompleted)
		case err == nil:
			s.rec.ended(runs[i].JobID, runReleased)
		}
	}
	return errs
}

func (s *benchStore) Reschedule(ctx context.Context, jobID, owner string, at time.Time, lastErr string, countAttempt bool) error {
	err := s.Store.Reschedule(ctx, jobID, owner, at, lastErr, countAttempt)
	s.rec.ended(jobID, runFailed)
	return err
}

func (s *benchStore) Fail(ctx context.Context, jobID, owner, lastErr string) error {
	err := s.Store.Fail(ctx, jobID, owner, lastErr)
	s.rec.ended(jobID, runFailed)
	return err
}

// latency is a histogram of durations in buckets 2 % wide from 1 µs to
// about five hours (the last bucket holds anything longer): its memory
// stays fixed however long the bench runs, and a percentile read from it is
// within 2 % of the true one.
type latency struct {
	mu      sync.Mutex
	buckets [latencyBuckets]uint64
	n       uint64
	max     time.Duration
}

const (
	latencyMin     = time.Microsecond
	latencyGrowth  = 1.02
	latencyBuckets = 1200 // 1 µs × 1.02^1199 ≈ 5.6 h
)

func (l *latency) observe(d time.Duration) {
	i := 0
	if d > latencyMin {
		i = min(latencyBuckets-1, 1+int(math.Log(float64(d)/float64(latencyMin))/math.Log(latencyGrowth)))
	}
	l.mu.Lock()
	l.buckets[i]++
	l.n++
	l.max = max(l.max, d)
	l.mu.Unlock()
}

func (l *latency) count() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// quantile returns the upper bound of the bucket holding quantile q, at
// most the largest observation.
func (l *latency) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(l.n)))
	var seen uint64
	for i, c := range l.buckets {
		seen += c
		if seen >= rank {
			if i == latencyBuckets-1 {
				return l.max
			}
			upper := time.Duration(float64(latencyMin) * math.Pow(latencyGrowth, float64(i)))
			return min(upper, l.max)
		}
	}
	return l.max
}

func (l *latency) summary() string {
	if l.count() == 0 {
		return "none"
	}
	l.mu.Lock()
	maxSeen := l.max
	l.mu.Unlock()
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s",
		roundLatency(l.quantile(0.50)), roundLatency(l.quantile(0.90)), roundLatency(l.quantile(0.99)), roundLatency(maxSeen))
}

// roundLatency keeps three significant digits or so.
func roundLatency(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
