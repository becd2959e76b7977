// Package dispatchtest is the conformance suite for intake.Dispatcher.
// Every implementation runs it from its own tests against a real backend,
// through a Harness:
//
//	func TestConformance(t *testing.T) {
//		dispatchtest.Run(t, func(t *testing.T) *dispatchtest.Harness {
//			return &dispatchtest.Harness{
//				Open:   func(*testing.T, *slog.Logger) intake.Dispatcher { return poll.New() },
//				Fanout: dispatchtest.Broadcast,
//				Local:  true,
//			}
//		})
//	}
//
// An implementation that talks to a server gets its Harness from
// ThroughProxy, which puts a Proxy between it and the server:
//
//	return dispatchtest.ThroughProxy(t, serverURL, "user", dispatchtest.OnePerJob,
//		func(t *testing.T, url string, logger *slog.Logger) (intake.Dispatcher, error) {
//			return redisstream.Open(t.Context(), redisstream.Config{URL: url, Stream: stream, Logger: logger})
//		})
//
// The suite checks the contract that intake.Dispatcher documents: waking
// and timing out, the fan-out rule the harness declares, and, for
// implementations that talk to a server, its outages (through the
// harness's Break). Notifications are hints that may be lost (one sent
// before a waiter started waiting, say), so the suite keeps notifying
// until the waiters it watches wake up, and only asserts that they wake
// well before their timeout.
package dispatchtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/testenv"
)

const (
	// longWait is the timeout of waiters that a notification must wake.
	longWait = 10 * time.Second
	// giveUp bounds how long the suite keeps notifying: well before longWait.
	giveUp = 5 * time.Second
	// settle is how long the suite lets waiters start blocking before a
	// single notification that they must all see.
	settle = 100 * time.Millisecond
)

// Fanout is an implementation's rule for how many waiters one
// notification wakes (see intake.Dispatcher).
type Fanout int

const (
	// Broadcast: a notification wakes every waiter blocked in Wait when it
	// arrives, in every process that shares the backend.
	Broadcast Fanout = iota + 1
	// OnePerJob: each job ID of a notification wakes exactly one waiter
	// across all processes, and waits for one when none is blocked.
	OnePerJob
)

// String returns the rule's name.
func (f Fanout) String() string {
	switch f {
	case Broadcast:
		return "Broadcast"
	case OnePerJob:
		return "OnePerJob"
	}
	return fmt.Sprintf("Fanout(%d)", int(f))
}

// Harness is one test's backend, made by the implementation's test.
type Harness struct {
	// Open opens a Dispatcher that logs to logger (nil discards). The
	// Dispatchers that one Harness opens share a backend (a channel, a
	// stream) that no other test uses, as the processes of one deployment
	// do. The suite closes them.
	Open func(t *testing.T, logger *slog.Logger) intake.Dispatcher
	// Fanout is the implementation's fan-out rule.
	Fanout Fanout
	// Local declares an implementation without a server: notifications
	// never leave the Dispatcher they were sent on, and there is no
	// outage to survive. The suite skips the cases across processes and
	// the outage cases, saying why; Break and Dials are then unused.
	Local bool
	// Break takes the server away from every Dispatcher the harness has
	// opened or opens (connections reset, new ones refused) until restore
	// is called. Proxy.Break does this.
	Break func() (restore func())
	// Dials returns how many connections the harness's Dispatchers have
	// opened to the server, for checking that they back off in an outage.
	// Proxy.Dials counts them.
	Dials func() int64
	// Secret is the password in the URL that Open uses (the test server
	// may ignore it): no log line and no error may contain it. Empty when
	// the server takes none.
	Secret string
}

// Run runs the conformance suite against the harnesses that newHarness
// makes, one per test.
func Run(t *testing.T, newHarness func(t *testing.T) *Harness) {
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
			tt.fn(t, open(t, newHarness(t), nil))
		})
	}
	t.Run("AfterClose", func(t *testing.T) {
		t.Parallel()
		testAfterClose(t, newHarness(t).Open(t, nil))
	})
	t.Run("Fanout", func(t *testing.T) {
		t.Parallel()
		testFanout(t, newHarness(t))
	})
	for _, tt := range []struct {
		name       string
		downAtOpen bool
	}{
		{"OutageAtOpen", true},
		{"OutageWhileWaiting", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if h.Local {
				t.Skip("the harness declares a local implementation (Local): it has no server to lose")
			}
			if h.Break == nil || h.Dials == nil {
				t.Fatal("harness bug: an implementation with a server needs Break and Dials")
			}
			testOutage(t, h, tt.downAtOpen)
		})
	}
}

// open opens a Dispatcher of h that the test closes at cleanup.
func open(t *testing.T, h *Harness, logger *slog.Logger) intake.Dispatcher {
	t.Helper()
	d := h.Open(t, logger)
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
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
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// testFanout sends one notification of two jobs to waiters blocked on
// several Dispatchers (on the notifying one only, for a local
// implementation) and counts those it wakes: all of them under Broadcast,
// one per job under OnePerJob, the others sleeping out their timeout.
func testFanout(t *testing.T, h *Harness) {
	if h.Fanout != Broadcast && h.Fanout != OnePerJob {
		t.Fatalf("harness bug: Fanout is %v, want Broadcast or OnePerJob", h.Fanout)
	}
	notifier := open(t, h, nil)
	waitOn := []intake.Dispatcher{notifier}
	if h.Local {
		t.Log("the harness declares a local implementation (Local): all waiters wait on the notifying Dispatcher")
	} else {
		waitOn = []intake.Dispatcher{open(t, h, nil), open(t, h, nil)} // two other processes
	}
	const perDispatcher, timeout = 3, 3 * time.Second
	jobs := []string{"job-1", "job-2"}
	type result struct {
		err   error
		woken bool
	}
	results := make(chan result, perDispatcher*len(waitOn))
	for _, d := range waitOn {
		for range perDispatcher {
			go func() {
				start := time.Now()
				err := d.Wait(t.Context(), timeout)
				results <- result{err, time.Since(start) < timeout}
			}()
		}
	}
	time.Sleep(settle) // a notification sent before a Wait starts is not remembered
	if err := notifier.Notify(t.Context(), jobs...); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	woken := 0
	for range cap(results) {
		r := <-results
		if r.err != nil {
			t.Errorf("Wait = %v, want nil", r.err)
		}
		if r.woken {
			woken++
		}
	}
	want := cap(results)
	if h.Fanout == OnePerJob {
		want = len(jobs)
	}
	if woken != want {
		t.Errorf("one notification of %d jobs woke %d of %d waiters on %d Dispatcher(s), want %d (fan-out rule %v)",
			len(jobs), woken, cap(results), len(waitOn), want, h.Fanout)
	}
}

// testOutage takes the server away from a notifying and a waiting
// Dispatcher, before Open or while the waiter waits, and gives it back:
// while it is gone Open succeeds, Wait sleeps out its timeout without
// error, the Dispatchers back off instead of hammering the server,
// Notify fails fast with EUNAVAILABLE, each Dispatcher logs one warning,
// and no log or error shows the password; once it is back, notifications
// wake waiters again and the recovery is logged.
func testOutage(t *testing.T, h *Harness, downAtOpen bool) {
	notifierLogs, waiterLogs := &testenv.Buffer{}, &testenv.Buffer{}
	var restore func()
	if downAtOpen {
		restore = h.Break()
	}
	notifier, waiter := open(t, h, notifierLogs.Logger()), open(t, h, waiterLogs.Logger())
	var blocked <-chan error // a Wait blocked when the server goes away
	const blockedTimeout = 2 * time.Second
	if !downAtOpen {
		NotifyUntil(t, notifier, waitAsync(t.Context(), waiter, longWait))
		blocked = waitAsync(t.Context(), waiter, blockedTimeout)
		time.Sleep(settle)
		restore = h.Break()
	}

	const waits, timeout = 10, 150 * time.Millisecond
	dials, start := h.Dials(), time.Now()
	for i := range waits {
		begin := time.Now()
		if err := waiter.Wait(t.Context(), timeout); err != nil {
			t.Fatalf("Wait %d with the server gone = %v, want nil", i, err)
		}
		if elapsed := time.Since(begin); elapsed < timeout {
			t.Fatalf("Wait %d with the server gone returned after %v, before its timeout %v: a worker loop would spin", i, elapsed, timeout)
		}
	}
	// Two Dispatchers, each trying the server again after 250 ms, then
	// 500 ms, 1 s…, with up to two connections per attempt (a retry).
	elapsed := time.Since(start)
	t.Logf("%d Waits of %v with the server gone: %d connections opened", waits, timeout, h.Dials()-dials)
	attempts := 1 + int64(math.Log2(1+float64(elapsed)/float64(250*time.Millisecond)))
	if n, most := h.Dials()-dials, 2*2*attempts; n > most {
		t.Errorf("the Dispatchers opened %d connections in %v of outage, want at most %d (backing off)", n, elapsed, most)
	}
	for i := range 2 {
		begin := time.Now()
		err := notifier.Notify(t.Context(), "job-1")
		if code := intake.ErrorCode(err); code != intake.EUNAVAILABLE {
			t.Errorf("Notify %d with the server gone = %v, want code %s", i, err, intake.EUNAVAILABLE)
		}
		if elapsed := time.Since(begin); elapsed > 3*time.Second {
			t.Errorf("Notify %d with the server gone took %v, want it to fail fast", i, elapsed)
		}
		noSecret(t, h, "Notify's error", fmt.Sprint(err))
	}
	if blocked != nil {
		// It returns nil, at once or at its timeout: the implementation's
		// choice.
		select {
		case err := <-blocked:
			if err != nil {
				t.Errorf("the Wait blocked when the server went away = %v, want nil", err)
			}
		case <-time.After(blockedTimeout + giveUp):
			t.Errorf("the Wait blocked when the server went away is still blocked %v after its timeout", giveUp)
		}
	}
	if n := strings.Count(waiterLogs.String(), "level=WARN"); n != 1 {
		t.Errorf("the waiting Dispatcher logged %d warnings about the outage, want 1:\n%s", n, waiterLogs)
	}
	if n := strings.Count(notifierLogs.String(), "level=WARN"); n > 1 {
		t.Errorf("the notifying Dispatcher logged %d warnings about the outage, want at most 1:\n%s", n, notifierLogs)
	}

	restore()
	wakeAfterOutage(t, notifier, waiter)
	if logs := waiterLogs.String(); !strings.Contains(logs[max(strings.LastIndex(logs, "level=WARN"), 0):], "level=INFO") {
		t.Errorf("the waiting Dispatcher logged no recovery after its warning:\n%s", logs)
	}
	noSecret(t, h, "the logs", notifierLogs.String()+waiterLogs.String())
}

// wakeAfterOutage waits until notifications on notifier wake a waiter on
// waiter again. A Dispatcher may still be backing off when the server
// comes back, and a Wait that started then may sleep out its timeout, so
// it tries Wait after Wait, notifying all the while and accepting
// EUNAVAILABLE, and fails if none is woken within the longest backoff and
// giveUp after.
func wakeAfterOutage(t *testing.T, notifier, waiter intake.Dispatcher) {
	t.Helper()
	const timeout = time.Second
	deadline := time.Now().Add(10*time.Second + giveUp)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		start := time.Now()
		done := waitAsync(t.Context(), waiter, timeout)
		for waiting := true; waiting; {
			if err := notifier.Notify(t.Context(), "job-1"); err != nil && intake.ErrorCode(err) != intake.EUNAVAILABLE {
				t.Fatalf("Notify after the server came back = %v", err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Wait after the server came back = %v, want nil", err)
				}
				if time.Since(start) < timeout {
					return // woken
				}
				waiting = false
			case <-tick.C:
			}
		}
	}
	t.Fatal("no notification woke a waiter after the server came back")
}

func noSecret(t *testing.T, h *Harness, what, s string) {
	t.Helper()
	if h.Secret != "" && strings.Contains(s, h.Secret) {
		t.Errorf("%s contain the password:\n%s", what, s)
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

// WantInvalid fails the test unless err, which an Open returned with d,
// is an EINVALID error whose text does not contain secret. When err is
// nil it closes d.
func WantInvalid(t *testing.T, d intake.Dispatcher, err error, secret string) {
	t.Helper()
	if err == nil {
		_ = d.Close()
		t.Fatal("Open succeeded, want an EINVALID error")
	}
	if code := intake.ErrorCode(err); code != intake.EINVALID {
		t.Errorf("Open = %v (code %q), want code %q", err, code, intake.EINVALID)
	}
	if secret != "" && strings.Contains(err.Error(), secret) {
		t.Errorf("Open's error %q contains the password", err)
	}
}
