package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

// finishManyTests are the cases of batched finishes
// (intake.BatchFinisher), which the store offers on every driver: in one
// statement or transaction where the driver can, one run after another
// where it cannot.
var finishManyTests = []suiteCase{
	{"FinishRuns/MixedLeases", testFinishRunsMixed},
	{"FinishRuns/Plan", testFinishRunsPlan},
	{"FinishRuns/Notify", testFinishRunsNotify},
	{"FinishRuns/Twice", testFinishRunsTwice},
	{"FinishRuns/ConcurrentOnce", testFinishRunsConcurrent},
}

// finishRuns ends runs with the store's FinishRuns and checks that it
// returned one error per run.
func (b *bundle) finishRuns(runs ...intake.FinishParams) []error {
	b.t.Helper()
	bf, ok := b.store.(intake.BatchFinisher)
	if !ok {
		b.t.Fatalf("the store (%T) does not finish in batches", b.store)
	}
	errs := bf.FinishRuns(b.ctx, runs)
	if len(errs) != len(runs) {
		b.t.Fatalf("FinishRuns of %d runs returned %d errors", len(runs), len(errs))
	}
	return errs
}

// testFinishRunsMixed finishes, in one call, runs done and not done, whole
// and drained, with runs whose lease is gone in between: those report
// ErrLeaseLost and change nothing, the others end exactly as FinishRun
// would have ended them.
func testFinishRunsMixed(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.create(7)
	start := b.now()
	for i, j := range jobs {
		b.claimAs(j.ID, fmt.Sprintf("w%d", i), "pool-1")
	}
	// Job 0 completes with its 2 documents and an unknown total; job 1
	// ends a whole batch of 2 of its known 5; job 2 is drained after one
	// of a batch of 3; job 3 completes with nothing collected.
	if err := b.store.Plan(b.ctx, jobs[1].ID, "w1", 5, nil); err != nil {
		t.Fatalf("Plan: %v", err)
	}
	for _, i := range []int{0, 1} {
		b.startBatch(jobs[i].ID, fmt.Sprintf("w%d", i), 2)
		b.record(jobs[i].ID, 1, fmt.Sprintf("w%d", i))
		b.record(jobs[i].ID, 2, fmt.Sprintf("w%d", i))
	}
	b.startBatch(jobs[2].ID, "w2", 3)
	b.record(jobs[2].ID, 1, "w2")
	// Job 4 was finished already, job 5 cancelled, job 6 lapsed and was
	// taken back by maintenance.
	if err := b.store.FinishRun(b.ctx, jobs[4].ID, "w4", false); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	if _, err := b.store.Cancel(b.ctx, jobs[5].ID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	b.clock.Advance(lease - time.Second)
	if err := b.store.Heartbeat(b.ctx, jobs[6].ID, "w6", time.Second); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	for i := range 4 {
		if err := b.store.Heartbeat(b.ctx, jobs[i].ID, fmt.Sprintf("w%d", i), lease); err != nil {
			t.Fatalf("Heartbeat: %v", err)
		}
	}
	b.clock.Advance(2 * time.Second)
	if r := b.maintain(5); len(r.Expired) != 1 || r.Expired[0] != jobs[6].ID {
		t.Fatalf("Maintain = %+v, want job 6 expired", r)
	}
	before := map[string]*intake.Job{}
	for _, j := range jobs[4:] {
		before[j.ID] = b.get(j.ID)
	}

	b.clock.Advance(time.Second)
	end := b.now()
	errs := b.finishRuns(
		intake.FinishParams{JobID: jobs[4].ID, Owner: "w4", Done: true},
		intake.FinishParams{JobID: jobs[0].ID, Owner: "w0", Done: true},
		intake.FinishParams{JobID: jobs[5].ID, Owner: "w5", Done: true},
		intake.FinishParams{JobID: jobs[1].ID, Owner: "w1"},
		intake.FinishParams{JobID: jobs[2].ID, Owner: "w2"},
		intake.FinishParams{JobID: jobs[6].ID, Owner: "w6"},
		intake.FinishParams{JobID: jobs[3].ID, Owner: "w3", Done: true},
		intake.FinishParams{JobID: jobs[3].ID, Owner: "w4", Done: true}, // not its owner
	)
	for _, i := range []int{1, 3, 4, 6} {
		if errs[i] != nil {
			t.Errorf("FinishRuns: run %d: %v", i, errs[i])
		}
	}
	for _, i := range []int{0, 2, 5, 7} {
		wantLeaseLost(t, fmt.Sprintf("FinishRuns: run %d", i), errs[i])
	}

	for _, tt := range []struct {
		job       int
		status    intake.Status
		total     int
		collected int
		outcome   intake.RunOutcome
		batch     int
	}{
		{0, intake.StatusCompleted, 2, 2, intake.RunCompleted, 2},
		{1, intake.StatusPending, 5, 2, intake.RunBatchDone, 2},
		{2, intake.StatusPending, intake.TotalUnknown, 1, intake.RunDrained, 3},
		{3, intake.StatusCompleted, 0, 0, intake.RunCompleted, 0},
	} {
		j := jobs[tt.job]
		got := b.get(j.ID)
		if got.Status != tt.status || got.Total != tt.total || got.Collected != tt.collected ||
			got.LeaseOwner != "" || !got.LeaseExpiresAt.IsZero() || got.Attempts != 0 || got.LastError != "" {
			t.Errorf("job %d after FinishRuns: %+v; want %s, Total %d, Collected %d, no lease, Attempts 0",
				tt.job, got, tt.status, tt.total, tt.collected)
		}
		if tt.status == intake.StatusCompleted {
			wantTime(t, fmt.Sprintf("job %d CompletedAt", tt.job), got.CompletedAt, end)
			wantTime(t, fmt.Sprintf("job %d AvailableAt", tt.job), got.AvailableAt, j.AvailableAt)
		} else {
			wantTime(t, fmt.Sprintf("job %d AvailableAt", tt.job), got.AvailableAt, end)
			if !got.CompletedAt.IsZero() {
				t.Errorf("job %d CompletedAt = %v, want none", tt.job, got.CompletedAt)
			}
		}
		rs := b.wantRuns(j.ID, 1)
		wantRun(t, fmt.Sprintf("run of job %d", tt.job), rs[0], intake.Run{
			JobID: j.ID, Number: 1, Worker: "pool-1", LeaseOwner: fmt.Sprintf("w%d", tt.job),
			StartedAt: start, EndedAt: end, Batch: tt.batch, Collected: tt.collected, Outcome: tt.outcome,
		})
	}
	// The runs whose lease was gone changed nothing.
	for i, j := range jobs[4:] {
		wantSameJob(t, fmt.Sprintf("job %d after a FinishRuns without its lease", 4+i), b.get(j.ID), before[j.ID])
	}
	b.wantRuns(jobs[4].ID, 1)
	if rs := b.wantRuns(jobs[5].ID, 1); rs[0].Outcome != intake.RunCancelled {
		t.Errorf("run of the cancelled job: %+v", rs[0])
	}
	if rs := b.wantRuns(jobs[6].ID, 1); rs[0].Outcome != intake.RunLeaseExpired {
		t.Errorf("run of the lapsed job: %+v", rs[0])
	}
	if errs := b.finishRuns(); len(errs) != 0 {
		t.Errorf("FinishRuns of no runs = %v", errs)
	}
}

// testFinishRunsPlan finishes runs that bring their job's plan: the plan
// is recorded as Plan would record it, before the finish reads the total,
// and not at all when the lease is gone; an invalid plan fails its run
// alone.
func testFinishRunsPlan(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.create(6)
	for i, j := range jobs {
		b.claimID(j.ID, fmt.Sprintf("w%d", i))
	}
	// Job 5's lease is gone: another owner's run brings a plan.
	b.clock.Advance(time.Second)
	errs := b.finishRuns(
		intake.FinishParams{JobID: jobs[0].ID, Owner: "w0", Done: true, Plan: &intake.JobPlan{Total: 0, Checkpoint: []byte("cp0")}},
		intake.FinishParams{JobID: jobs[1].ID, Owner: "w1", Done: true, Plan: &intake.JobPlan{Total: intake.TotalUnknown}},
		intake.FinishParams{JobID: jobs[2].ID, Owner: "w2", Plan: &intake.JobPlan{Total: 5, Checkpoint: []byte("start")}},
		intake.FinishParams{JobID: jobs[3].ID, Owner: "w3", Plan: &intake.JobPlan{Total: intake.TotalUnknown}},
		intake.FinishParams{JobID: jobs[4].ID, Owner: "w4", Done: true, Plan: &intake.JobPlan{Total: -2}},
		intake.FinishParams{JobID: jobs[5].ID, Owner: "w0", Done: true, Plan: &intake.JobPlan{Total: 3}},
	)
	for i := range 4 {
		if errs[i] != nil {
			t.Errorf("FinishRuns: run %d: %v", i, errs[i])
		}
	}
	wantCode(t, "FinishRuns: run 4 with an invalid total", errs[4], intake.EINVALID)
	wantLeaseLost(t, "FinishRuns: run 5 by another owner", errs[5])

	for _, tt := range []struct {
		job        int
		status     intake.Status
		total      int
		checkpoint []byte
	}{
		{0, intake.StatusCompleted, 0, []byte("cp0")},
		{1, intake.StatusCompleted, 0, nil}, // the unknown total becomes Collected
		{2, intake.StatusPending, 5, []byte("start")},
		{3, intake.StatusPending, intake.TotalUnknown, nil},
	} {
		got := b.get(jobs[tt.job].ID)
		if got.Status != tt.status || !got.Planned || got.Total != tt.total || !bytes.Equal(got.Checkpoint, tt.checkpoint) {
			t.Errorf("job %d: status %s Planned %v Total %d Checkpoint %q; want %s, planned, Total %d, Checkpoint %q",
				tt.job, got.Status, got.Planned, got.Total, got.Checkpoint, tt.status, tt.total, tt.checkpoint)
		}
		wantTime(t, fmt.Sprintf("job %d UpdatedAt", tt.job), got.UpdatedAt, b.now())
	}
	for _, i := range []int{4, 5} {
		got := b.get(jobs[i].ID)
		if got.Status != intake.StatusProcessing || got.Planned || got.Total != intake.TotalUnknown {
			t.Errorf("job %d after a refused FinishRuns: status %s Planned %v Total %d; want processing, unplanned",
				i, got.Status, got.Planned, got.Total)
		}
	}
	// The planned job's next run starts from the plan.
	b.clock.Advance(time.Second)
	j := b.claimID(jobs[2].ID, "w9")
	if !j.Planned || j.Total != 5 || string(j.Checkpoint) != "start" {
		t.Errorf("next claim of job 2: Planned %v Total %d Checkpoint %q; want the plan", j.Planned, j.Total, j.Checkpoint)
	}
}

// testFinishRunsNotify checks that the runs that complete a job with a
// notify make its notification due in the same step, and those that do not
// leave it alone.
func testFinishRunsNotify(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.notifyJobs(2)
	plain := b.create(1)[0]
	for i, j := range []*intake.Job{jobs[0], jobs[1], plain} {
		b.claimID(j.ID, fmt.Sprintf("w%d", i))
	}
	b.clock.Advance(time.Second)
	errs := b.finishRuns(
		intake.FinishParams{JobID: jobs[0].ID, Owner: "w0", Done: true},
		intake.FinishParams{JobID: jobs[1].ID, Owner: "w1"},
		intake.FinishParams{JobID: plain.ID, Owner: "w2", Done: true, Plan: &intake.JobPlan{Total: 0}},
	)
	for i, err := range errs {
		if err != nil {
			t.Errorf("FinishRuns: run %d: %v", i, err)
		}
	}
	wantTime(t, "NotifyDueAt of the completed job", b.get(jobs[0].ID).NotifyDueAt, b.now())
	if got := b.get(jobs[1].ID).NotifyDueAt; !got.IsZero() {
		t.Errorf("NotifyDueAt of the job pending again = %v, want none", got)
	}
	if got := b.get(plain.ID).NotifyDueAt; !got.IsZero() {
		t.Errorf("NotifyDueAt of a completed job without notify = %v, want none", got)
	}
	claims := b.claimNotifications(time.Minute, 10)
	if len(claims) != 1 || claims[0].Job.ID != jobs[0].ID {
		t.Errorf("ClaimNotifications = %v, want the completed job's", claimedIDs(claims))
	}
}

// testFinishRunsTwice gives the same run twice in one call, and a job ID
// that is no UUID: the second finish and the bad ID are ErrLeaseLost, and
// the run ends once.
func testFinishRunsTwice(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	b.claimID(j.ID, "w1")
	errs := b.finishRuns(
		intake.FinishParams{JobID: j.ID, Owner: "w1", Done: true},
		intake.FinishParams{JobID: "not-a-job", Owner: "w1", Done: true},
		intake.FinishParams{JobID: j.ID, Owner: "w1"},
	)
	if errs[0] != nil {
		t.Errorf("FinishRuns: the first finish: %v", errs[0])
	}
	wantLeaseLost(t, "FinishRuns: a job ID that is no UUID", errs[1])
	wantLeaseLost(t, "FinishRuns: the second finish of a run", errs[2])
	if got := b.get(j.ID); got.Status != intake.StatusCompleted {
		t.Errorf("job %s after FinishRuns, want completed", got.Status)
	}
	if rs := b.wantRuns(j.ID, 1); rs[0].Outcome != intake.RunCompleted {
		t.Errorf("run after FinishRuns: %+v, want completed", rs[0])
	}
	wantLeaseLost(t, "FinishRun after FinishRuns", b.store.FinishRun(b.ctx, j.ID, "w1", true))
}

// testFinishRunsConcurrent finishes the same runs from several goroutines
// at once, each in its own order: every run ends exactly once, in one of
// the calls, and no call fails (PostgreSQL must not deadlock).
func testFinishRunsConcurrent(t *testing.T, h Harness) {
	const jobs, callers = 60, 6
	b := setup(t, h)
	b.create(jobs)
	claimed, err := b.claimMany("b1", jobs)
	if err != nil || len(claimed) != jobs {
		t.Fatalf("ClaimMany(%d) = %d jobs, %v", jobs, len(claimed), err)
	}
	var (
		mu    sync.Mutex
		ended = make(map[string]int, jobs)
		wg    sync.WaitGroup
	)
	for c := range callers {
		runs := make([]intake.FinishParams, jobs)
		for i, j := range claimed {
			runs[i] = intake.FinishParams{JobID: j.ID, Owner: "b1", Done: i%2 == 0}
		}
		rand.Shuffle(len(runs), func(i, j int) { runs[i], runs[j] = runs[j], runs[i] })
		wg.Go(func() {
			errs := b.store.(intake.BatchFinisher).FinishRuns(b.ctx, runs)
			mu.Lock()
			defer mu.Unlock()
			for i, err := range errs {
				switch {
				case err == nil:
					ended[runs[i].JobID]++
				case !errors.Is(err, intake.ErrLeaseLost):
					t.Errorf("caller %d: FinishRuns of job %s: %v", c, runs[i].JobID, err)
				}
			}
		})
	}
	wg.Wait()
	for i, j := range claimed {
		if ended[j.ID] != 1 {
			t.Errorf("job %s ended %d times, want once", j.ID, ended[j.ID])
		}
		want, outcome := intake.StatusPending, intake.RunBatchDone
		if i%2 == 0 {
			want, outcome = intake.StatusCompleted, intake.RunCompleted
		}
		if got := b.get(j.ID); got.Status != want || got.LeaseOwner != "" {
			t.Errorf("job %s: %s under %q, want %s, no lease", j.ID, got.Status, got.LeaseOwner, want)
		}
		if rs := b.wantRuns(j.ID, 1); rs[0].Outcome != outcome {
			t.Errorf("run of job %s: %+v, want %s", j.ID, rs[0], outcome)
		}
	}
}
