package poll_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/intake-dev/intake/internal/dispatch/poll"
)

// TestBroadcast checks, on synctest's fake clock, that one Notify wakes
// every waiter at once and that a notification is not remembered for
// waiters that come later.
func TestBroadcast(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		d := poll.New()
		defer d.Close()

		const waiters = 5
		type result struct {
			err   error
			after time.Duration
		}
		start := time.Now()
		woken := make(chan result, waiters)
		for range waiters {
			go func() {
				err := d.Wait(ctx, time.Hour)
				woken <- result{err, time.Since(start)}
			}()
		}
		synctest.Wait() // every waiter is blocked
		if err := d.Notify(ctx, "job"); err != nil {
			t.Fatalf("Notify: %v", err)
		}
		synctest.Wait()
		if got := len(woken); got != waiters {
			t.Fatalf("one Notify woke %d of %d waiters", got, waiters)
		}
		for range waiters {
			if r := <-woken; r.err != nil || r.after != 0 {
				t.Errorf("a waiter returned %v after %v of fake time, want nil at once", r.err, r.after)
			}
		}

		// A notification is not remembered for later waiters, and one
		// without IDs or after Close wakes nobody. Close comes last: it is
		// for good.
		tests := []struct {
			name           string
			before, during func()
		}{
			{"notified before Wait", func() { _ = d.Notify(ctx, "job") }, func() {}},
			{"no job IDs", func() {}, func() { _ = d.Notify(ctx) }},
			{"after Close", func() { _ = d.Close() }, func() { _ = d.Notify(ctx, "job") }},
		}
		for _, tt := range tests {
			tt.before()
			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- d.Wait(ctx, time.Minute) }()
			synctest.Wait()
			tt.during()
			if err := <-done; err != nil {
				t.Errorf("%s: Wait = %v", tt.name, err)
			}
			if waited := time.Since(start); waited != time.Minute {
				t.Errorf("%s: Wait returned after %v, want its full timeout %v", tt.name, waited, time.Minute)
			}
		}

		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if err := d.Wait(cancelled, 0); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait with a cancelled context and no timeout = %v, want context.Canceled", err)
		}
	})
}
