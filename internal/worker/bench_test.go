package worker

import (
	"context"
	"testing"

	"github.com/intake-dev/intake"
)

// BenchmarkRunDocuments measures documents per second through one run:
// Source.Next (zero delay), Blobs.Put to the file store (fsynced, renamed),
// and RecordDocument in SQLite under the lease fence. One job of b.N
// documents is collected in a single batch.
//
//	go test -run '^$' -bench RunDocuments -benchtime 2000x ./internal/worker/
func BenchmarkRunDocuments(b *testing.B) {
	bd := newBundle(b)
	w, _ := bd.worker(b, Config{BatchFraction: 10000}, nil, &seqSource{})
	job := bd.createJob(b, "seq", seqJob(b.N))
	b.SetBytes(int64(len(docBody(1))))
	b.ResetTimer()
	claimed, err := w.RunOnce(context.Background(), job.ID)
	b.StopTimer()
	if err != nil || !claimed {
		b.Fatalf("RunOnce = %v, %v", claimed, err)
	}
	if got := bd.job(b, job.ID); got.Status != intake.StatusCompleted || got.Collected != b.N {
		b.Fatalf("job %s with %d of %d documents", got.Status, got.Collected, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}
