package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/testenv"
)

// PendingCount checks a driver's autoscaler query (the Helm chart's KEDA
// trigger): count must give exactly the number of jobs a worker can claim
// from s, whatever the other jobs' states. s is a fresh, migrated store
// on clock. After it has made one job of every other status, the test
// calls extra, when not nil, to add states only that database has (an
// uncommitted MongoDB batch).
func PendingCount(t *testing.T, s intake.Store, clock *testenv.Clock, count func() int64, extra func()) {
	t.Helper()
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	claim := func(owner, id string) {
		t.Helper()
		_, err := s.Claim(ctx, intake.ClaimParams{Owner: owner, LeaseTTL: time.Hour, JobID: id})
		must(err)
	}
	in := make([]*intake.Job, 7)
	for i := range in {
		in[i] = newJob(i)
	}
	jobs, err := s.CreateJobs(ctx, in)
	must(err)
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
	if extra != nil {
		extra()
	}
	maintain := func() {
		_, err := s.Maintain(ctx, 5)
		must(err)
	}
	// claimable claims jobs until none is left, then puts them back.
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
			t.Errorf("%s: the autoscaler counts %d jobs, want %d", st.name, n, st.want)
		}
		if n := claimable(); n != count() {
			t.Errorf("%s: %d jobs were claimable, the autoscaler counts %d", st.name, n, count())
		}
	}
}
