package worker

import (
	"encoding/json"
	"testing"

	"github.com/intake-dev/intake"
)

// boundedSeq is a seqSource of unknown total that declares a bound, as the
// api source declares max_pages, and has exactly that many documents.
type boundedSeq struct {
	*seqSource
	bound int
}

func (b boundedSeq) MaxDocuments(json.RawMessage) int { return b.bound }

// TestBoundedJobRuns runs jobs whose source declares max_pages-like bounds:
// each completes in at most four runs at 35 %, without a run that only
// finds out that the bound was reached.
func TestBoundedJobRuns(t *testing.T) {
	t.Parallel()
	for _, bound := range []int{1, 2, 3, 5, 7, 10, 31, 100} {
		b := newBundle(t)
		src := boundedSeq{seqSource: &seqSource{exhaustAfter: bound}, bound: bound}
		w, _ := b.worker(t, Config{}, nil, src)
		job := b.createJob(t, "seq", seqJob(intake.TotalUnknown))
		runs := 0
		for ; runs < 10 && b.job(t, job.ID).Status != intake.StatusCompleted; runs++ {
			runOnce(t, w, job.ID)
		}
		got := b.job(t, job.ID)
		wantStatus(t, got, intake.StatusCompleted)
		if got.Collected != bound || runs > 4 {
			t.Errorf("max %d: completed with %d documents in %d runs, want %d in at most 4", bound, got.Collected, runs, bound)
		}
	}
}
