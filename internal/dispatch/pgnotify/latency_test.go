package pgnotify_test

import (
	"testing"

	"github.com/intake-dev/intake/internal/dispatch/dispatchtest"
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
		dispatchtest.MeasurePickup(b, tb.open(b), tb.open(b))
	})
}
