// Package worker runs intake's collection work: the Worker claims pending
// jobs, collects the next batch of each from its Source, streams every
// document to the blob store and records it under the lease fence; the
// Maintainer promotes due and abandoned jobs back to pending and sweeps
// orphan blobs.
//
// One run of a job is one batch (35 % of its documents by default), so a job
// is claimed several times until it completes. A worker process can be a
// long-running pool (Run) or one KEDA pod that runs a single batch (RunOnce).
package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
)

// Config configures a Worker. Zero fields take the documented defaults.
type Config struct {
	// Concurrency is the number of jobs Run collects at once. Default 4.
	Concurrency int
	// LeaseTTL is how long a claim lasts without a heartbeat. Default 60s.
	LeaseTTL time.Duration
	// HeartbeatInterval is how often a run renews its lease; it must be
	// shorter than LeaseTTL. Default LeaseTTL/3.
	HeartbeatInterval time.Duration
	// BatchFraction is the share of a job's documents one run collects.
	// Default intake.DefaultBatchFraction (35 %).
	BatchFraction intake.Fraction
	// UnknownBatch is the batch size of jobs whose total is unknown.
	// Default 10.
	UnknownBatch int
	// MaxAttempts is how many failed runs in a row fail a job for good.
	// Default 5.
	MaxAttempts int
	// PollInterval is how long an idle worker waits for a notification
	// before it tries to claim again. Default 1s.
	PollInterval time.Duration
	// BackoffBase and BackoffMax bound the exponential backoff, with full
	// jitter, after a transient error: attempt n waits a random duration in
	// [0, min(BackoffMax, BackoffBase×2^n)]. Defaults 5s and 10m.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxRetryAfter is the longest wait a source may ask for
	// (intake.RetryAfterError, an HTTP Retry-After): a longer one fails the
	// job at once. Default 24h.
	MaxRetryAfter time.Duration
	// ShutdownGrace is how long in-flight runs may take to finish their
	// current document once the worker is asked to stop; after it the
	// document is abandoned and the job released. Default 25s, inside
	// Kubernetes' default 30s termination grace period.
	ShutdownGrace time.Duration
	// Prefetch is how many claimed jobs a pool (Run) may hold beyond its
	// idle workers, when the store claims several jobs in one round trip
	// (intake.BatchClaimer). A held job's lease is not renewed by a run
	// yet, so the pool holds only as many as would start within half a
	// HeartbeatInterval at the pace of its recent runs, renews the lease
	// of any that waits longer, and gives back what it holds when it
	// stops. Default Concurrency; negative turns batched claims off, so
	// that each worker claims its own job, as with stores that cannot
	// claim in batches. RunOnce always claims one job.
	Prefetch int
	// RecordBatch is the most documents a run records at once: their
	// blobs are written unsynced and made durable together with one Sync
	// (where the blob store is an intake.BlobSyncer), and then recorded
	// with one RecordDocuments, one commit. A group is recorded when it
	// is full or once RecordWait has passed since its first document
	// began (in the background, while the run collects the next group),
	// and at the end of the batch, when the worker stops, and before an
	// error ends the run; a run that loses its lease loses its unrecorded
	// groups. 1 records each document on its own before the next begins,
	// its blob fsynced by Put. Default DefaultRecordBatch.
	RecordBatch int
	// RecordWait bounds how long a group stays open: a group is recorded
	// after the first document that ends RecordWait or more after the
	// group's first document began, so a source slower than that gets
	// each document recorded as it comes. Default DefaultRecordWait, long
	// enough to fill groups of 64 on a busy machine (where a document
	// takes 1–2 ms to write) and short beside the time a document of a
	// slow source takes.
	RecordWait time.Duration
	// Identity names this worker process in run records, lease owners and
	// blob keys. Characters outside [A-Za-z0-9._-] are replaced. Default
	// the host name.
	Identity string
	// Clock returns the current time for backoff deadlines and document
	// timestamps; it should be the store's clock. Default time.Now.
	Clock func() time.Time
}

// Defaults of Config.
const (
	DefaultConcurrency   = 4
	DefaultLeaseTTL      = 60 * time.Second
	DefaultUnknownBatch  = 10
	DefaultMaxAttempts   = 5
	DefaultPollInterval  = time.Second
	DefaultBackoffBase   = 5 * time.Second
	DefaultBackoffMax    = 10 * time.Minute
	DefaultShutdownGrace = 25 * time.Second
	DefaultMaxRetryAfter = 24 * time.Hour
	DefaultRecordBatch   = 64
	DefaultRecordWait    = 100 * time.Millisecond
)

// MaxRecordBatch is the largest Config.RecordBatch.
const MaxRecordBatch = 1000

// releaseTimeout bounds the store calls that end a run after its context
// was cancelled (drain, grace elapsed): they run on a detached context.
const releaseTimeout = 5 * time.Second

func (c Config) withDefaults() (Config, error) {
	c.Concurrency = cmp.Or(c.Concurrency, DefaultConcurrency)
	c.LeaseTTL = cmp.Or(c.LeaseTTL, DefaultLeaseTTL)
	c.HeartbeatInterval = cmp.Or(c.HeartbeatInterval, c.LeaseTTL/3)
	c.BatchFraction = cmp.Or(c.BatchFraction, intake.DefaultBatchFraction)
	c.UnknownBatch = cmp.Or(c.UnknownBatch, DefaultUnknownBatch)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, DefaultMaxAttempts)
	c.PollInterval = cmp.Or(c.PollInterval, DefaultPollInterval)
	c.BackoffBase = cmp.Or(c.BackoffBase, DefaultBackoffBase)
	c.BackoffMax = cmp.Or(c.BackoffMax, DefaultBackoffMax)
	c.ShutdownGrace = cmp.Or(c.ShutdownGrace, DefaultShutdownGrace)
	c.Prefetch = cmp.Or(c.Prefetch, c.Concurrency)
	c.MaxRetryAfter = cmp.Or(c.MaxRetryAfter, DefaultMaxRetryAfter)
	c.RecordBatch = cmp.Or(c.RecordBatch, DefaultRecordBatch)
	c.RecordWait = cmp.Or(c.RecordWait, DefaultRecordWait)
	if c.Identity == "" {
		c.Identity, _ = os.Hostname()
	}
	c.Identity = sanitizeIdentity(c.Identity)
	if c.Clock == nil {
		c.Clock = time.Now
	}
	switch {
	case c.Concurrency < 1:
		return c, intake.Errorf(intake.EINVALID, "worker concurrency must be at least 1, got %d", c.Concurrency)
	case c.LeaseTTL < 0 || c.HeartbeatInterval <= 0 || c.HeartbeatInterval >= c.LeaseTTL:
		return c, intake.Errorf(intake.EINVALID, "heartbeat interval %s must be positive and shorter than the lease TTL %s", c.HeartbeatInterval, c.LeaseTTL)
	case c.BatchFraction < 1 || c.BatchFraction > 10000:
		return c, intake.Errorf(intake.EINVALID, "batch fraction %s must be in (0, 1]", c.BatchFraction)
	case c.UnknownBatch < 1:
		return c, intake.Errorf(intake.EINVALID, "unknown-total batch size must be at least 1, got %d", c.UnknownBatch)
	case c.MaxAttempts < 1:
		return c, intake.Errorf(intake.EINVALID, "max attempts must be at least 1, got %d", c.MaxAttempts)
	case c.PollInterval < 0:
		return c, intake.Errorf(intake.EINVALID, "poll interval must not be negative, got %s", c.PollInterval)
	case c.BackoffBase < 0 || c.BackoffMax < c.BackoffBase:
		return c, intake.Errorf(intake.EINVALID, "backoff base %s must be in [0, backoff max %s]", c.BackoffBase, c.BackoffMax)
	case c.ShutdownGrace < 0:
		return c, intake.Errorf(intake.EINVALID, "shutdown grace must not be negative, got %s", c.ShutdownGrace)
	case c.RecordBatch < 1 || c.RecordBatch > MaxRecordBatch:
		return c, intake.Errorf(intake.EINVALID, "record batch must be between 1 and %d, got %d", MaxRecordBatch, c.RecordBatch)
	case c.RecordWait < 0:
		return c, intake.Errorf(intake.EINVALID, "record wait must not be negative, got %s", c.RecordWait)
	}
	return c, nil
}

// Worker claims jobs and collects their documents. It is safe for
// concurrent use; Run and RunOnce may be called from several goroutines.
type Worker struct {
	cfg   Config
	store intake.Store
	// finisher is the store's, when it ends runs in batches
	// (intake.BatchFinisher): Run's completer and RunOnce end runs with
	// it, which also records the plan of a run that collects nothing.
	finisher intake.BatchFinisher
	blobs    intake.BlobStore
	sources  intake.Sources
	disp     intake.Dispatcher
	logger   *slog.Logger
	metrics  *workerMetrics
}

// New returns a Worker. Its metrics are registered on reg; a nil reg leaves
// them unregistered, and collectors that reg already holds (another Worker
// in the same process) are shared.
func New(cfg Config, store intake.Store, blobs intake.BlobStore, sources intake.Sources, disp intake.Dispatcher, logger *slog.Logger, reg prometheus.Registerer) (*Worker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("new worker: %w", err)
	}
	if store == nil || blobs == nil || disp == nil || logger == nil {
		return nil, intake.Errorf(intake.EINVALID, "new worker: store, blobs, dispatcher and logger are required")
	}
	if len(sources) == 0 {
		return nil, intake.Errorf(intake.EINVALID, "new worker: no sources registered")
	}
	m, err := newWorkerMetrics(reg, sources.Types())
	if err != nil {
		return nil, fmt.Errorf("new worker: %w", err)
	}
	finisher, _ := store.(intake.BatchFinisher)
	return &Worker{
		cfg:      cfg,
		store:    store,
		finisher: finisher,
		blobs:    blobs,
		sources:  sources,
		disp:     disp,
		logger:   logger.With("component", "worker"),
		metrics:  m,
	}, nil
}

// RunOnce claims one job, the one named by jobID or else the pending job
// that has waited longest, and collects one batch of it: the KEDA mode,
// `intake work --once [JOB_ID]`. It reports claimed false, and no error,
// when there was nothing to claim (or ctx was already done).
//
// The job's own outcome (completed, pending, scheduled, failed) is recorded
// in the store and is not an error here; err is non-nil only when the claim
// failed or the outcome of the run could not be saved. Cancelling ctx drains
// the run as Run does: the current document finishes, or is abandoned once
// ShutdownGrace has passed, and the job goes back to pending.
func (w *Worker) RunOnce(ctx context.Context, jobID string) (claimed bool, err error) {
	if ctx.Err() != nil {
		return false, nil
	}
	hard, cancel := w.graceContext(ctx)
	defer cancel()
	return w.runOne(ctx, hard, jobID, nil)
}

// Run collects jobs with Concurrency loops until ctx is done, then drains:
// it stops claiming, lets each in-flight run finish its current document
// (or abandons it once ShutdownGrace has passed), puts those jobs back to
// pending and returns nil. An idle loop waits for the dispatcher's
// notification or PollInterval before it claims again. On a store that
// claims in batches (intake.BatchClaimer) one producer claims for all idle
// loops at once (see Config.Prefetch), and gives back the jobs it claimed
// but did not start when it stops. On a store that finishes runs in batches
// (intake.BatchFinisher) one completer ends the successful runs of the pool
// together (see completer).
func (w *Worker) Run(ctx context.Context) error {
	hard, cancel := w.graceContext(ctx)
	defer cancel()
	claimer, batched := w.store.(intake.BatchClaimer)
	batched = batched && w.cfg.Prefetch > 0
	w.logger.Info("worker pool started", "concurrency", w.cfg.Concurrency, "identity", w.cfg.Identity,
		"lease_ttl", w.cfg.LeaseTTL, "batch_fraction", w.cfg.BatchFraction.String(), "batch_claims", batched,
		"batch_finishes", w.finisher != nil)
	var c *completer
	if w.finisher != nil {
		// It outlives every run: the last runs end after ctx is done.
		c = newCompleter(w, w.finisher)
		go c.run(context.WithoutCancel(ctx))
	}
	var wg sync.WaitGroup
	if batched {
		// One producer claims for the whole pool; the workers take jobs
		// from it.
		p := newProducer(w, claimer)
		wg.Go(func() { p.run(ctx, hard) })
		for range w.cfg.Concurrency {
			wg.Go(func() { w.poolLoop(ctx, hard, p, c) })
		}
	} else {
		for range w.cfg.Concurrency {
			wg.Go(func() { w.loop(ctx, hard, c) })
		}
	}
	wg.Wait()
	if c != nil {
		c.stop()
	}
	w.logger.Info("worker pool drained")
	return nil
}

func (w *Worker) loop(ctx, hard context.Context, c *completer) {
	for ctx.Err() == nil {
		claimed, err := w.guardedRunOne(ctx, hard, c)
		if err != nil {
			w.logger.Error("worker run", "err", err)
		}
		if claimed && err == nil {
			continue
		}
		// Wait returns ctx's error only, which the loop condition checks.
		_ = w.disp.Wait(ctx, w.cfg.PollInterval)
	}
}

// guardedRunOne is runOne with a panic before a job was claimed (in the
// store's claim, say) turned into an error, logged and counted, so that
// the loop goes on.
func (w *Worker) guardedRunOne(ctx, hard context.Context, c *completer) (claimed bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			claimed, err = false, recovered(hard, w.logger, w.metrics.panics, panicLoop, v)
		}
	}()
	return w.runOne(ctx, hard, "", c)
}

// errGraceElapsed is the cause of a run's cancellation when ShutdownGrace
// passed before it finished its current document.
var errGraceElapsed = errors.New("shutdown grace period elapsed")

// graceContext returns a context that outlives ctx by ShutdownGrace: runs
// collect under it, so that they can finish their current document after
// ctx is done. The returned cancel must be called to release it.
func (w *Worker) graceContext(ctx context.Context) (context.Context, context.CancelFunc) {
	hard, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-ctx.Done():
		case <-hard.Done():
			return
		}
		t := time.NewTimer(w.cfg.ShutdownGrace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel(errGraceElapsed)
		case <-hard.Done():
		}
	}()
	return hard, func() { cancel(context.Canceled) }
}
