package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

// runTests are the cases of the run records: Claim opens a record and the
// call that releases the job closes it.
var runTests = []suiteCase{
	{"Runs/Lifecycle", testRunsLifecycle},
	{"Runs/RescheduleAndFail", testRunsRescheduleFail},
	{"Runs/LeaseExpired", testRunsLeaseExpired},
	{"Runs/Cancel", testRunsCancel},
	{"Runs/Fenced", testRunsFenced},
	{"Runs/Paging", testRunsPaging},
	{"RunStats", testRunStats},
	{"RunStats/TelemetryBounds", testRunStatsTelemetry},
}

// claimAs claims job id under owner for the worker process named worker.
func (b *bundle) claimAs(id, owner, worker string) *intake.Job {
	b.t.Helper()
	j, err := b.store.Claim(b.ctx, intake.ClaimParams{Owner: owner, LeaseTTL: lease, JobID: id, Worker: worker})
	if err != nil {
		b.t.Fatalf("Claim(%s, %s, %s): %v", id, owner, worker, err)
	}
	return j
}

// startBatch records the batch of the run of job id under owner.
func (b *bundle) startBatch(id, owner string, batch int) {
	b.t.Helper()
	if err := b.store.StartBatch(b.ctx, id, owner, batch); err != nil {
		b.t.Fatalf("StartBatch(%s, %s, %d): %v", id, owner, batch, err)
	}
}

// runs returns every run record of a job.
func (b *bundle) runs(id string) []*intake.Run {
	b.t.Helper()
	rs, err := b.store.ListRuns(b.ctx, id, 0, 100)
	if err != nil {
		b.t.Fatalf("ListRuns(%s): %v", id, err)
	}
	return rs
}

// wantRun fails the test unless got matches want, times at millisecond
// precision.
func wantRun(t *testing.T, what string, got *intake.Run, want intake.Run) {
	t.Helper()
	g := *got
	g.StartedAt, g.EndedAt = normalTime(g.StartedAt), normalTime(g.EndedAt)
	want.StartedAt, want.EndedAt = normalTime(want.StartedAt), normalTime(want.EndedAt)
	if g != want {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, want)
	}
}

// wantRuns fails the test unless the job has exactly n run records, and
// returns them.
func (b *bundle) wantRuns(id string, n int) []*intake.Run {
	b.t.Helper()
	rs := b.runs(id)
	if len(rs) != n {
		for _, r := range rs {
			b.t.Logf("run %+v", r)
		}
		b.t.Fatalf("job %s has %d run records, want %d", id, len(rs), n)
	}
	return rs
}

func testRunsLifecycle(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	b.wantRuns(j.ID, 0)
	if err := b.store.Plan(b.ctx, j.ID, "nobody", 7, nil); err == nil {
		t.Fatal("Plan without a claim succeeded")
	}

	// Run 1 collects its whole batch: batch_done.
	start1 := b.now()
	b.claimAs(j.ID, "w1", "pod-a")
	rs := b.wantRuns(j.ID, 1)
	wantRun(t, "open run", rs[0], intake.Run{JobID: j.ID, Number: 1, Worker: "pod-a", LeaseOwner: "w1",
		StartedAt: start1, Outcome: intake.RunRunning})
	if err := b.store.Plan(b.ctx, j.ID, "w1", 7, []byte("cp0")); err != nil {
		t.Fatalf("Plan: %v", err)
	}
	b.startBatch(j.ID, "w1", 3)
	for seq := 1; seq <= 3; seq++ {
		b.record(j.ID, seq, "w1")
	}
	b.clock.Advance(2 * time.Second)
	end1 := b.now()
	if err := b.store.FinishRun(b.ctx, j.ID, "w1", false); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	rs = b.wantRuns(j.ID, 1)
	run1 := intake.Run{JobID: j.ID, Number: 1, Worker: "pod-a", LeaseOwner: "w1",
		StartedAt: start1, EndedAt: end1, Batch: 3, Collected: 3, Outcome: intake.RunBatchDone}
	wantRun(t, "run 1", rs[0], run1)
	if d := rs[0].Duration(); d != 2*time.Second {
		t.Errorf("run 1 Duration = %v, want 2s", d)
	}

	// Run 2 stops after two of three documents: drained. Without a Worker
	// the record names the owner.
	b.clock.Advance(time.Second)
	start2 := b.now()
	b.claimAs(j.ID, "w2", "")
	b.startBatch(j.ID, "w2", 3)
	b.record(j.ID, 4, "w2")
	b.record(j.ID, 5, "w2")
	b.clock.Advance(time.Second)
	end2 := b.now()
	if err := b.store.FinishRun(b.ctx, j.ID, "w2", false); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}

	// Run 3 completes the job.
	start3 := b.now()
	b.claimAs(j.ID, "w3", "pod-c")
	b.startBatch(j.ID, "w3", 2)
	b.record(j.ID, 6, "w3")
	b.record(j.ID, 7, "w3")
	b.clock.Advance(500 * time.Millisecond)
	end3 := b.now()
	if err := b.store.FinishRun(b.ctx, j.ID, "w3", true); err != nil {
		t.Fatalf("FinishRun(done): %v", err)
	}
	rs = b.wantRuns(j.ID, 3)
	wantRun(t, "run 1 after later runs", rs[0], run1)
	wantRun(t, "run 2", rs[1], intake.Run{JobID: j.ID, Number: 2, Worker: "w2", LeaseOwner: "w2",
		StartedAt: start2, EndedAt: end2, Batch: 3, Collected: 2, Outcome: intake.RunDrained})
	wantRun(t, "run 3", rs[2], intake.Run{JobID: j.ID, Number: 3, Worker: "pod-c", LeaseOwner: "w3",
		StartedAt: start3, EndedAt: end3, Batch: 2, Collected: 2, Outcome: intake.RunCompleted})
	if got := b.get(j.ID); got.Runs != 3 || got.Status != intake.StatusCompleted {
		t.Errorf("job after three runs: %+v", got)
	}
}

func testRunsRescheduleFail(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	start := b.now()
	b.claimAs(j.ID, "w1", "pod-a")
	b.startBatch(j.ID, "w1", 5)
	b.record(j.ID, 1, "w1")
	b.clock.Advance(time.Second)
	if err := b.store.Reschedule(b.ctx, j.ID, "w1", b.clock.Now(), "source answered 503", true); err != nil {
		t.Fatalf("Reschedule: %v", err)
	}
	end := b.now()
	rs := b.wantRuns(j.ID, 1)
	wantRun(t, "rescheduled run", rs[0], intake.Run{JobID: j.ID, Number: 1, Worker: "pod-a", LeaseOwner: "w1",
		StartedAt: start, EndedAt: end, Batch: 5, Collected: 1, Outcome: intake.RunRescheduled,
		Error: "source answered 503"})

	b.maintain(5)
	start2 := b.now()
	b.claimAs(j.ID, "w2", "pod-b")
	b.clock.Advance(time.Second)
	if err := b.store.Fail(b.ctx, j.ID, "w2", "invalid config"); err != nil {
		t.Fatalf("Fail: %v", err)
	}
	rs = b.wantRuns(j.ID, 2)
	wantRun(t, "failed run", rs[1], intake.Run{JobID: j.ID, Number: 2, Worker: "pod-b", LeaseOwner: "w2",
		StartedAt: start2, EndedAt: b.now(), Outcome: intake.RunFailed, Error: "invalid config"})
}

func testRunsLeaseExpired(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.create(2)
	retried, last := jobs[0], jobs[1]
	start := b.now()
	b.claimAs(retried.ID, "w1", "pod-a")
	b.startBatch(retried.ID, "w1", 4)
	b.record(retried.ID, 1, "w1")
	// The other job is on its last attempt: its expiry fails it.
	b.claimAs(last.ID, "w2", "pod-b")
	if err := b.store.Reschedule(b.ctx, last.ID, "w2", b.clock.Now(), "transient", true); err != nil {
		t.Fatalf("Reschedule: %v", err)
	}
	b.maintain(2)
	start2 := b.now()
	b.claimAs(last.ID, "w3", "pod-c")

	b.clock.Advance(lease)
	r := b.maintain(2)
	if !slices.Equal(r.Expired, []string{retried.ID}) || !slices.Equal(r.ExpiredFailed, []string{last.ID}) {
		t.Fatalf("Maintain = %+v", r)
	}
	rs := b.wantRuns(retried.ID, 1)
	if rs[0].Error == "" {
		t.Errorf("expired run has no Error")
	}
	wantRun(t, "expired run", rs[0], intake.Run{JobID: retried.ID, Number: 1, Worker: "pod-a", LeaseOwner: "w1",
		StartedAt: start, EndedAt: b.now(), Batch: 4, Collected: 1, Outcome: intake.RunLeaseExpired, Error: rs[0].Error})
	rs = b.wantRuns(last.ID, 2)
	wantRun(t, "expired last attempt", rs[1], intake.Run{JobID: last.ID, Number: 2, Worker: "pod-c", LeaseOwner: "w3",
		StartedAt: start2, EndedAt: b.now(), Outcome: intake.RunLeaseExpired, Error: rs[1].Error})
	if rs[0].Outcome != intake.RunRescheduled {
		t.Errorf("first run of %s: outcome %q, want rescheduled", last.ID, rs[0].Outcome)
	}

	// The expired run's worker comes back: it changes neither the job nor
	// the record.
	wantLeaseLost(t, "FinishRun by the expired run", b.store.FinishRun(b.ctx, retried.ID, "w1", true))
	if got := b.runs(retried.ID)[0]; got.Outcome != intake.RunLeaseExpired {
		t.Errorf("record after the zombie's FinishRun: %+v", got)
	}
	if b.maintain(2).Expired != nil {
		t.Error("a second Maintain expired again")
	}
	b.wantRuns(retried.ID, 1)
}

func testRunsCancel(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.create(2)
	running, pending := jobs[0], jobs[1]
	start := b.now()
	b.claimAs(running.ID, "w1", "pod-a")
	b.startBatch(running.ID, "w1", 3)
	b.record(running.ID, 1, "w1")
	b.clock.Advance(time.Second)
	if _, err := b.store.Cancel(b.ctx, running.ID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	rs := b.wantRuns(running.ID, 1)
	wantRun(t, "cancelled run", rs[0], intake.Run{JobID: running.ID, Number: 1, Worker: "pod-a", LeaseOwner: "w1",
		StartedAt: start, EndedAt: b.now(), Batch: 3, Collected: 1, Outcome: intake.RunCancelled, Error: rs[0].Error})
	wantLeaseLost(t, "FinishRun after Cancel", b.store.FinishRun(b.ctx, running.ID, "w1", false))
	if got := b.runs(running.ID)[0]; got.Outcome != intake.RunCancelled {
		t.Errorf("record after FinishRun of a cancelled run: %+v", got)
	}
	// Cancelling a job that is not running opens and closes no run.
	if _, err := b.store.Cancel(b.ctx, pending.ID); err != nil {
		t.Fatalf("Cancel pending: %v", err)
	}
	b.wantRuns(pending.ID, 0)
}

func testRunsFenced(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	wantLeaseLost(t, "StartBatch before a claim", b.store.StartBatch(b.ctx, j.ID, "w1", 3))
	b.claimAs(j.ID, "w1", "pod-a")
	wantLeaseLost(t, "StartBatch by another owner", b.store.StartBatch(b.ctx, j.ID, "w2", 3))
	wantCode(t, "StartBatch(-1)", b.store.StartBatch(b.ctx, j.ID, "w1", -1), intake.EINVALID)
	b.startBatch(j.ID, "w1", 2)
	if err := b.store.FinishRun(b.ctx, j.ID, "w1", false); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	wantLeaseLost(t, "StartBatch after the run ended", b.store.StartBatch(b.ctx, j.ID, "w1", 9))
	rs := b.wantRuns(j.ID, 1)
	if rs[0].Batch != 2 || rs[0].Outcome != intake.RunDrained {
		// Two documents planned, none recorded: the worker stopped early.
		t.Errorf("run = %+v, want Batch 2, drained", rs[0])
	}
	if rs, err := b.store.ListRuns(b.ctx, intake.NewID(), 0, 10); err != nil || len(rs) != 0 {
		t.Errorf("ListRuns(unknown job) = %v, %v; want none", rs, err)
	}
}

func testRunsPaging(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	for i := 1; i <= 5; i++ {
		b.claimAs(j.ID, "w", "pod")
		if err := b.store.FinishRun(b.ctx, j.ID, "w", false); err != nil {
			t.Fatalf("FinishRun %d: %v", i, err)
		}
	}
	var got []int
	for after := 0; ; {
		page, err := b.store.ListRuns(b.ctx, j.ID, after, 2)
		if err != nil {
			t.Fatalf("ListRuns(after %d): %v", after, err)
		}
		if len(page) > 2 {
			t.Fatalf("ListRuns(limit 2) returned %d", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			got = append(got, r.Number)
		}
		after = page[len(page)-1].Number
	}
	if !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
		t.Errorf("paged run numbers %v, want 1..5", got)
	}
}

func testRunStats(t *testing.T, h Harness) {
	b := setup(t, h)
	p := intake.RunStatsParams{DurationBuckets: []float64{1, 10, 100}, CompletionBuckets: []float64{5, 60}}
	st, err := b.store.RunStats(b.ctx, p)
	if err != nil {
		t.Fatalf("RunStats(empty): %v", err)
	}
	for _, o := range intake.RunOutcomes {
		if h := st.Runs[o]; h.Count != 0 || len(h.Buckets) != 3 {
			t.Errorf("empty store: runs %s = %+v, want 0 with 3 buckets", o, h)
		}
	}
	if st.Completion.Count != 0 || len(st.Completion.Buckets) != 2 || st.Documents != 0 {
		t.Errorf("empty store: completion = %+v", st.Completion)
	}

	b.runStatsScenario()

	st, err = b.store.RunStats(b.ctx, p)
	if err != nil {
		t.Fatalf("RunStats: %v", err)
	}
	want := map[intake.RunOutcome]intake.Histogram{
		intake.RunBatchDone: {Count: 1, Sum: 0.5, Buckets: []uint64{1, 1, 1}},
		intake.RunCompleted: {Count: 1, Sum: 20, Buckets: []uint64{0, 0, 1}},
		intake.RunFailed:    {Count: 1, Sum: 3, Buckets: []uint64{0, 1, 1}},
	}
	for _, o := range intake.RunOutcomes {
		w, ok := want[o]
		if !ok {
			w = intake.NewHistogram(3)
		}
		wantHistogram(t, "runs "+string(o), st.Runs[o], w)
	}
	if st.Documents != 3 {
		t.Errorf("Documents = %d, want 3 (recorded by ended runs)", st.Documents)
	}
	// Job 0 was created at Epoch and completed 20.5 s later.
	wantHistogram(t, "completion", st.Completion, intake.Histogram{Count: 1, Sum: 20.5, Buckets: []uint64{0, 1}})
}

// runStatsScenario ends three runs in three outcomes and completes one
// job: a 0.5 s batch_done run that recorded two documents, a 20 s
// completed run that recorded one (the job completed 20.5 s after its
// creation), an open run that recorded one, and a 3 s failed run.
func (b *bundle) runStatsScenario() {
	t := b.t
	t.Helper()
	jobs := b.create(3)
	// Job 0: a 0.5 s batch_done run, then a 20 s completing run.
	b.claimAs(jobs[0].ID, "a1", "pod")
	b.record(jobs[0].ID, 1, "a1")
	b.record(jobs[0].ID, 2, "a1")
	b.clock.Advance(500 * time.Millisecond)
	if err := b.store.FinishRun(b.ctx, jobs[0].ID, "a1", false); err != nil {
		t.Fatal(err)
	}
	b.claimAs(jobs[0].ID, "a2", "pod")
	b.record(jobs[0].ID, 3, "a2")
	b.clock.Advance(20 * time.Second)
	if err := b.store.FinishRun(b.ctx, jobs[0].ID, "a2", true); err != nil {
		t.Fatal(err)
	}
	// Job 1: an open run, which nothing counts.
	b.claimAs(jobs[1].ID, "b1", "pod")
	b.record(jobs[1].ID, 1, "b1")
	// Job 2: a 3 s failed run.
	b.claimAs(jobs[2].ID, "c1", "pod")
	b.clock.Advance(3 * time.Second)
	if err := b.store.Fail(b.ctx, jobs[2].ID, "c1", "bad"); err != nil {
		t.Fatal(err)
	}
}

// testRunStatsTelemetry runs testRunStats' runs with the bounds the
// run collector of /metrics asks for, which the SQL stores count into as
// the runs end (the other bounds make them scan).
func testRunStatsTelemetry(t *testing.T, h Harness) {
	b := setup(t, h)
	p := telemetryBounds
	empty := intake.NewRunStats(p)
	st, err := b.store.RunStats(b.ctx, p)
	if err != nil {
		t.Fatalf("RunStats(empty): %v", err)
	}
	wantRunStats(t, "empty store", st, empty)

	b.runStatsScenario()
	want := intake.NewRunStats(p)
	for o, seconds := range map[intake.RunOutcome]float64{
		intake.RunBatchDone: 0.5, intake.RunCompleted: 20, intake.RunFailed: 3,
	} {
		h := want.Runs[o]
		h.Observe(p.DurationBuckets, seconds)
		want.Runs[o] = h
	}
	want.Documents = 3
	want.Completion.Observe(p.CompletionBuckets, 20.5)
	st, err = b.store.RunStats(b.ctx, p)
	if err != nil {
		t.Fatalf("RunStats: %v", err)
	}
	wantRunStats(t, "three ended runs", st, want)
}

// wantRunStats compares RunStats, sums to the millisecond.
func wantRunStats(t *testing.T, what string, got, want *intake.RunStats) {
	t.Helper()
	for _, o := range intake.RunOutcomes {
		wantHistogram(t, what+": runs "+string(o), got.Runs[o], want.Runs[o])
	}
	if len(got.Runs) != len(intake.RunOutcomes) {
		t.Errorf("%s: RunStats has %d outcomes, want %d", what, len(got.Runs), len(intake.RunOutcomes))
	}
	if got.Documents != want.Documents {
		t.Errorf("%s: Documents = %d, want %d", what, got.Documents, want.Documents)
	}
	wantHistogram(t, what+": completion", got.Completion, want.Completion)
}

// wantHistogram compares histograms, sums to the millisecond.
func wantHistogram(t *testing.T, what string, got, want intake.Histogram) {
	t.Helper()
	if got.Count != want.Count || !slices.Equal(got.Buckets, want.Buckets) ||
		got.Sum < want.Sum-0.001 || got.Sum > want.Sum+0.001 {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}
