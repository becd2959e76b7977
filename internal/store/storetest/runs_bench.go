package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

// benchRunStatsRuns is the number of ended runs benchRunStats reads.
const benchRunStatsRuns = 2000

// benchRunStats measures one RunStats call, the query behind the run
// metrics that every API replica makes at most every 10 s, over a store
// holding benchRunStatsRuns ended runs of as many jobs, half of them
// completed.
func benchRunStats(b *testing.B, h Harness) {
	s := open(b, h, time.Now)
	ctx := b.Context()
	seed(b, s, benchRunStatsRuns)
	for i := range benchRunStatsRuns {
		owner := fmt.Sprintf("bench-%d", i)
		j, err := s.Claim(ctx, intake.ClaimParams{Owner: owner, LeaseTTL: time.Minute, Worker: "bench"})
		if err != nil {
			b.Fatalf("claim: %v", err)
		}
		if err := s.FinishRun(ctx, j.ID, owner, i%2 == 0); err != nil {
			b.Fatalf("finish run: %v", err)
		}
	}
	p := intake.RunStatsParams{
		DurationBuckets:   []float64{0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6},
		CompletionBuckets: []float64{1, 2.5, 6.25, 15.6, 39, 97.7, 244, 610, 1526, 3815, 9537, 23842},
	}
	b.ResetTimer()
	for range b.N {
		st, err := s.RunStats(ctx, p)
		if err != nil {
			b.Fatalf("run stats: %v", err)
		}
		if n := st.Runs[intake.RunCompleted].Count + st.Runs[intake.RunBatchDone].Count; n != benchRunStatsRuns {
			b.Fatalf("run stats counted %d runs, want %d", n, benchRunStatsRuns)
		}
	}
}
