package storetest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

// Benchmark measures a store's queue throughput with no-op work: claim a job
// and finish it, serially and from parallel goroutines (b.RunParallel, so
// -cpu sets the number of workers), the rate of recording documents into
// one job, and the RunStats query over 2000 run records, with the stores on
// the wall clock.
func Benchmark(b *testing.B, h Harness) {
	b.Run("ClaimFinish/Serial", func(b *testing.B) { benchClaimFinish(b, h, false) })
	b.Run("ClaimFinish/Parallel", func(b *testing.B) { benchClaimFinish(b, h, true) })
	b.Run("RecordDocument", func(b *testing.B) { benchRecordDocument(b, h) })
	b.Run("RunStats", func(b *testing.B) { benchRunStats(b, h) })
}

// seed creates n pending jobs in batches.
func seed(b *testing.B, s intake.Store, n int) {
	b.Helper()
	const batch = 1000
	for n > 0 {
		in := make([]*intake.Job, min(n, batch))
		for i := range in {
			in[i] = newJob(i)
		}
		if _, err := s.CreateJobs(b.Context(), in); err != nil {
			b.Fatalf("seed jobs: %v", err)
		}
		n -= len(in)
	}
}

func benchClaimFinish(b *testing.B, h Harness, parallel bool) {
	s := open(b, h, time.Now)
	ctx := b.Context()
	seed(b, s, b.N)
	var runs atomic.Int64
	run := func() error {
		owner := fmt.Sprintf("bench-%d", runs.Add(1))
		j, err := s.Claim(ctx, intake.ClaimParams{Owner: owner, LeaseTTL: time.Minute})
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		if err := s.FinishRun(ctx, j.ID, owner, true); err != nil {
			return fmt.Errorf("finish run: %w", err)
		}
		return nil
	}
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := run(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for range b.N {
			if err := run(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

func benchRecordDocument(b *testing.B, h Harness) {
	s := open(b, h, time.Now)
	ctx := b.Context()
	seed(b, s, 1)
	j, err := s.Claim(ctx, intake.ClaimParams{Owner: "bench", LeaseTTL: time.Hour})
	if err != nil {
		b.Fatalf("claim: %v", err)
	}
	checkpoint := make([]byte, 64)
	b.ResetTimer()
	for i := range b.N {
		seq := i + 1
		d := &intake.Document{
			JobID: j.ID, Seq: seq, Name: "doc.txt", DocumentType: "MGT-7", ContentType: "text/plain",
			SizeBytes: 4096, SHA256: fmt.Sprintf("%064x", seq), BlobKey: intake.DocumentBlobKey(j.ID, seq, "bench"),
			CollectedAt: time.Now(),
		}
		if err := s.RecordDocument(ctx, "bench", d, checkpoint); err != nil {
			b.Fatalf("record document %d: %v", seq, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}
