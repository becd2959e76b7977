package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

// claimManyTests are the cases of batched claims (intake.BatchClaimer),
// which the store offers on every driver: in one statement where the
// driver can, one claim after another where it cannot.
var claimManyTests = []suiteCase{
	{"ClaimMany/OrderAndLeases", testClaimManyOrder},
	{"ClaimMany/FencedPerJob", testClaimManyFenced},
	{"ClaimMany/ConcurrentExclusive", testClaimManyConcurrent},
	{"ClaimMany/Invalid", testClaimManyInvalid},
}

// claimMany claims up to n jobs under owner.
func (b *bundle) claimMany(owner string, n int) ([]*intake.Job, error) {
	b.t.Helper()
	bc, ok := b.store.(intake.BatchClaimer)
	if !ok {
		b.t.Fatalf("the store (%T) does not claim in batches", b.store)
	}
	return bc.ClaimMany(b.ctx, intake.ClaimParams{Owner: owner, LeaseTTL: lease, Worker: "pool-1"}, n)
}

func testClaimManyOrder(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.create(5)
	b.clock.Advance(time.Second)
	at := b.now()
	got, err := b.claimMany("b1", 3)
	if err != nil {
		t.Fatalf("ClaimMany(3): %v", err)
	}
	wantIDs(t, "ClaimMany(3) of 5", got, jobs[0].ID, jobs[1].ID, jobs[2].ID)
	for _, c := range got {
		if c.Status != intake.StatusProcessing || c.LeaseOwner != "b1" || c.Runs != 1 {
			t.Errorf("claimed %s: status %s, owner %q, runs %d; want processing under b1, Runs 1", c.ID, c.Status, c.LeaseOwner, c.Runs)
		}
		wantTime(t, "StartedAt", c.StartedAt, at)
		wantTime(t, "LeaseExpiresAt", c.LeaseExpiresAt, at.Add(lease))
		wantSameJob(t, "GetJob after ClaimMany", b.get(c.ID), c)
		runs := b.wantRuns(c.ID, 1)
		wantRun(t, "the run ClaimMany opened", runs[0], intake.Run{
			JobID: c.ID, Number: 1, Worker: "pool-1", LeaseOwner: "b1", StartedAt: at, Outcome: intake.RunRunning,
		})
	}
	rest, err := b.claimMany("b2", 10)
	if err != nil {
		t.Fatalf("ClaimMany(10) of the last 2: %v", err)
	}
	wantIDs(t, "ClaimMany(10) of the last 2", rest, jobs[3].ID, jobs[4].ID)
	_, err = b.claimMany("b3", 1)
	wantNoJob(t, "ClaimMany with every job processing", err)
}

func testClaimManyFenced(t *testing.T, h Harness) {
	b := setup(t, h)
	b.create(2)
	got, err := b.claimMany("b1", 2)
	if err != nil || len(got) != 2 {
		t.Fatalf("ClaimMany(2) = %d jobs, %v", len(got), err)
	}
	first, second := got[0].ID, got[1].ID
	// One owner for the batch: each job is still fenced on its own.
	if err := b.store.FinishRun(b.ctx, first, "b1", true); err != nil {
		t.Fatalf("FinishRun of the first job: %v", err)
	}
	wantLeaseLost(t, "FinishRun of the first job again",
		b.store.FinishRun(b.ctx, first, "b1", true))
	wantLeaseLost(t, "Heartbeat of the second job by another owner",
		b.store.Heartbeat(b.ctx, second, "b2", lease))
	if err := b.store.Heartbeat(b.ctx, second, "b1", lease); err != nil {
		t.Errorf("Heartbeat of the second job by its owner: %v", err)
	}
	if j := b.get(second); j.Status != intake.StatusProcessing || j.LeaseOwner != "b1" {
		t.Errorf("second job %s under %q after the first finished, want processing under b1", j.Status, j.LeaseOwner)
	}
	// Its lease lapses like any other: maintenance takes it back.
	b.clock.Advance(lease + time.Second)
	if r := b.maintain(5); len(r.Expired) != 1 || r.Expired[0] != second {
		t.Errorf("Maintain after the lease = %+v, want %s expired", r, second)
	}
	wantLeaseLost(t, "FinishRun after the lease lapsed", b.store.FinishRun(b.ctx, second, "b1", false))
}

func testClaimManyConcurrent(t *testing.T, h Harness) {
	const jobs, pools, batch = 200, 8, 7
	b := setup(t, h)
	b.create(jobs)
	var (
		mu    sync.Mutex
		owner = make(map[string]string, jobs) // job ID → the batch that claimed it
		wg    sync.WaitGroup
	)
	for p := range pools {
		wg.Go(func() {
			for call := 0; ; call++ {
				me := fmt.Sprintf("p%d-%d", p, call)
				got, err := b.claimMany(me, batch)
				if errors.Is(err, intake.ErrNoJob) {
					return
				}
				if err != nil {
					t.Errorf("pool %d: ClaimMany: %v", p, err)
					return
				}
				if len(got) > batch {
					t.Errorf("pool %d: ClaimMany(%d) returned %d jobs", p, batch, len(got))
				}
				mu.Lock()
				for _, j := range got {
					if prev, dup := owner[j.ID]; dup {
						t.Errorf("job %s claimed twice, by %s and %s", j.ID, prev, me)
					}
					owner[j.ID] = me
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(owner) != jobs {
		t.Errorf("%d jobs claimed, want %d", len(owner), jobs)
	}
	for _, j := range b.list(intake.JobFilter{Limit: intake.MaxPageSize}).Jobs {
		if j.Status != intake.StatusProcessing || j.LeaseOwner != owner[j.ID] || j.Runs != 1 {
			t.Errorf("job %s: status %s owner %q runs %d; want processing under %q, Runs 1",
				j.ID, j.Status, j.LeaseOwner, j.Runs, owner[j.ID])
		}
	}
}

func testClaimManyInvalid(t *testing.T, h Harness) {
	b := setup(t, h)
	b.create(1)
	bc := b.store.(intake.BatchClaimer)
	ok := intake.ClaimParams{Owner: "b1", LeaseTTL: lease}
	tests := []struct {
		name string
		p    intake.ClaimParams
		n    int
	}{
		{"no owner", intake.ClaimParams{LeaseTTL: lease}, 1},
		{"no lease", intake.ClaimParams{Owner: "b1"}, 1},
		{"a job ID", intake.ClaimParams{Owner: "b1", LeaseTTL: lease, JobID: intake.NewID()}, 1},
		{"no jobs", ok, 0},
		{"more than a page", ok, intake.MaxPageSize + 1},
	}
	for _, tt := range tests {
		_, err := bc.ClaimMany(b.ctx, tt.p, tt.n)
		wantCode(t, "ClaimMany with "+tt.name, err, intake.EINVALID)
	}
	if got, err := bc.ClaimMany(b.ctx, ok, 1); err != nil || len(got) != 1 {
		t.Errorf("ClaimMany after the refusals = %d jobs, %v; want the pending job", len(got), err)
	}
}
