package worker

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/intake-dev/intake"
)

// Outcomes of a run, the values of the outcome label.
const (
	outcomeCompleted = "completed" // every document collected
	outcomePending   = "pending"   // batch done, more to collect
	outcomeScheduled = "scheduled" // transient error or RetryAfterError: retried later
	outcomeFailed    = "failed"    // permanent error, invalid config, or attempts used up
	outcomeLeaseLost = "lease_lost"
	outcomeDrained   = "drained" // the worker stopped; the job went back to pending
)

// Kinds of document errors, the values of the kind label.
const (
	kindSource     = "source"
	kindBlob       = "blob"
	kindStore      = "store"
	kindRetryAfter = "retry_after"
	kindPermanent  = "permanent"
)

// errorKinds lists every kind, so that their series start at zero.
var errorKinds = []string{kindSource, kindBlob, kindStore, kindRetryAfter, kindPermanent}

// run is the state of one claim of one job.
type run struct {
	job        *intake.Job
	owner      string
	source     intake.Source
	label      string // bounded source_type label
	batch      int
	collected  int
	checkpoint []byte
	done       bool // the source has nothing more to give
	drained    bool // stopped early because the worker is stopping
	// plan is the job's plan when the run planned it and collects
	// nothing: the finish records it (intake.FinishParams.Plan).
	plan *intake.JobPlan
	// completer ends the run when it succeeds; nil outside a pool.
	completer *completer
}

// runOne claims a job and runs one batch of it. stop ends the batch between
// documents; hard cancels the document in flight; c, when not nil, ends
// the run when it succeeds.
func (w *Worker) runOne(stop, hard context.Context, jobID string, c *completer) (claimed bool, err error) {
	select {
	case <-stop.Done(): // the worker is stopping: it claims nothing
		return false, nil
	default:
	}
	owner := w.newOwner()
	job, err := w.store.Claim(hard, intake.ClaimParams{
		Owner: owner, LeaseTTL: w.cfg.LeaseTTL, JobID: jobID, Worker: w.cfg.Identity,
	})
	switch {
	case errors.Is(err, intake.ErrNoJob) || intake.ErrorCode(err) == intake.ENOTFOUND:
		w.metrics.claims.WithLabelValues("empty").Inc()
		return false, nil
	case err != nil:
		w.metrics.claims.WithLabelValues("error").Inc()
		return false, fmt.Errorf("claim job: %w", err)
	}
	w.metrics.claims.WithLabelValues("claimed").Inc()
	return true, w.runJob(stop, hard, job, owner, 0, c)
}

// runJob runs one batch of a job claimed under owner, whose lease was last
// taken or renewed leaseAge ago; c, when not nil, ends the run when it
// succeeds.
func (w *Worker) runJob(stop, hard context.Context, job *intake.Job, owner string, leaseAge time.Duration, c *completer) (err error) {
	w.metrics.activeRuns.Inc()
	defer w.metrics.activeRuns.Dec()
	// A panic outside collecting (releasing the job, say) leaves the job
	// leased: its lease expires and the maintenance loop takes it back.
	defer func() {
		if v := recover(); v != nil {
			err = recovered(hard, w.logger, w.metrics.panics, panicLoop, v, "job_id", job.ID)
		}
	}()

	start := time.Now()
	r := &run{
		job:        job,
		owner:      owner,
		label:      w.sourceLabel(job.SourceType),
		collected:  job.Collected,
		checkpoint: job.Checkpoint,
		completer:  c,
	}

	// The run collects under runCtx, which the heartbeat cancels with
	// ErrLeaseLost when the job is taken over or cancelled. The heartbeat
	// starts at its first renewal, a HeartbeatInterval in: a run that ends
	// sooner (most runs of small jobs) costs a timer, not a goroutine.
	runCtx, cancelRun := context.WithCancelCause(hard)
	var hb sync.WaitGroup
	hb.Add(1)
	hbStart := time.AfterFunc(w.cfg.HeartbeatInterval, func() {
		defer hb.Done()
		defer func() {
			if v := recover(); v != nil {
				cancelRun(recovered(runCtx, w.logger, w.metrics.panics, panicHeartbeat, v, "job_id", job.ID))
			}
		}()
		w.heartbeat(runCtx, cancelRun, job.ID, owner, start.Add(-leaseAge))
	})
	collectErr := w.safeCollect(stop, runCtx, r)
	cancelRun(context.Canceled)
	if hbStart.Stop() {
		hb.Done() // it never started
	}
	hb.Wait()
	switch cause := context.Cause(runCtx); {
	case collectErr == nil:
	case isLeaseLost(cause):
		collectErr = cause
	case hard.Err() != nil:
		collectErr = fmt.Errorf("document abandoned, %w: %w", context.Cause(hard), collectErr)
	}

	outcome, err := w.finish(hard, r, collectErr)
	elapsed := time.Since(start)
	w.metrics.runs.WithLabelValues(r.label, outcome).Inc()
	w.metrics.runDuration.WithLabelValues(r.label, outcome).Observe(elapsed.Seconds())

	level := slog.LevelInfo
	switch {
	case err != nil || outcome == outcomeFailed:
		level = slog.LevelError
	case collectErr != nil || outcome == outcomeLeaseLost:
		level = slog.LevelWarn
	}
	logCtx := context.WithoutCancel(hard)
	if !w.logger.Enabled(logCtx, level) {
		return err
	}
	attrs := []slog.Attr{
		slog.String("job_id", job.ID), slog.String("source_type", job.SourceType),
		slog.Int("run", job.Runs), slog.Int("batch", r.batch),
		slog.Int("collected", r.collected), slog.Int("total", r.job.Total),
		slog.String("outcome", outcome), slog.Duration("duration", elapsed),
	}
	if collectErr != nil {
		attrs = append(attrs, slog.String("cause", collectErr.Error()))
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	w.logger.LogAttrs(logCtx, level, "run finished", attrs...)
	return err
}

// finish ends the run in the store according to how collection ended and
// returns the outcome. Its store calls run on a detached context with a
// short timeout, since hard may be cancelled by now.
func (w *Worker) finish(hard context.Context, r *run, collectErr error) (string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(hard), releaseTimeout)
	defer cancel()
	job := r.job

	outcome, err := w.release(ctx, hard, r, collectErr)
	switch {
	case isLeaseLost(err):
		return outcomeLeaseLost, nil
	case err != nil:
		return outcome, err
	}
	switch outcome {
	case outcomeCompleted:
		if !job.CreatedAt.IsZero() {
			w.metrics.completion.WithLabelValues(r.label).Observe(w.cfg.Clock().Sub(job.CreatedAt).Seconds())
		}
	case outcomePending, outcomeDrained:
		if err := w.disp.Notify(ctx, job.ID); err != nil {
			w.logger.Warn("notify pending job", "job_id", job.ID, "err", err)
		}
	}
	return outcome, nil
}

// release makes the one store call that ends the run and returns the
// intended outcome with that call's error.
func (w *Worker) release(ctx, hard context.Context, r *run, collectErr error) (string, error) {
	job, owner := r.job, r.owner
	var retryAfter *intake.RetryAfterError
	switch {
	case collectErr == nil:
		outcome := outcomePending
		if r.done {
			outcome = outcomeCompleted
		} else if r.drained {
			outcome = outcomeDrained
		}
		if err := w.finishRun(ctx, r); err != nil {
			return outcome, fmt.Errorf("finish run of job %s: %w", job.ID, err)
		}
		return outcome, nil
	case isLeaseLost(collectErr):
		return outcomeLeaseLost, collectErr
	case hard.Err() != nil:
		// ShutdownGrace elapsed: the document in flight was abandoned.
		if err := w.store.FinishRun(ctx, job.ID, owner, false); err != nil {
			return outcomeDrained, fmt.Errorf("release drained job %s: %w", job.ID, err)
		}
		return outcomeDrained, nil
	case errors.As(collectErr, &retryAfter) && retryAfter.After > w.cfg.MaxRetryAfter:
		msg := fmt.Sprintf("the source asks to wait %s, longer than INTAKE_MAX_RETRY_AFTER (%s): %s",
			retryAfter.After, w.cfg.MaxRetryAfter, lastError(collectErr))
		if err := w.store.Fail(ctx, job.ID, owner, msg); err != nil {
			return outcomeFailed, fmt.Errorf("fail job %s: %w", job.ID, err)
		}
		return outcomeFailed, nil
	case errors.As(collectErr, &retryAfter) && (r.collected > job.Collected || job.Attempts+1 < w.cfg.MaxAttempts):
		// Waiting is not failing while the source lets documents through;
		// a run that collected nothing counts as an attempt, so that a
		// source that only ever says "later" fails the job in the end.
		noProgress := r.collected == job.Collected
		at := w.cfg.Clock().Add(max(0, retryAfter.After))
		if err := w.store.Reschedule(ctx, job.ID, owner, at, lastError(collectErr), noProgress); err != nil {
			return outcomeScheduled, fmt.Errorf("reschedule job %s: %w", job.ID, err)
		}
		return outcomeScheduled, nil
	case intake.IsPermanent(collectErr):
		if err := w.store.Fail(ctx, job.ID, owner, lastError(collectErr)); err != nil {
			return outcomeFailed, fmt.Errorf("fail job %s: %w", job.ID, err)
		}
		return outcomeFailed, nil
	case job.Attempts+1 >= w.cfg.MaxAttempts:
		msg := fmt.Sprintf("giving up after %d attempts: %s", job.Attempts+1, lastError(collectErr))
		if err := w.store.Fail(ctx, job.ID, owner, msg); err != nil {
			return outcomeFailed, fmt.Errorf("fail job %s: %w", job.ID, err)
		}
		return outcomeFailed, nil
	default:
		at := w.cfg.Clock().Add(w.backoff(job.Attempts))
		if err := w.store.Reschedule(ctx, job.ID, owner, at, lastError(collectErr), true); err != nil {
			return outcomeScheduled, fmt.Errorf("reschedule job %s: %w", job.ID, err)
		}
		return outcomeScheduled, nil
	}
}

// finishRun ends a successful run, with its plan when the finish records
// it: through the pool's completer, in a batch with other runs; or alone,
// with FinishRuns when the store has it.
func (w *Worker) finishRun(ctx context.Context, r *run) error {
	p := intake.FinishParams{JobID: r.job.ID, Owner: r.owner, Done: r.done, Plan: r.plan}
	switch {
	case r.completer != nil:
		return r.completer.finish(ctx, p)
	case w.finisher != nil:
		return w.finisher.FinishRuns(ctx, []intake.FinishParams{p})[0]
	default:
		return w.store.FinishRun(ctx, r.job.ID, r.owner, r.done)
	}
}

// heartbeat renews the lease at once and then every HeartbeatInterval
// until ctx is done (runJob starts it one interval into the run). It
// cancels the run with ErrLeaseLost when the store says the lease is gone,
// or when no renewal has succeeded for a whole LeaseTTL since renewed (the
// claim, or the last renewal of a prefetched job).
func (w *Worker) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, jobID, owner string, renewed time.Time) {
	t := time.NewTicker(w.cfg.HeartbeatInterval)
	defer t.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			return
		}
		err := w.store.Heartbeat(ctx, jobID, owner, w.cfg.LeaseTTL)
		switch {
		case err == nil:
			renewed = time.Now()
		case isLeaseLost(err):
			cancel(intake.ErrLeaseLost)
			return
		case ctx.Err() != nil:
			return
		default:
			w.logger.Warn("heartbeat", "job_id", jobID, "err", err)
			if time.Since(renewed) >= w.cfg.LeaseTTL {
				cancel(intake.WrapError(intake.ELEASELOST, err, "lease not renewed for %s", w.cfg.LeaseTTL))
				return
			}
		}
	}
}

// backoff returns the wait before retrying a job that has failed attempts
// times before: full jitter over min(BackoffMax, BackoffBase×2^attempts).
func (w *Worker) backoff(attempts int) time.Duration {
	ceiling := w.cfg.BackoffMax
	if attempts < 62 {
		if d := w.cfg.BackoffBase << attempts; d > 0 && d>>attempts == w.cfg.BackoffBase && d < ceiling {
			ceiling = d
		}
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling + 1) //nolint:gosec // jitter needs no cryptographic randomness
}

// countDocError counts a failed step of a run by kind, unless the run was
// cancelled (lease lost, grace elapsed) and err is only the echo of that.
func (w *Worker) countDocError(ctx context.Context, r *run, err error, kind string) {
	if ctx.Err() != nil || isLeaseLost(err) {
		return
	}
	var retryAfter *intake.RetryAfterError
	switch {
	case errors.As(err, &retryAfter):
		kind = kindRetryAfter
	case err != nil && intake.IsPermanent(err):
		kind = kindPermanent
	}
	w.metrics.docErrors.WithLabelValues(r.label, kind).Inc()
}

// sourceLabel bounds the source_type label to the registered types.
func (w *Worker) sourceLabel(sourceType string) string {
	if _, ok := w.sources[sourceType]; ok {
		return sourceType
	}
	return "unknown"
}

// newOwner returns a lease owner unique to one run: the identity and a
// random suffix, only [A-Za-z0-9._-] since it appears in blob keys.
func (w *Worker) newOwner() string {
	var b [8]byte
	_, _ = crand.Read(b[:]) // never fails since Go 1.24
	return w.cfg.Identity + "-" + hex.EncodeToString(b[:])
}

// sanitizeIdentity maps an identity to at most 63 characters (a
// Kubernetes pod name) of
// [A-Za-z0-9._-] that start with a letter or digit.
func sanitizeIdentity(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '-'
	}, s)
	s = strings.TrimLeft(s, "._-")
	if len(s) > 63 {
		s = s[:63]
	}
	if s == "" {
		return "worker"
	}
	return s
}

func isLeaseLost(err error) bool {
	return err != nil && (errors.Is(err, intake.ErrLeaseLost) || intake.ErrorCode(err) == intake.ELEASELOST)
}

// maxLastError bounds the last_error saved with a job.
const maxLastError = 1000

// lastError is err's text as a job's last_error: bounded, and sanitised
// to valid text, since errors quote what sources received.
func lastError(err error) string {
	s := err.Error()
	if len(s) <= maxLastError {
		return intake.SanitizeText(s)
	}
	return intake.SanitizeText(strings.ToValidUTF8(s[:maxLastError], "")) + "…"
}

// batchSize is the number of documents this run collects. A source of
// unknown size that knows an upper bound (intake.Bounded, e.g. the api
// source's max_pages) gets the configured fraction of that bound per run,
// so that a job still takes a predictable number of runs; others get
// Config.UnknownBatch.
func (w *Worker) batchSize(r *run) int {
	if r.job.Total == intake.TotalUnknown {
		if b, ok := r.source.(intake.Bounded); ok {
			if bound := b.MaxDocuments(r.job.Config); bound > 0 {
				return max(1, intake.BatchSize(bound, min(r.collected, bound-1), w.cfg.BatchFraction, w.cfg.UnknownBatch))
			}
		}
	}
	return intake.BatchSize(r.job.Total, r.collected, w.cfg.BatchFraction, w.cfg.UnknownBatch)
}
