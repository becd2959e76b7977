package worker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob"
	"github.com/intake-dev/intake/internal/blob/azureblob"
	"github.com/intake-dev/intake/internal/testenv"
)

// BenchmarkRunDocuments measures documents per second through one run:
// Source.Next (zero delay), the blob written to the file store, and the
// document recorded in SQLite under the lease fence. One job of b.N
// documents is collected in a single batch, in groups of
// DefaultRecordBatch (blobs put unsynced, one syncfs and one commit per
// group) and one at a time (RecordBatch 1: three fsyncs and a commit per
// document).
//
//	go test -run '^$' -bench 'RunDocuments$' -benchtime 2000x ./internal/worker/
func BenchmarkRunDocuments(b *testing.B) {
	eachRecordBatch(b, func(b *testing.B, bd *bundle) {})
}

// BenchmarkRunDocumentsPostgres is BenchmarkRunDocuments with the job store
// on PostgreSQL, in a schema of its own:
//
//	INTAKE_TEST_POSTGRES_URL=postgres://… go test -run '^$' -bench RunDocumentsPostgres -benchtime 2000x ./internal/worker/
func BenchmarkRunDocumentsPostgres(b *testing.B) {
	eachRecordBatch(b, func(b *testing.B, bd *bundle) { bd.store = pgStore(b, bd.clock.Now) })
}

// BenchmarkRunDocumentsAzurite is BenchmarkRunDocuments with the documents
// streamed to Azure Blob Storage (Azurite) in a fresh container, where a
// put is durable once committed and a group saves only commits:
//
//	eval "$(scripts/test-services.sh env)"
//	go test -run '^$' -bench RunDocumentsAzurite -benchtime 500x ./internal/worker/
func BenchmarkRunDocumentsAzurite(b *testing.B) {
	conn := testenv.Azurite.URL(b)
	eachRecordBatch(b, func(b *testing.B, bd *bundle) { bd.blobs = azuriteBucket(b, conn) })
}

// azuriteBucket opens a bucket on a fresh Azurite container that the
// benchmark's cleanup deletes.
func azuriteBucket(b *testing.B, conn string) *blob.Bucket {
	b.Helper()
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
	return blobs
}

// eachRecordBatch runs benchRunDocuments in groups of DefaultRecordBatch
// and one document at a time, on a bundle that setup adapts.
func eachRecordBatch(b *testing.B, setup func(*testing.B, *bundle)) {
	for _, batch := range []int{DefaultRecordBatch, 1} {
		b.Run(fmt.Sprintf("RecordBatch=%d", batch), func(b *testing.B) {
			bd := newBundle(b)
			setup(b, bd)
			benchRunDocuments(b, bd, batch)
		})
	}
}

// benchRunDocuments collects a job of b.N documents in one run.
func benchRunDocuments(b *testing.B, bd *bundle, recordBatch int) {
	w, _ := bd.worker(b, Config{BatchFraction: 10000, RecordBatch: recordBatch}, nil, &seqSource{})
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

// BenchmarkPoolDocuments measures documents per second through a worker
// pool as `intake work` runs it (Concurrency 4): eight jobs of b.N/8
// documents each, one batch per job, on SQLite and file blobs, timed from
// the pool's start until every document is recorded.
//
//	go test -run '^$' -bench 'PoolDocuments$' -benchtime 4000x ./internal/worker/
func BenchmarkPoolDocuments(b *testing.B) {
	eachPoolRecordBatch(b, func(b *testing.B, bd *bundle) {})
}

// BenchmarkPoolDocumentsPostgres is BenchmarkPoolDocuments with the job
// store on PostgreSQL.
//
//	INTAKE_TEST_POSTGRES_URL=postgres://… go test -run '^$' -bench PoolDocumentsPostgres -benchtime 4000x ./internal/worker/
func BenchmarkPoolDocumentsPostgres(b *testing.B) {
	eachPoolRecordBatch(b, func(b *testing.B, bd *bundle) { bd.store = pgStore(b, bd.clock.Now) })
}

// BenchmarkPoolDocumentsAzurite is BenchmarkPoolDocuments with the
// documents streamed to Azurite: four runs put their blobs at once.
//
//	eval "$(scripts/test-services.sh env)"
//	go test -run '^$' -bench PoolDocumentsAzurite -benchtime 4000x ./internal/worker/
func BenchmarkPoolDocumentsAzurite(b *testing.B) {
	conn := testenv.Azurite.URL(b)
	eachPoolRecordBatch(b, func(b *testing.B, bd *bundle) { bd.blobs = azuriteBucket(b, conn) })
}

// eachPoolRecordBatch runs benchPoolDocuments in groups of
// DefaultRecordBatch and one document at a time.
func eachPoolRecordBatch(b *testing.B, setup func(*testing.B, *bundle)) {
	for _, batch := range []int{DefaultRecordBatch, 1} {
		b.Run(fmt.Sprintf("RecordBatch=%d", batch), func(b *testing.B) {
			bd := newBundle(b)
			setup(b, bd)
			benchPoolDocuments(b, bd, batch)
		})
	}
}

// benchPoolDocuments collects eight jobs of about b.N/8 documents each
// with a pool of four.
func benchPoolDocuments(b *testing.B, bd *bundle, recordBatch int) {
	const jobs = 8
	w, _ := bd.worker(b, Config{Concurrency: 4, BatchFraction: 10000, PollInterval: 10 * time.Millisecond, RecordBatch: recordBatch}, nil, &seqSource{})
	want := 0
	for i := range jobs {
		n := max(1, (b.N+i)/jobs)
		bd.createJob(b, "seq", seqJob(n))
		want += n
	}
	b.SetBytes(int64(len(docBody(1))))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ResetTimer()
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Minute)
	for testutil.ToFloat64(w.metrics.documents.WithLabelValues("seq")) < float64(want) {
		if time.Now().After(deadline) {
			b.Fatalf("only %v of %d documents recorded", testutil.ToFloat64(w.metrics.documents.WithLabelValues("seq")), want)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatalf("Run = %v", err)
	}
	b.ReportMetric(float64(want)/b.Elapsed().Seconds(), "docs/s")
}
