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

// A Write is a statement that changes jobs, runs or documents behind the
// store's back, as an operator or an older binary could.
type Write struct {
	What, SQL string
	Args      []any
}

// CountsFollowWrites runs each write with exec and checks after it, with
// WantCounted, that d's counts still equal a scan: the drivers'
// triggers must count every insert, update, delete and cascade.
func CountsFollowWrites(t *testing.T, d driver.Driver, p intake.RunStatsParams,
	scanStats func(context.Context) (*intake.Stats, error),
	scanRunStats func(context.Context, intake.RunStatsParams) (*intake.RunStats, error),
	exec func(ctx context.Context, sql string, args ...any) error, writes []Write) {
	t.Helper()
	WantCounted(t, "populated", d, p, scanStats, scanRunStats)
	for _, w := range writes {
		if err := exec(t.Context(), w.SQL, w.Args...); err != nil {
			t.Fatalf("%s: %v", w.What, err)
		}
		WantCounted(t, w.What, d, p, scanStats, scanRunStats)
	}
}

// RunStatsReadsCounters checks that d's RunStats answers from its
// counters for p, the bounds its migration stored, and scans for other
// bounds. writeCounters must write, by hand and with no run behind them,
// 5 completed runs in duration bucket 2 that took 1 s and recorded 7
// documents, and 2 completions of 90,000 s in all, above every bound: they
// show in the first answer and not in the second.
func RunStatsReadsCounters(t *testing.T, d driver.Driver, p intake.RunStatsParams, writeCounters func(context.Context) error) {
	t.Helper()
	ctx := t.Context()
	if err := writeCounters(ctx); err != nil {
		t.Fatalf("write counters: %v", err)
	}
	st, err := d.RunStats(ctx, p)
	if err != nil {
		t.Fatalf("RunStats: %v", err)
	}
	runs := st.Runs[intake.RunCompleted]
	if runs.Count != 5 || runs.Sum != 1 || runs.Buckets[1] != 0 || runs.Buckets[2] != 5 || st.Documents != 7 {
		t.Errorf("RunStats in the stored bounds: completed runs %+v, documents %d; want the counters' 5 runs "+
			"from bucket 2 on, 1 s and 7 documents", runs, st.Documents)
	}
	if c := st.Completion; c.Count != 2 || c.Sum != 90000 || c.Buckets[len(c.Buckets)-1] != 0 {
		t.Errorf("RunStats in the stored bounds: completion %+v, want the counters' 2 jobs above every bound", c)
	}
	st, err = d.RunStats(ctx, intake.RunStatsParams{DurationBuckets: []float64{1, 10}, CompletionBuckets: []float64{5}})
	if err != nil {
		t.Fatalf("RunStats: %v", err)
	}
	if st.Runs[intake.RunCompleted].Count != 0 || st.Completion.Count != 0 {
		t.Errorf("RunStats in other bounds read the counters: %+v", st)
	}
}
