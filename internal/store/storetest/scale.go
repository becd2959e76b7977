package storetest

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store/driver"
)

// ScaleRows returns INTAKE_TEST_SCALE_ROWS, the number of jobs the drivers'
// TestScalePlans load: 20,000 when it is unset, so that CI stays fast; a
// million for the figures of docs/PERFORMANCE.md.
func ScaleRows(t testing.TB) int {
	t.Helper()
	v := os.Getenv("INTAKE_TEST_SCALE_ROWS")
	if v == "" {
		return 20_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 100 {
		t.Fatalf("INTAKE_TEST_SCALE_ROWS=%q is not a number of at least 100", v)
	}
	return n
}

// Median returns the median time of n calls of call; a failed call fails
// the test. It is for logging figures, never for asserting on them.
func Median(t testing.TB, n int, call func(context.Context) error) time.Duration {
	t.Helper()
	times := make([]time.Duration, n)
	for i := range times {
		start := time.Now()
		if err := call(t.Context()); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		times[i] = time.Since(start)
	}
	slices.Sort(times)
	return times[n/2].Round(time.Microsecond)
}

// ScrapeReads returns the reads of d that a scrape of the API makes once
// its caches have expired: Stats (the queue gauges), RunStats (the run
// records), ScheduleHealth and a page of ListSchedules (the schedule
// gauges), one after another.
func ScrapeReads(d driver.Driver, p intake.RunStatsParams) func(context.Context) error {
	return func(ctx context.Context) error {
		if _, err := d.Stats(ctx); err != nil {
			return err
		}
		if _, err := d.RunStats(ctx, p); err != nil {
			return err
		}
		if _, err := d.ScheduleHealth(ctx); err != nil {
			return err
		}
		_, err := d.ListSchedules(ctx, "", intake.MaxPageSize+1)
		return err
	}
}
