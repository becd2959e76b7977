package worker

import (
	"context"
	"strings"
	"testing"

	"github.com/intake-dev/intake"
)

// TestRunRecords checks what the worker writes into the run history: its
// identity, the lease owner, the batch and the documents of each run.
func TestRunRecords(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	w, _ := b.worker(t, Config{Identity: "intake-worker-x7k2p-abcde"}, nil, &seqSource{})
	job := b.createJob(t, "seq", seqJob(10)) // 35 %: batches of 3, 3, 3, 1
	for range 4 {
		runOnce(t, w, job.ID)
	}
	wantStatus(t, b.job(t, job.ID), intake.StatusCompleted)
	runs, err := b.store.ListRuns(context.Background(), job.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		batch   int
		outcome intake.RunOutcome
	}{{3, intake.RunBatchDone}, {3, intake.RunBatchDone}, {3, intake.RunBatchDone}, {1, intake.RunCompleted}}
	if len(runs) != len(want) {
		t.Fatalf("%d run records, want %d: %+v", len(runs), len(want), runs)
	}
	owners := map[string]bool{}
	for i, r := range runs {
		if r.Number != i+1 || r.Worker != "intake-worker-x7k2p-abcde" || r.Batch != want[i].batch ||
			r.Collected != want[i].batch || r.Outcome != want[i].outcome || r.EndedAt.IsZero() || r.Error != "" {
			t.Errorf("run %d = %+v; want worker intake-worker-x7k2p-abcde, batch and collected %d, outcome %s",
				i+1, r, want[i].batch, want[i].outcome)
		}
		if !strings.HasPrefix(r.LeaseOwner, r.Worker+"-") || owners[r.LeaseOwner] {
			t.Errorf("run %d lease owner %q: want a fresh owner starting with the worker's identity", i+1, r.LeaseOwner)
		}
		owners[r.LeaseOwner] = true
	}
}
