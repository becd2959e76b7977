package postgresstore_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store/postgresstore"
	"github.com/intake-dev/intake/internal/store/storetest"
	"github.com/intake-dev/intake/internal/testenv"
)

// TestPendingCountQueryCountsClaimable checks that the autoscaler's query
// (the Helm chart's KEDA postgresql trigger) counts exactly the jobs a
// worker can claim, whatever the other jobs' states.
func TestPendingCountQueryCountsClaimable(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(storetest.Epoch)
	s, d := openStore(t, clock.Now)
	ctx := t.Context()
	count := func() int64 {
		t.Helper()
		conn, err := d.Pool().Acquire(ctx)
		if err != nil {
			t.Fatalf("acquire: %v", err)
		}
		defer conn.Release()
		// KEDA runs the query on a plain connection; the test's schema
		// stands in for the database's default one.
		if _, err := conn.Exec(ctx, "SET search_path TO "+d.Schema()); err != nil {
			t.Fatalf("search_path: %v", err)
		}
		var n int64
		if err := conn.QueryRow(ctx, postgresstore.PendingCountQuery).Scan(&n); err != nil {
			t.Fatalf("PendingCountQuery: %v", err)
		}
		return n
	}
	in := make([]*intake.Job, 7)
	for i := range in {
		in[i] = &intake.Job{SourceType: "filings"}
	}
	jobs, err := s.CreateJobs(ctx, in)
	if err != nil {
		t.Fatalf("CreateJobs: %v", err)
	}
	claim := func(owner, id string) {
		t.Helper()
		if _, err := s.Claim(ctx, intake.ClaimParams{Owner: owner, LeaseTTL: time.Hour, JobID: id}); err != nil {
			t.Fatalf("Claim %s: %v", id, err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// One job in every other status: processing, scheduled (not due),
	// completed, failed, cancelled.
	claim("w0", jobs[0].ID)
	claim("w1", jobs[1].ID)
	must(s.Reschedule(ctx, jobs[1].ID, "w1", clock.Now().Add(time.Minute), "later", true))
	claim("w2", jobs[2].ID)
	must(s.FinishRun(ctx, jobs[2].ID, "w2", true))
	claim("w3", jobs[3].ID)
	must(s.Fail(ctx, jobs[3].ID, "w3", "broken"))
	_, err = s.Cancel(ctx, jobs[4].ID)
	must(err)
	maintain := func() {
		t.Helper()
		_, err := s.Maintain(ctx, 5)
		must(err)
	}
	claimable := func() int64 {
		t.Helper()
		var claimed []string
		for {
			j, err := s.Claim(ctx, intake.ClaimParams{Owner: fmt.Sprintf("probe-%d", len(claimed)), LeaseTTL: time.Minute})
			if errors.Is(err, intake.ErrNoJob) {
				break
			}
			must(err)
			claimed = append(claimed, j.ID)
		}
		for i, id := range claimed {
			must(s.FinishRun(ctx, id, fmt.Sprintf("probe-%d", i), false))
		}
		return int64(len(claimed))
	}

	steps := []struct {
		name string
		act  func()
		want int64
	}{
		{"two pending among every other status", func() {}, 2},
		{"scheduled job due but not promoted", func() { clock.Advance(time.Minute) }, 2},
		{"promoted", maintain, 3},
		{"lease expired and job made pending", func() { clock.Advance(time.Hour); maintain() }, 4},
		{"all claimed", func() {
			for i := range 4 {
				claim(fmt.Sprintf("x%d", i), "")
			}
		}, 0},
	}
	for _, st := range steps {
		st.act()
		if n := count(); n != st.want {
			t.Errorf("%s: PendingCountQuery counts %d jobs, want %d", st.name, n, st.want)
		}
		if n := claimable(); n != count() {
			t.Errorf("%s: %d jobs were claimable, PendingCountQuery counts %d", st.name, n, count())
		}
	}
}
