// Package dispatchtest is the conformance suite for intake.Dispatcher.
// Every implementation runs it from its own tests against a real backend:
//
//	func TestConformance(t *testing.T) {
//		dispatchtest.Run(t, func(t *testing.T) intake.Dispatcher { return poll.New() })
//	}
//
// open must return a dispatcher that no other test notifies; the suite
// closes it. Notifications are hints that may be lost (one sent before a
// waiter started waiting, say), so the suite keeps notifying until the
// waiters it watches wake up, and only asserts that they wake well before
// their timeout.
package dispatchtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

const (
	// longWait is the timeout of waiters that a notification must wake.
	longWait = 10 * time.Second
	// giveUp bounds how long the suite keeps notifying: well before longWait.
	giveUp = 5 * time.Second
)

// Run runs the conformance suite against dispatchers made by open.
func Run(t *testing.T, open func(t *testing.T) intake.Dispatcher) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, intake.Dispatcher)
	}{
		{"Timeout", testTimeout},
		{"NotifyWakesWaiter", testNotifyWakesWaiter},
		{"NotifyWakesSeveralWaiters", testSeveralWaiters},
		{"ContextDone", testContextDone},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := open(t)
			t.Cleanup(func() {
				if err := d.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, d)
		})
	}
	t.Run("AfterClose", func(t *testing.T) {
		t.Parallel()
		testAfterClose(t, open(t))
	})
}

func testTimeout(t *testing.T, d intake.Dispatcher) {
	const timeout = 100 * time.Millisecond
	start := time.Now()
	if err := d.Wait(t.Context(), timeout); err != nil {
		t.Fatalf("Wait with nothing announced = %v, want nil", err)
	}
	if elapsed := time.Since(start); elapsed < timeout {
		t.Errorf("Wait with nothing announced returned after %v, before its timeout %v", elapsed, timeout)
	}
}

func testNotifyWakesWaiter(t *testing.T, d intake.Dispatcher) {
	done := waitAsync(t.Context(), d, longWait)
	for i, err := range notifyUntil(t, d, done, 1) {
		if err != nil {
			t.Errorf("waiter %d: Wait = %v, want nil", i, err)
		}
	}
}

func testSeveralWaiters(t *testing.T, d intake.Dispatcher) {
	const waiters = 5
	done := make(chan error, waiters)
	for range waiters {
		go func() { done <- d.Wait(t.Context(), longWait) }()
	}
	for i, err := range notifyUntil(t, d, done, waiters) {
		if err != nil {
			t.Errorf("waiter %d: Wait = %v, want nil", i, err)
		}
	}
}

func testContextDone(t *testing.T, d intake.Dispatcher) {
	tests := []struct {
		name string
		ctx  func() context.Context
		want error
	}{
		{"already cancelled", func() context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx
		}, context.Canceled},
		{"deadline while waiting", func() context.Context {
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}, context.DeadlineExceeded},
		{"cancelled while waiting", func() context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx
		}, context.Canceled},
	}
	for _, tt := range tests {
		select {
		case err := <-waitAsync(tt.ctx(), d, longWait):
			if !errors.Is(err, tt.want) {
				t.Errorf("%s: Wait = %v, want %v", tt.name, err, tt.want)
			}
		case <-time.After(giveUp):
			t.Fatalf("%s: Wait still blocked %v after its context ended", tt.name, giveUp)
		}
	}
}

// testConcurrent notifies and waits from many goroutines at once, for the
// race detector.
func testConcurrent(t *testing.T, d intake.Dispatcher) {
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 25 {
				if err := d.Notify(t.Context(), fmt.Sprintf("job-%d-%d", i, j)); err != nil {
					t.Errorf("Notify: %v", err)
					return
				}
			}
		})
		wg.Go(func() {
			for range 25 {
				if err := d.Wait(t.Context(), time.Millisecond); err != nil {
					t.Errorf("Wait: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := d.Notify(t.Context(), "a", "b", "c"); err != nil {
		t.Errorf("Notify of several jobs: %v", err)
	}
}

// testAfterClose checks that calls after Close return rather than panic or
// hang; what they return is up to the implementation.
func testAfterClose(t *testing.T, d intake.Dispatcher) {
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Notify(t.Context(), "job-after-close")
		_ = d.Wait(t.Context(), 50*time.Millisecond)
	}()
	select {
	case <-done:
	case <-time.After(giveUp):
		t.Fatalf("Notify or Wait after Close still blocked after %v", giveUp)
	}
}

func waitAsync(ctx context.Context, d intake.Dispatcher, timeout time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() { done <- d.Wait(ctx, timeout) }()
	return done
}

// notifyUntil notifies every 10ms until n waiters have reported on done and
// returns their results. It fails the test if they are not all back within
// giveUp, which is well before their own timeout.
func notifyUntil(t *testing.T, d intake.Dispatcher, done <-chan error, n int) []error {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(giveUp)
	var errs []error
	for len(errs) < n {
		if err := d.Notify(t.Context(), "job-1"); err != nil {
			t.Fatalf("Notify: %v", err)
		}
		select {
		case err := <-done:
			errs = append(errs, err)
		case <-tick.C:
		case <-timeout:
			t.Fatalf("%d of %d waiters still blocked %v after the first Notify (their timeout is %v)", n-len(errs), n, giveUp, longWait)
		}
	}
	return errs
}
