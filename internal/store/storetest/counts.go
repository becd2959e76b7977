package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/telemetry"
)

// Stats and RunStats must stay exact whatever path changes the jobs: the
// SQL stores answer them from counts that triggers keep (their migration
// 00004), which every write must keep right. These cases drive jobs
// through every transition and compare both, after each step, with a
// recount of what the store lists.
var countsTests = []suiteCase{
	{"Counts/EveryTransition", testCountsTransitions},
	{"Counts/Concurrent", testCountsConcurrent},
}

// telemetryBounds are the bucket bounds the run collector of /metrics
// asks RunStats for; the SQL stores keep their counters in these.
var telemetryBounds = intake.RunStatsParams{
	DurationBuckets:   telemetry.RunDurationBuckets,
	CompletionBuckets: telemetry.CompletionBuckets,
}

// suiteBounds are other bounds, which make the SQL stores scan.
var suiteBounds = intake.RunStatsParams{DurationBuckets: []float64{1, 10, 100}, CompletionBuckets: []float64{5, 60}}

// recount is what Stats and RunStats should report, counted from every
// job, run and document the store lists.
type recount struct {
	stats intake.Stats
	runs  []*intake.Run
	done  []*intake.Job // the completed jobs
}

// recount lists every job with its runs and documents.
func (b *bundle) recount() *recount {
	b.t.Helper()
	r := &recount{stats: intake.Stats{Jobs: map[intake.Status]int64{}}}
	for _, st := range intake.Statuses {
		r.stats.Jobs[st] = 0
	}
	for cursor := ""; ; {
		page, err := b.store.ListJobs(b.ctx, intake.JobFilter{Cursor: cursor, Limit: intake.MaxPageSize})
		if err != nil {
			b.t.Fatalf("recount: ListJobs: %v", err)
		}
		for _, j := range page.Jobs {
			r.stats.Jobs[j.Status]++
			if j.Status == intake.StatusPending && (r.stats.OldestPending.IsZero() || j.AvailableAt.Before(r.stats.OldestPending)) {
				r.stats.OldestPending = j.AvailableAt
			}
			if j.Status == intake.StatusCompleted {
				r.done = append(r.done, j)
			}
			r.runs = append(r.runs, b.allRuns(j.ID)...)
			for _, d := range b.allDocuments(j.ID) {
				r.stats.Documents++
				r.stats.Bytes += d.SizeBytes
			}
		}
		if cursor = page.NextCursor; cursor == "" {
			return r
		}
	}
}

// allRuns returns every run record of a job, a page at a time.
func (b *bundle) allRuns(jobID string) []*intake.Run {
	b.t.Helper()
	var all []*intake.Run
	for after := 0; ; {
		page, err := b.store.ListRuns(b.ctx, jobID, after, intake.MaxPageSize)
		if err != nil {
			b.t.Fatalf("recount: ListRuns(%s): %v", jobID, err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].Number
	}
}

// allDocuments returns every document of a job, a page at a time.
func (b *bundle) allDocuments(jobID string) []*intake.Document {
	b.t.Helper()
	var all []*intake.Document
	for after := 0; ; {
		page, err := b.store.ListDocuments(b.ctx, jobID, after, intake.MaxPageSize)
		if err != nil {
			b.t.Fatalf("recount: ListDocuments(%s): %v", jobID, err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
}

// runStats counts the recount's ended runs and completed jobs into p's
// buckets.
func (r *recount) runStats(p intake.RunStatsParams) *intake.RunStats {
	st := intake.NewRunStats(p)
	for _, run := range r.runs {
		h, ok := st.Runs[run.Outcome]
		if !ok {
			continue // running
		}
		h.Observe(p.DurationBuckets, run.Duration().Seconds())
		st.Runs[run.Outcome] = h
		st.Documents += uint64(run.Collected)
	}
	for _, j := range r.done {
		st.Completion.Observe(p.CompletionBuckets, j.CompletedAt.Sub(j.CreatedAt).Seconds())
	}
	return st
}

// wantCounts fails the test unless Stats and RunStats, in the bounds the
// SQL stores count into and in others, equal a recount.
func (b *bundle) wantCounts(what string) {
	b.t.Helper()
	t := b.t
	r := b.recount()
	st, err := b.store.Stats(b.ctx)
	if err != nil {
		t.Fatalf("%s: Stats: %v", what, err)
	}
	for _, status := range intake.Statuses {
		if st.Jobs[status] != r.stats.Jobs[status] {
			t.Errorf("%s: Stats.Jobs[%s] = %d, a recount finds %d", what, status, st.Jobs[status], r.stats.Jobs[status])
		}
	}
	if st.Documents != r.stats.Documents || st.Bytes != r.stats.Bytes {
		t.Errorf("%s: Stats: %d documents of %d bytes, a recount finds %d of %d", what,
			st.Documents, st.Bytes, r.stats.Documents, r.stats.Bytes)
	}
	if st.OldestPending.IsZero() != r.stats.OldestPending.IsZero() {
		t.Errorf("%s: Stats.OldestPending = %v, a recount finds %v", what, st.OldestPending, r.stats.OldestPending)
	} else {
		wantTime(t, what+": Stats.OldestPending", st.OldestPending, r.stats.OldestPending)
	}
	for _, p := range []intake.RunStatsParams{telemetryBounds, suiteBounds} {
		rs, err := b.store.RunStats(b.ctx, p)
		if err != nil {
			t.Fatalf("%s: RunStats: %v", what, err)
		}
		wantRunStats(t, fmt.Sprintf("%s: RunStats in %d and %d buckets", what, len(p.DurationBuckets),
			len(p.CompletionBuckets)), rs, r.runStats(p))
	}
}

// finish, reschedule and fail end the run of job id under owner.
func (b *bundle) finish(id, owner string, done bool) {
	b.t.Helper()
	if err := b.store.FinishRun(b.ctx, id, owner, done); err != nil {
		b.t.Fatalf("FinishRun(%s, %s, %v): %v", id, owner, done, err)
	}
}

func (b *bundle) reschedule(id, owner string, at time.Time) {
	b.t.Helper()
	if err := b.store.Reschedule(b.ctx, id, owner, at, "try later", true); err != nil {
		b.t.Fatalf("Reschedule(%s, %s): %v", id, owner, err)
	}
}

func (b *bundle) fail(id, owner string) {
	b.t.Helper()
	if err := b.store.Fail(b.ctx, id, owner, "bad"); err != nil {
		b.t.Fatalf("Fail(%s, %s): %v", id, owner, err)
	}
}

func (b *bundle) cancel(id string) {
	b.t.Helper()
	if _, err := b.store.Cancel(b.ctx, id); err != nil {
		b.t.Fatalf("Cancel(%s): %v", id, err)
	}
}

// testCountsTransitions takes jobs through every transition a store
// makes (no call deletes a job or a document) and checks the counts after
// each. The runs last from exactly the first telemetry bound (50 ms) to
// beyond the last (409.6 s), so that they fall into every kind of bucket.
func testCountsTransitions(t *testing.T, h Harness) {
	b := setup(t, h)
	b.wantCounts("empty store")
	jobs := b.create(8)
	b.wantCounts("8 jobs created")
	keyed := newJob(100)
	keyed.IdempotencyKey = "once"
	for range 2 {
		if _, err := b.store.CreateJobs(b.ctx, []*intake.Job{keyed}); err != nil {
			t.Fatalf("CreateJobs(key): %v", err)
		}
	}
	b.wantCounts("a job created twice with one idempotency key")

	// Job 0: batch_done, drained, completed, with documents.
	b.claimAs(jobs[0].ID, "a1", "pod")
	if err := b.store.Heartbeat(b.ctx, jobs[0].ID, "a1", time.Minute); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	if err := b.store.Plan(b.ctx, jobs[0].ID, "a1", 6, []byte("cp0")); err != nil {
		t.Fatalf("Plan: %v", err)
	}
	b.wantCounts("claimed, heartbeat and planned")
	b.startBatch(jobs[0].ID, "a1", 2)
	b.record(jobs[0].ID, 1, "a1")
	b.record(jobs[0].ID, 2, "a1")
	b.wantCounts("two documents recorded")
	b.clock.Advance(50 * time.Millisecond)
	b.finish(jobs[0].ID, "a1", false)
	b.wantCounts("batch done in 50 ms")
	b.claimAs(jobs[0].ID, "a2", "pod")
	b.startBatch(jobs[0].ID, "a2", 3)
	b.record(jobs[0].ID, 3, "a2")
	b.clock.Advance(time.Second)
	b.finish(jobs[0].ID, "a2", false)
	b.wantCounts("drained in 1 s")
	b.claimAs(jobs[0].ID, "a3", "pod")
	b.record(jobs[0].ID, 4, "a3")
	b.clock.Advance(20 * time.Second)
	b.finish(jobs[0].ID, "a3", true)
	b.wantCounts("completed in 20 s")

	// Job 1: rescheduled, promoted by Maintain, failed after 500 s.
	b.claimAs(jobs[1].ID, "b1", "pod")
	b.clock.Advance(3 * time.Second)
	b.reschedule(jobs[1].ID, "b1", b.clock.Now().Add(time.Minute))
	b.wantCounts("rescheduled")
	b.clock.Advance(2 * time.Minute)
	b.maintain(5)
	b.wantCounts("promoted")
	b.claimAs(jobs[1].ID, "b2", "pod")
	b.clock.Advance(500 * time.Second)
	b.fail(jobs[1].ID, "b2")
	b.wantCounts("failed after 500 s")

	// Jobs 2 and 3 lose their leases in one Maintain pass: job 2 becomes
	// pending again, job 3, on its last attempt, fails.
	b.claimAs(jobs[3].ID, "d1", "pod")
	b.reschedule(jobs[3].ID, "d1", b.clock.Now())
	b.maintain(2)
	b.claimAs(jobs[2].ID, "c1", "pod")
	b.claimAs(jobs[3].ID, "d2", "pod")
	b.record(jobs[2].ID, 1, "c1")
	b.wantCounts("two claimed")
	b.clock.Advance(lease + time.Second)
	if r := b.maintain(2); len(r.Expired) != 1 || len(r.ExpiredFailed) != 1 {
		t.Fatalf("Maintain(2) = %+v, want one job expired to pending and one to failed", r)
	}
	b.wantCounts("two leases expired")

	// Cancelled: a pending job, a scheduled one and a processing one.
	b.cancel(jobs[4].ID)
	b.claimAs(jobs[5].ID, "f1", "pod")
	b.reschedule(jobs[5].ID, "f1", b.clock.Now().Add(time.Hour))
	b.cancel(jobs[5].ID)
	b.claimAs(jobs[6].ID, "g1", "pod")
	b.record(jobs[6].ID, 1, "g1")
	b.clock.Advance(100 * time.Millisecond)
	b.cancel(jobs[6].ID)
	b.wantCounts("cancelled while pending, scheduled and processing")
	if _, err := b.store.Cancel(b.ctx, jobs[6].ID); err == nil {
		t.Error("Cancel of a cancelled job succeeded")
	}
	b.wantCounts("a terminal job's cancel refused")

	// A fenced call under a lost lease changes nothing.
	if err := b.store.FinishRun(b.ctx, jobs[2].ID, "c1", true); err == nil {
		t.Error("FinishRun under an expired lease succeeded")
	}
	b.wantCounts("a finish under a lost lease refused")

	// Job 7: a group of documents recorded at once, then a batched finish
	// beside a run whose lease is gone (job 2's), which changes nothing.
	b.claimAs(jobs[7].ID, "h1", "pod")
	if err := b.store.Plan(b.ctx, jobs[7].ID, "h1", 3, []byte("cp0")); err != nil {
		t.Fatalf("Plan: %v", err)
	}
	b.recordGroup(jobs[7].ID, 1, 3, "h1")
	b.wantCounts("a group of three documents recorded")
	b.clock.Advance(2 * time.Second)
	errs := b.finishRuns(
		intake.FinishParams{JobID: jobs[7].ID, Owner: "h1", Done: true},
		intake.FinishParams{JobID: jobs[2].ID, Owner: "c1", Done: true},
	)
	if errs[0] != nil || !errors.Is(errs[1], intake.ErrLeaseLost) {
		t.Fatalf("FinishRuns = %v, want nil and ErrLeaseLost", errs)
	}
	b.wantCounts("a batched finish, one run of it under a lost lease")
}

// testCountsConcurrent claims and finishes jobs from several goroutines at
// once, with Maintain passes among them, and checks the counts after.
func testCountsConcurrent(t *testing.T, h Harness) {
	b := setup(t, h)
	b.create(20)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 10 {
				owner := fmt.Sprintf("w%d-%d", w, i)
				j, err := b.store.Claim(b.ctx, intake.ClaimParams{Owner: owner, LeaseTTL: lease, Worker: "pod"})
				if errors.Is(err, intake.ErrNoJob) {
					continue // the rest are scheduled until a Maintain pass
				}
				if err != nil {
					t.Errorf("Claim(%s): %v", owner, err)
					return
				}
				d := b.doc(j.ID, j.Collected+1, owner)
				if err := b.store.RecordDocument(b.ctx, owner, d, nil); err != nil {
					t.Errorf("RecordDocument(%s): %v", owner, err)
					return
				}
				switch i % 3 {
				case 0:
					err = b.store.FinishRun(b.ctx, j.ID, owner, false)
				case 1:
					err = b.store.FinishRun(b.ctx, j.ID, owner, true)
				default:
					err = b.store.Reschedule(b.ctx, j.ID, owner, b.clock.Now(), "again", false)
				}
				if err != nil {
					t.Errorf("end the run of %s: %v", owner, err)
					return
				}
				if i%4 == 0 {
					if _, err := b.store.Maintain(b.ctx, 5); err != nil {
						t.Errorf("Maintain: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	b.wantCounts("40 runs ended from 4 goroutines")
}
