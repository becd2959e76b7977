package dispatchtest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

// MeasurePickup runs b.N pickups: a Wait starts on waiter, settles, and
// notifier notifies; the latency is from Notify's start to Wait's return.
// Pass two Dispatchers on one backend to measure what an API process and a
// worker process see. It reports the mean as ns/op, and the median and
// 99th percentile as p50-ns and p99-ns.
func MeasurePickup(b *testing.B, notifier, waiter intake.Dispatcher) {
	b.Helper()
	const (
		settle  = 2 * time.Millisecond // for the Wait to block on the backend
		timeout = 5 * time.Second
	)
	ctx := b.Context()
	latencies := make([]time.Duration, 0, b.N)
	for i := range b.N {
		done := make(chan time.Time, 1)
		go func() {
			if err := waiter.Wait(ctx, timeout); err != nil {
				b.Errorf("Wait: %v", err)
			}
			done <- time.Now()
		}()
		time.Sleep(settle)
		start := time.Now()
		if err := notifier.Notify(ctx, fmt.Sprintf("job-%d", i)); err != nil {
			b.Fatalf("Notify: %v", err)
		}
		latency := (<-done).Sub(start)
		if latency >= timeout/2 {
			b.Fatalf("pickup %d took %v: the notification was lost", i, latency)
		}
		latencies = append(latencies, latency)
	}
	slices.Sort(latencies)
	var sum time.Duration
	for _, l := range latencies {
		sum += l
	}
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(latencies)), "ns/op")
	b.ReportMetric(float64(latencies[len(latencies)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Nanoseconds()), "p99-ns")
}

// NotifyUntil notifies d every 20 ms until done delivers the result of a
// Wait, which must be nil, and fails the test if that takes 5 s. Repeating
// the notification tolerates the race between a Wait starting to block and
// the first Notify, which a dispatcher may lose by design.
func NotifyUntil(t *testing.T, d intake.Dispatcher, done <-chan error) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	stop := time.After(giveUp)
	for {
		if err := d.Notify(t.Context(), "job-1"); err != nil {
			t.Fatalf("Notify: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Wait = %v, want nil", err)
			}
			return
		case <-tick.C:
		case <-stop:
			t.Fatalf("the waiter is still blocked %v after notifications began", giveUp)
		}
	}
}
