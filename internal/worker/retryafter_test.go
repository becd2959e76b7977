package worker

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

// TestRetryAfterIsBounded answers every request of a job with a 429 and a
// long Retry-After. A put-back that collected nothing counts as an attempt,
// so the job fails after MaxAttempts runs instead of being rescheduled
// forever; a Retry-After beyond MaxRetryAfter fails it at once.
func TestRetryAfterIsBounded(t *testing.T) {
	t.Parallel()
	throttled := &intake.RetryAfterError{After: time.Hour, Err: errors.New("HTTP 429 Too Many Requests")}

	t.Run("no progress", func(t *testing.T) {
		t.Parallel()
		b := newBundle(t)
		w, _ := b.worker(t, Config{MaxAttempts: 3}, nil, failAt(1, throttled))
		m := b.maintainer(t, MaintainerConfig{})
		job := b.createJob(t, "seq", seqJob(10))
		runs := 0
		for ; runs < 20 && b.job(t, job.ID).Status != intake.StatusFailed; runs++ {
			runOnce(t, w, job.ID)
			b.clock.Advance(2 * time.Hour)
			if err := m.RunOnce(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		got := b.job(t, job.ID)
		wantStatus(t, got, intake.StatusFailed)
		if runs != 3 || !strings.Contains(got.LastError, "HTTP 429") {
			t.Errorf("failed after %d runs with %q, want 3 runs and the 429", runs, got.LastError)
		}
	})

	t.Run("progress keeps it going", func(t *testing.T) {
		t.Parallel()
		b := newBundle(t)
		// Every run collects one document and is then throttled.
		calls := 0
		src := &seqSource{}
		src.before = func(_ context.Context, _ int) error {
			calls++
			if calls%2 == 0 {
				return throttled
			}
			return nil
		}
		w, _ := b.worker(t, Config{MaxAttempts: 2}, nil, src)
		m := b.maintainer(t, MaintainerConfig{})
		job := b.createJob(t, "seq", seqJob(6))
		for range 12 {
			if b.job(t, job.ID).Status == intake.StatusCompleted {
				break
			}
			runOnce(t, w, job.ID)
			b.clock.Advance(2 * time.Hour)
			if err := m.RunOnce(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		wantStatus(t, b.job(t, job.ID), intake.StatusCompleted)
	})

	t.Run("too long a wait", func(t *testing.T) {
		t.Parallel()
		b := newBundle(t)
		week := &intake.RetryAfterError{After: 7 * 24 * time.Hour, Err: errors.New("HTTP 429 Too Many Requests")}
		w, _ := b.worker(t, Config{MaxRetryAfter: 24 * time.Hour}, nil, failAt(1, week))
		job := b.createJob(t, "seq", seqJob(10))
		runOnce(t, w, job.ID)
		got := b.job(t, job.ID)
		wantStatus(t, got, intake.StatusFailed)
		if !strings.Contains(got.LastError, "INTAKE_MAX_RETRY_AFTER") {
			t.Errorf("last error %q, want it to name INTAKE_MAX_RETRY_AFTER", got.LastError)
		}
	})
}
