package redisstream_test

import (
	"testing"

	"github.com/intake-dev/intake/internal/dispatch/dispatchtest"
	"github.com/intake-dev/intake/internal/dispatch/poll"
	"github.com/intake-dev/intake/internal/dispatch/redisstream"
)

// BenchmarkPickupLatency measures the time from Notify on one Dispatcher to
// Wait returning on another, as between an API process and a worker
// process; polling can only carry a notification within one process. It
// reports the mean as ns/op, and the median and 99th percentile:
//
//	INTAKE_TEST_REDIS_URL=redis://127.0.0.1:6379/0 \
//	  go test -run '^$' -bench PickupLatency -benchtime 500x ./internal/dispatch/redisstream/
func BenchmarkPickupLatency(b *testing.B) {
	b.Run("poll/one-process", func(b *testing.B) {
		d := poll.New()
		defer d.Close()
		dispatchtest.MeasurePickup(b, d, d)
	})
	b.Run("redisstream/two-processes", func(b *testing.B) {
		tb := setup(b)
		notifier := tb.open(b, redisstream.Config{})
		waiter := tb.open(b, redisstream.Config{})
		dispatchtest.MeasurePickup(b, notifier, waiter)
	})
}
