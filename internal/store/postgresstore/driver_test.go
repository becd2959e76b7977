package postgresstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store/storetest"
	"github.com/intake-dev/intake/internal/testenv"
)

// TestConformance runs the store conformance suite, each test in a fresh
// schema of its own that is dropped when it ends.
func TestConformance(t *testing.T) {
	t.Parallel()
	testenv.Postgres.URL(t)
	storetest.Run(t, open)
}

func BenchmarkStore(b *testing.B) { storetest.Benchmark(b, open) }

// BenchmarkClaimMany measures claiming in batches of ten, one statement per
// batch, each job then finished on its own: the pattern of a busy pool.
func BenchmarkClaimMany(b *testing.B) {
	const batch = 10
	s, d := openStore(b, time.Now)
	ctx := b.Context()
	for n := b.N; n > 0; n -= 1000 {
		in := make([]*intake.Job, min(n, 1000))
		for i := range in {
			in[i] = &intake.Job{SourceType: "filings"}
		}
		if _, err := s.CreateJobs(ctx, in); err != nil {
			b.Fatalf("seed jobs: %v", err)
		}
	}
	b.ResetTimer()
	for done, round := 0, 0; done < b.N; round++ {
		owner := fmt.Sprintf("bench-%d", round)
		now := time.Now().UTC().Truncate(time.Millisecond)
		jobs, err := d.ClaimMany(ctx, now, intake.ClaimParams{Owner: owner, LeaseTTL: time.Minute}, min(batch, b.N-done))
		if err != nil {
			b.Fatalf("claim: %v", err)
		}
		for _, j := range jobs {
			if err := s.FinishRun(ctx, j.ID, owner, true); err != nil {
				b.Fatalf("finish run: %v", err)
			}
		}
		done += len(jobs)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}
