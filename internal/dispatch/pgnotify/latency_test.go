package pgnotify_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

// BenchmarkPickupLatency measures the time from Notify on one Dispatcher to
// Wait returning on another, as between an API process and a worker
// process. It reports the mean as ns/op, and the median and 99th
// percentile:
//
//	INTAKE_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench PickupLatency -benchtime 500x ./internal/dispatch/pgnotify/
func BenchmarkPickupLatency(b *testing.B) {
	b.Run("pgnotify/two-processes", func(b *testing.B) {
		tb := setup(b)
		measurePickup(b, tb.open(b), tb.open(b))
	})
}

// measurePickup runs b.N pickups: a Wait starts on waiter, settles, and
// notifier notifies; the latency is from Notify's start to Wait's return.
func measurePickup(b *testing.B, notifier, waiter intake.Dispatcher) {
	b.Helper()
	const (
		settle  = 2 * time.Millisecond // for the Wait to block
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
