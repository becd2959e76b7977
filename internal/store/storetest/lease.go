package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

func testClaimEmpty(t *testing.T, h Harness) {
	b := setup(t, h)
	_, err := b.store.Claim(b.ctx, intake.ClaimParams{Owner: "w1", LeaseTTL: lease})
	wantNoJob(t, "Claim on an empty store", err)
}

func testClaimOrder(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.create(3) // equal AvailableAt: ID order decides
	if got := b.claim("w1"); got.ID != jobs[0].ID {
		t.Fatalf("first claim got %s, want the oldest job %s", got.ID, jobs[0].ID)
	}
	b.clock.Advance(time.Second)
	// jobs[0] becomes pending again, now with the newest AvailableAt.
	if err := b.store.FinishRun(b.ctx, jobs[0].ID, "w1", false); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	for i, want := range []string{jobs[1].ID, jobs[2].ID, jobs[0].ID} {
		if got := b.claim(fmt.Sprintf("w%d", i+2)); got.ID != want {
			t.Errorf("claim %d got %s, want %s", i+2, got.ID, want)
		}
	}
	_, err := b.store.Claim(b.ctx, intake.ClaimParams{Owner: "w9", LeaseTTL: lease})
	wantNoJob(t, "Claim with every job processing", err)
}

func testClaimSetsLease(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	b.clock.Advance(time.Second)
	first := b.now()
	c := b.claim("w1")
	if c.ID != j.ID || c.Status != intake.StatusProcessing || c.LeaseOwner != "w1" || c.Runs != 1 {
		t.Errorf("claimed %+v, want job %s processing under w1 with Runs 1", c, j.ID)
	}
	wantTime(t, "StartedAt", c.StartedAt, first)
	wantTime(t, "LeaseExpiresAt", c.LeaseExpiresAt, first.Add(lease))
	wantTime(t, "UpdatedAt", c.UpdatedAt, first)
	wantSameJob(t, "GetJob after Claim", b.get(j.ID), c)

	b.clock.Advance(time.Second)
	if err := b.store.FinishRun(b.ctx, j.ID, "w1", false); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	b.clock.Advance(time.Second)
	c2 := b.claim("w2")
	if c2.Runs != 2 || c2.LeaseOwner != "w2" {
		t.Errorf("second claim: Runs %d owner %q, want 2 and w2", c2.Runs, c2.LeaseOwner)
	}
	wantTime(t, "StartedAt after the second claim", c2.StartedAt, first)
	wantTime(t, "LeaseExpiresAt after the second claim", c2.LeaseExpiresAt, b.now().Add(lease))

	for _, p := range []intake.ClaimParams{{Owner: "", LeaseTTL: lease}, {Owner: "w3", LeaseTTL: 0}} {
		_, err := b.store.Claim(b.ctx, p)
		wantCode(t, fmt.Sprintf("Claim(%+v)", p), err, intake.EINVALID)
	}
}

func testClaimByJobID(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.create(3)
	if got := b.claimID(jobs[2].ID, "w1"); got.ID != jobs[2].ID {
		t.Fatalf("Claim by JobID got %s, want %s", got.ID, jobs[2].ID)
	}
	b.claimID(jobs[1].ID, "w2")
	if err := b.store.Reschedule(b.ctx, jobs[1].ID, "w2", b.clock.Now().Add(time.Minute), "later", false); err != nil {
		t.Fatalf("Reschedule: %v", err)
	}
	for name, id := range map[string]string{
		"processing": jobs[2].ID,
		"scheduled":  jobs[1].ID,
		"unknown":    intake.NewID(),
		"malformed":  "not-a-uuid",
	} {
		_, err := b.store.Claim(b.ctx, intake.ClaimParams{Owner: "w3", LeaseTTL: lease, JobID: id})
		wantNoJob(t, "Claim of a "+name+" job", err)
	}
	if got := b.claim("w4"); got.ID != jobs[0].ID {
		t.Errorf("Claim got %s, want the remaining pending job %s", got.ID, jobs[0].ID)
	}
}

func testClaimConcurrent(t *testing.T, h Harness) {
	const jobs, workers = 200, 16
	b := setup(t, h)
	b.create(jobs)

	var (
		mu    sync.Mutex
		owner = make(map[string]string, jobs) // job ID → owner that claimed it
		wg    sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for run := 0; ; run++ {
				me := fmt.Sprintf("w%d-%d", w, run)
				j, err := b.store.Claim(b.ctx, intake.ClaimParams{Owner: me, LeaseTTL: lease})
				if errors.Is(err, intake.ErrNoJob) {
					return
				}
				if err != nil {
					t.Errorf("worker %d: Claim: %v", w, err)
					return
				}
				mu.Lock()
				if prev, dup := owner[j.ID]; dup {
					t.Errorf("job %s claimed twice, by %s and %s", j.ID, prev, me)
				}
				owner[j.ID] = me
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(owner) != jobs {
		t.Errorf("%d jobs claimed, want %d", len(owner), jobs)
	}
	p := b.list(intake.JobFilter{Limit: intake.MaxPageSize})
	for _, j := range p.Jobs {
		if j.Status != intake.StatusProcessing || j.LeaseOwner != owner[j.ID] || j.Runs != 1 {
			t.Errorf("job %s: status %s owner %q runs %d; want processing under %q, Runs 1",
				j.ID, j.Status, j.LeaseOwner, j.Runs, owner[j.ID])
		}
	}
}

func testHeartbeat(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	c := b.claim("w1")
	b.clock.Advance(30 * time.Second)
	if err := b.store.Heartbeat(b.ctx, j.ID, "w1", lease); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	extended := b.now().Add(lease)
	wantTime(t, "LeaseExpiresAt after Heartbeat", b.get(j.ID).LeaseExpiresAt, extended)

	wantLeaseLost(t, "Heartbeat by another owner", b.store.Heartbeat(b.ctx, j.ID, "w2", time.Hour))
	wantLeaseLost(t, "Heartbeat of an unknown job", b.store.Heartbeat(b.ctx, intake.NewID(), "w1", lease))
	wantTime(t, "LeaseExpiresAt after a fenced Heartbeat", b.get(j.ID).LeaseExpiresAt, extended)

	// Past the claim's expiry but inside the extended lease: not expired.
	b.clock.Advance(45 * time.Second)
	if !b.now().After(c.LeaseExpiresAt) {
		t.Fatal("test clock did not pass the original lease")
	}
	if r := b.maintain(5); len(r.Expired)+len(r.ExpiredFailed) != 0 {
		t.Errorf("Maintain expired a heartbeated lease: %+v", r)
	}
	if err := b.store.FinishRun(b.ctx, j.ID, "w1", false); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	wantLeaseLost(t, "Heartbeat after FinishRun", b.store.Heartbeat(b.ctx, j.ID, "w1", lease))
}

func testPlan(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.create(3)
	b.claimID(jobs[0].ID, "w1")
	wantLeaseLost(t, "Plan by another owner", b.store.Plan(b.ctx, jobs[0].ID, "w2", 10, []byte("x")))
	if j := b.get(jobs[0].ID); j.Planned || j.Total != intake.TotalUnknown || len(j.Checkpoint) != 0 {
		t.Errorf("fenced Plan changed the job: %+v", j)
	}
	if err := b.store.Plan(b.ctx, jobs[0].ID, "w1", 10, []byte("cp0")); err != nil {
		t.Fatalf("Plan: %v", err)
	}
	j := b.get(jobs[0].ID)
	if !j.Planned || j.Total != 10 {
		t.Errorf("after Plan: Planned %v Total %d, want true and 10", j.Planned, j.Total)
	}
	wantCheckpoint(t, j, "cp0")

	b.claimID(jobs[1].ID, "w2")
	if err := b.store.Plan(b.ctx, jobs[1].ID, "w2", intake.TotalUnknown, nil); err != nil {
		t.Fatalf("Plan with an unknown total: %v", err)
	}
	if j := b.get(jobs[1].ID); !j.Planned || j.Total != intake.TotalUnknown {
		t.Errorf("after Plan(TotalUnknown): Planned %v Total %d", j.Planned, j.Total)
	}
	wantCode(t, "Plan with a negative total", b.store.Plan(b.ctx, jobs[1].ID, "w2", -5, nil), intake.EINVALID)
	wantLeaseLost(t, "Plan of a pending job", b.store.Plan(b.ctx, jobs[2].ID, "w1", 1, nil))
}

func testRecordDocument(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	b.claim("w1")
	if err := b.store.Plan(b.ctx, j.ID, "w1", 4, []byte("cp0")); err != nil {
		t.Fatalf("Plan: %v", err)
	}
	b.clock.Advance(time.Second)
	d1 := b.record(j.ID, 1, "w1")
	if !intake.ValidID(d1.ID) {
		t.Errorf("recorded document ID = %q, want a UUID set by the store", d1.ID)
	}
	got := b.get(j.ID)
	if got.Collected != 1 {
		t.Errorf("Collected = %d, want 1", got.Collected)
	}
	wantCheckpoint(t, got, "cp1")
	wantTime(t, "UpdatedAt", got.UpdatedAt, b.now())
	stored, err := b.store.GetDocument(b.ctx, j.ID, 1)
	if err != nil {
		t.Fatalf("GetDocument: %v", err)
	}
	wantSameDoc(t, "GetDocument", stored, d1)

	for _, seq := range []int{0, 1, 3} {
		err := b.store.RecordDocument(b.ctx, "w1", b.doc(j.ID, seq, "w1"), []byte("bad"))
		wantCode(t, fmt.Sprintf("RecordDocument seq %d with Collected 1", seq), err, intake.ECONFLICT)
	}
	wantLeaseLost(t, "RecordDocument by another owner",
		b.store.RecordDocument(b.ctx, "w2", b.doc(j.ID, 2, "w2"), []byte("zombie")))
	got = b.get(j.ID)
	if got.Collected != 1 {
		t.Errorf("refused RecordDocument changed Collected to %d", got.Collected)
	}
	wantCheckpoint(t, got, "cp1")
	_, err = b.store.GetDocument(b.ctx, j.ID, 2)
	wantCode(t, "GetDocument of a refused document", err, intake.ENOTFOUND)

	// A caller-chosen ID is kept.
	d2 := b.doc(j.ID, 2, "w1")
	d2.ID = intake.NewID()
	want := d2.ID
	if err := b.store.RecordDocument(b.ctx, "w1", d2, []byte("cp2")); err != nil {
		t.Fatalf("RecordDocument: %v", err)
	}
	if stored, err := b.store.GetDocument(b.ctx, j.ID, 2); err != nil || stored.ID != want {
		t.Errorf("GetDocument(2) = %+v, %v; want ID %s", stored, err, want)
	}

	// Progress survives runs; the previous run's owner is fenced out.
	if err := b.store.FinishRun(b.ctx, j.ID, "w1", false); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	c := b.claim("w3")
	if c.Collected != 2 {
		t.Errorf("next run starts with Collected %d, want 2", c.Collected)
	}
	wantCheckpoint(t, c, "cp2")
	wantLeaseLost(t, "RecordDocument by the previous run",
		b.store.RecordDocument(b.ctx, "w1", b.doc(j.ID, 3, "w1"), nil))
	b.record(j.ID, 3, "w3")
	if got := b.get(j.ID); got.Collected != 3 {
		t.Errorf("Collected = %d, want 3", got.Collected)
	}
}

func testFinishNotDone(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	b.claim("w1")
	wantLeaseLost(t, "FinishRun by another owner", b.store.FinishRun(b.ctx, j.ID, "w2", false))
	if err := b.store.Reschedule(b.ctx, j.ID, "w1", b.clock.Now(), "boom", true); err != nil {
		t.Fatalf("Reschedule: %v", err)
	}
	b.maintain(5)
	b.claim("w2")
	b.record(j.ID, 1, "w2")
	b.clock.Advance(time.Second)
	if err := b.store.FinishRun(b.ctx, j.ID, "w2", false); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	got := b.get(j.ID)
	if got.Status != intake.StatusPending || got.LeaseOwner != "" || !got.LeaseExpiresAt.IsZero() ||
		got.Attempts != 0 || got.LastError != "" || got.Collected != 1 || !got.CompletedAt.IsZero() {
		t.Errorf("after FinishRun(false): %+v; want pending, no lease, Attempts 0, no LastError, Collected 1", got)
	}
	wantTime(t, "AvailableAt", got.AvailableAt, b.now())
	wantLeaseLost(t, "second FinishRun", b.store.FinishRun(b.ctx, j.ID, "w2", false))
}

func testFinishDone(t *testing.T, h Harness) {
	tests := []struct {
		name      string
		total     int
		collect   int
		wantTotal int
	}{
		{"unknown total becomes Collected", intake.TotalUnknown, 2, 2},
		{"known total is kept", 5, 2, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, h)
			j := b.create(1)[0]
			b.claim("w1")
			if err := b.store.Plan(b.ctx, j.ID, "w1", tt.total, nil); err != nil {
				t.Fatalf("Plan: %v", err)
			}
			for seq := 1; seq <= tt.collect; seq++ {
				b.record(j.ID, seq, "w1")
			}
			b.clock.Advance(time.Second)
			if err := b.store.FinishRun(b.ctx, j.ID, "w1", true); err != nil {
				t.Fatalf("FinishRun: %v", err)
			}
			got := b.get(j.ID)
			if got.Status != intake.StatusCompleted || got.Total != tt.wantTotal || got.LeaseOwner != "" || !got.LeaseExpiresAt.IsZero() {
				t.Errorf("after FinishRun(true): status %s Total %d owner %q; want completed, Total %d, no lease",
					got.Status, got.Total, got.LeaseOwner, tt.wantTotal)
			}
			wantTime(t, "CompletedAt", got.CompletedAt, b.now())
			wantLeaseLost(t, "FinishRun of a completed job", b.store.FinishRun(b.ctx, j.ID, "w1", true))
			_, err := b.store.Claim(b.ctx, intake.ClaimParams{Owner: "w2", LeaseTTL: lease, JobID: j.ID})
			wantNoJob(t, "Claim of a completed job", err)
		})
	}
}

func testReschedule(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	b.claim("w1")
	// at has sub-millisecond digits; the store keeps milliseconds.
	delay := time.Minute + 123_456*time.Nanosecond
	at := b.clock.Now().Add(delay)
	wantLeaseLost(t, "Reschedule by another owner", b.store.Reschedule(b.ctx, j.ID, "w2", at, "x", true))
	if err := b.store.Reschedule(b.ctx, j.ID, "w1", at, "boom", true); err != nil {
		t.Fatalf("Reschedule: %v", err)
	}
	got := b.get(j.ID)
	if got.Status != intake.StatusScheduled || got.LeaseOwner != "" || !got.LeaseExpiresAt.IsZero() ||
		got.Attempts != 1 || got.LastError != "boom" {
		t.Errorf("after Reschedule: %+v; want scheduled, no lease, Attempts 1, LastError boom", got)
	}
	wantTime(t, "AvailableAt", got.AvailableAt, at)
	wantLeaseLost(t, "Heartbeat after Reschedule", b.store.Heartbeat(b.ctx, j.ID, "w1", lease))
	_, err := b.store.Claim(b.ctx, intake.ClaimParams{Owner: "w2", LeaseTTL: lease})
	wantNoJob(t, "Claim of a scheduled job", err)

	b.clock.Advance(delay - time.Millisecond)
	if r := b.maintain(5); len(r.Promoted) != 0 {
		t.Errorf("Maintain promoted %v before the job was due", r.Promoted)
	}
	b.clock.Advance(time.Millisecond) // exactly at
	if r := b.maintain(5); len(r.Promoted) != 1 || r.Promoted[0] != j.ID {
		t.Fatalf("Maintain promoted %v, want [%s]", r.Promoted, j.ID)
	}
	if s := b.get(j.ID).Status; s != intake.StatusPending {
		t.Errorf("status after promotion = %s, want pending", s)
	}
	c := b.claim("w3")
	if c.Attempts != 1 || c.Runs != 2 {
		t.Errorf("claimed after promotion: Attempts %d Runs %d, want 1 and 2", c.Attempts, c.Runs)
	}
	if err := b.store.Reschedule(b.ctx, j.ID, "w3", b.clock.Now(), "rate limited", false); err != nil {
		t.Fatalf("Reschedule without counting: %v", err)
	}
	if got := b.get(j.ID); got.Attempts != 1 || got.LastError != "rate limited" {
		t.Errorf("Reschedule(countAttempt false): Attempts %d LastError %q, want 1 and %q", got.Attempts, got.LastError, "rate limited")
	}
}

func testFail(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	b.claim("w1")
	wantLeaseLost(t, "Fail by another owner", b.store.Fail(b.ctx, j.ID, "w2", "x"))
	b.clock.Advance(time.Second)
	if err := b.store.Fail(b.ctx, j.ID, "w1", "invalid config"); err != nil {
		t.Fatalf("Fail: %v", err)
	}
	got := b.get(j.ID)
	if got.Status != intake.StatusFailed || got.LastError != "invalid config" || got.LeaseOwner != "" || !got.LeaseExpiresAt.IsZero() {
		t.Errorf("after Fail: %+v; want failed with LastError and no lease", got)
	}
	wantTime(t, "CompletedAt", got.CompletedAt, b.now())
	wantLeaseLost(t, "second Fail", b.store.Fail(b.ctx, j.ID, "w1", "again"))
	_, err := b.store.Claim(b.ctx, intake.ClaimParams{Owner: "w2", LeaseTTL: lease})
	wantNoJob(t, "Claim of a failed job", err)
}
