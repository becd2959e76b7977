package worker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob"
	"github.com/intake-dev/intake/internal/blob/azureblob"
	"github.com/intake-dev/intake/internal/testenv"
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

// BenchmarkRunDocumentsAzurite is BenchmarkRunDocuments with the documents
// streamed to Azure Blob Storage (Azurite) in a fresh container:
//
//	eval "$(scripts/test-services.sh env)"
//	go test -run '^$' -bench RunDocumentsAzurite -benchtime 500x ./internal/worker/
func BenchmarkRunDocumentsAzurite(b *testing.B) {
	conn := testenv.Azurite.URL(b)
	bd := newBundle(b)
	name := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	d, err := azureblob.Open(b.Context(), azureblob.Config{ConnectionString: conn, Container: name, CreateContainer: true})
	if err != nil {
		b.Fatal(err)
	}
	blobs := blob.NewBucket(d)
	b.Cleanup(func() {
		_ = blobs.Close()
		if c, err := azblob.NewClientFromConnectionString(conn, nil); err == nil {
			_, _ = c.DeleteContainer(context.Background(), name, nil)
		}
	})
	bd.blobs = blobs
	w, _ := bd.worker(b, Config{BatchFraction: 10000}, nil, &seqSource{})
	job := bd.createJob(b, "seq", seqJob(b.N))
	b.SetBytes(int64(len(docBody(1))))
	b.ResetTimer()
	claimed, err := w.RunOnce(context.Background(), job.ID)
	b.StopTimer()
	if err != nil || !claimed {
		b.Fatalf("RunOnce = %v, %v", claimed, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}
