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
	p := telemetryBounds // the run collector's, which the SQL stores count into
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
