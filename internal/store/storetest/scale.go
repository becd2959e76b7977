package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store/driver"
	"github.com/intake-dev/intake/internal/testenv"
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

// WantCounted fails the test unless d's Stats, and its RunStats in p,
// equal scanStats and scanRunStats, which count every job, run and
// document: the drivers' scale tests check with it that the counts their
// triggers keep (and their migration fills) are exact, whatever the load.
func WantCounted(t testing.TB, what string, d driver.Driver, p intake.RunStatsParams,
	scanStats func(context.Context) (*intake.Stats, error),
	scanRunStats func(context.Context, intake.RunStatsParams) (*intake.RunStats, error)) {
	t.Helper()
	ctx := t.Context()
	got, err := d.Stats(ctx)
	if err != nil {
		t.Fatalf("%s: Stats: %v", what, err)
	}
	want, err := scanStats(ctx)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for _, s := range intake.Statuses {
		if got.Jobs[s] != want.Jobs[s] {
			t.Errorf("%s: Stats counts %d %s jobs, a scan %d", what, got.Jobs[s], s, want.Jobs[s])
		}
	}
	if got.Documents != want.Documents || got.Bytes != want.Bytes || !got.OldestPending.Equal(want.OldestPending) {
		t.Errorf("%s: Stats = %d documents, %d bytes, oldest pending %v; a scan: %d, %d, %v", what,
			got.Documents, got.Bytes, got.OldestPending, want.Documents, want.Bytes, want.OldestPending)
	}
	gotRuns, err := d.RunStats(ctx, p)
	if err != nil {
		t.Fatalf("%s: RunStats: %v", what, err)
	}
	wantRuns, err := scanRunStats(ctx, p)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	same := func(name string, g, w intake.Histogram) {
		if g.Count != w.Count || !slices.Equal(g.Buckets, w.Buckets) || math.Abs(g.Sum-w.Sum) > 1e-9*math.Abs(w.Sum)+1e-6 {
			t.Errorf("%s: RunStats %s = %+v, a scan %+v", what, name, g, w)
		}
	}
	for _, o := range intake.RunOutcomes {
		same("runs "+string(o), gotRuns.Runs[o], wantRuns.Runs[o])
	}
	same("completion", gotRuns.Completion, wantRuns.Completion)
	if gotRuns.Documents != wantRuns.Documents {
		t.Errorf("%s: RunStats counts %d documents of ended runs, a scan %d", what, gotRuns.Documents, wantRuns.Documents)
	}
}

// Populate creates n jobs in s and takes most of them through a run that
// a worker ends in one of its ways (finished, done, rescheduled, failed,
// or still open), recording up to two documents in each and advancing
// clock (s's clock) by a different time in each, so that the drivers'
// tests of their counts have jobs, runs and documents of every kind to
// change behind the store's back. It returns the jobs' IDs, oldest first.
func Populate(t testing.TB, s intake.Store, clock *testenv.Clock, n int) []string {
	t.Helper()
	ctx := t.Context()
	in := make([]*intake.Job, n)
	for i := range in {
		in[i] = &intake.Job{SourceType: "filings", Config: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
	}
	jobs, err := s.CreateJobs(ctx, in)
	if err != nil {
		t.Fatalf("CreateJobs: %v", err)
	}
	ids := make([]string, n)
	for i, j := range jobs {
		ids[i] = j.ID
		if i%6 == 5 {
			continue // pending
		}
		owner := fmt.Sprintf("populate-%d", i)
		if _, err := s.Claim(ctx, intake.ClaimParams{Owner: owner, LeaseTTL: time.Hour, JobID: j.ID, Worker: "pod"}); err != nil {
			t.Fatalf("Claim(%s): %v", j.ID, err)
		}
		for seq := 1; seq <= i%3; seq++ {
			d := &intake.Document{JobID: j.ID, Seq: seq, Name: "f.txt", DocumentType: "f", ContentType: "text/plain",
				SizeBytes: int64(100*i + seq), SHA256: fmt.Sprintf("%064x", seq), BlobKey: intake.DocumentBlobKey(j.ID, seq, owner),
				CollectedAt: clock.Now()}
			if err := s.RecordDocument(ctx, owner, d, nil); err != nil {
				t.Fatalf("RecordDocument(%s, %d): %v", j.ID, seq, err)
			}
		}
		clock.Advance(time.Duration(i*i) * 137 * time.Millisecond)
		switch i % 6 {
		case 0:
			err = s.FinishRun(ctx, j.ID, owner, false)
		case 1, 2:
			err = s.FinishRun(ctx, j.ID, owner, true)
		case 3:
			err = s.Reschedule(ctx, j.ID, owner, clock.Now().Add(time.Hour), "later", true)
		case 4:
			if i%12 == 4 {
				err = s.Fail(ctx, j.ID, owner, "bad")
			} // else the run stays open
		}
		if err != nil {
			t.Fatalf("end the run of %s: %v", j.ID, err)
		}
	}
	return ids
}
