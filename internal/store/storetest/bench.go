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
// one job, one at a time and in groups of 64 (RecordDocuments), and the
// RunStats query over 2000 run records, with the stores on
// the wall clock.
func Benchmark(b *testing.B, h Harness) {
	b.Run("ClaimFinish/Serial", func(b *testing.B) { benchClaimFinish(b, h, false) })
	b.Run("ClaimFinish/Parallel", func(b *testing.B) { benchClaimFinish(b, h, true) })
	b.Run("RecordDocument", func(b *testing.B) { benchRecordDocument(b, h) })
	b.Run("RecordDocuments/64", func(b *testing.B) { benchRecordDocuments(b, h, 64) })
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
	s, jobID := recordingJob(b, h)
	checkpoint := make([]byte, 64)
	b.ResetTimer()
	for i := range b.N {
		if err := s.RecordDocument(b.Context(), "bench", benchDoc(jobID, i+1), checkpoint); err != nil {
			b.Fatalf("record document %d: %v", i+1, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}

// benchRecordDocuments records b.N documents into one job in groups of
// size (the last one smaller).
func benchRecordDocuments(b *testing.B, h Harness, size int) {
	s, jobID := recordingJob(b, h)
	checkpoint := make([]byte, 64)
	b.ResetTimer()
	for from := 1; from <= b.N; from += size {
		recs := make([]intake.DocumentRecord, 0, size)
		for seq := from; seq < from+size && seq <= b.N; seq++ {
			recs = append(recs, intake.DocumentRecord{Document: benchDoc(jobID, seq), Checkpoint: checkpoint})
		}
		if _, err := s.RecordDocuments(b.Context(), "bench", recs); err != nil {
			b.Fatalf("record documents %d to %d: %v", from, from+len(recs)-1, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}

// recordingJob opens a store with one job claimed by the owner "bench".
func recordingJob(b *testing.B, h Harness) (intake.Store, string) {
	s := open(b, h, time.Now)
	seed(b, s, 1)
	j, err := s.Claim(b.Context(), intake.ClaimParams{Owner: "bench", LeaseTTL: time.Hour})
	if err != nil {
		b.Fatalf("claim: %v", err)
	}
	return s, j.ID
}

// benchDoc is document seq of the benchmark's job.
func benchDoc(jobID string, seq int) *intake.Document {
	return &intake.Document{
		JobID: jobID, Seq: seq, Name: "doc.txt", DocumentType: "MGT-7", ContentType: "text/plain",
		SizeBytes: 4096, SHA256: fmt.Sprintf("%064x", seq), BlobKey: intake.DocumentBlobKey(jobID, seq, "bench"),
		CollectedAt: time.Now(),
	}
}
