package telemetry

import (
	"context"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
)

// blobBuckets spans a local file write to a large upload to a remote
// object store.
var blobBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

var blobOps = []string{"put", "get", "delete", "list", "ping", "close", "sync"}

// InstrumentBlobStore returns b with every call counted in
// intake_blob_operations_total{operation,outcome} and timed in
// intake_blob_operation_duration_seconds{operation}, and the bytes written
// and read counted in intake_blob_bytes_total{operation="put|get"}.
// Results and errors pass through unchanged.
//
// A put's duration includes reading its source; a get's covers opening
// the blob, and its bytes are counted as the caller reads the body, which
// stays an io.Seeker when the backend's is. A list's duration includes
// the callbacks, and a callback's error is the list's outcome. Wrapping
// several blob stores with one registry shares the metrics; a nil reg
// registers nothing.
//
// The wrapper is an intake.BlobSyncer when b is: PutUnsynced counts as a
// put, and Sync as operation sync.
func InstrumentBlobStore(b intake.BlobStore, reg prometheus.Registerer) intake.BlobStore {
	bytes := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "intake_blob_bytes_total",
		Help: "Bytes written to (put) and read from (get) blob storage.",
	}, []string{"operation"}))
	bs := &blobStore{
		next:     b,
		m:        newOperations(reg, "blob", "blob store", blobBuckets, blobOps),
		putBytes: bytes.WithLabelValues("put"),
		getBytes: bytes.WithLabelValues("get"),
	}
	if syncer, ok := b.(intake.BlobSyncer); ok {
		return &syncingBlobStore{blobStore: bs, syncer: syncer}
	}
	return bs
}

// syncingBlobStore is the wrapper of a blob store that syncs in groups.
type syncingBlobStore struct {
	*blobStore
	syncer intake.BlobSyncer
}

func (b *syncingBlobStore) PutUnsynced(ctx context.Context, key string, r io.Reader, contentType string) (info *intake.BlobInfo, err error) {
	defer b.m.observe("put", time.Now(), &err)
	info, err = b.syncer.PutUnsynced(ctx, key, r, contentType)
	if err == nil && info != nil {
		b.putBytes.Add(float64(info.Size))
	}
	return info, err
}

func (b *syncingBlobStore) Sync(ctx context.Context, keys []string) (err error) {
	defer b.m.observe("sync", time.Now(), &err)
	return b.syncer.Sync(ctx, keys)
}

type blobStore struct {
	next               intake.BlobStore
	m                  *operations
	putBytes, getBytes prometheus.Counter
}

func (b *blobStore) Put(ctx context.Context, key string, r io.Reader, contentType string) (info *intake.BlobInfo, err error) {
	defer b.m.observe("put", time.Now(), &err)
	info, err = b.next.Put(ctx, key, r, contentType)
	if err == nil && info != nil {
		b.putBytes.Add(float64(info.Size))
	}
	return info, err
}

func (b *blobStore) Get(ctx context.Context, key string) (_ io.ReadCloser, _ *intake.BlobInfo, err error) {
	defer b.m.observe("get", time.Now(), &err)
	rc, info, err := b.next.Get(ctx, key)
	if err != nil || rc == nil {
		return rc, info, err
	}
	cr := countingReader{rc: rc, n: b.getBytes}
	if s, ok := rc.(io.Seeker); ok {
		return &countingReadSeeker{cr, s}, info, nil
	}
	return &cr, info, nil
}

func (b *blobStore) Delete(ctx context.Context, key string) (err error) {
	defer b.m.observe("delete", time.Now(), &err)
	return b.next.Delete(ctx, key)
}

func (b *blobStore) List(ctx context.Context, prefix string, fn func(*intake.BlobInfo) error) (err error) {
	defer b.m.observe("list", time.Now(), &err)
	return b.next.List(ctx, prefix, fn)
}

func (b *blobStore) Ping(ctx context.Context) (err error) {
	defer b.m.observe("ping", time.Now(), &err)
	return b.next.Ping(ctx)
}

func (b *blobStore) Close() (err error) {
	defer b.m.observe("close", time.Now(), &err)
	return b.next.Close()
}

// countingReader counts the bytes read from a blob body.
type countingReader struct {
	rc io.ReadCloser
	n  prometheus.Counter
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.n.Add(float64(n))
	}
	return n, err
}

func (r *countingReader) Close() error { return r.rc.Close() }

// countingReadSeeker keeps a seekable body seekable, for range requests.
type countingReadSeeker struct {
	countingReader
	s io.Seeker
}

func (r *countingReadSeeker) Seek(offset int64, whence int) (int64, error) {
	return r.s.Seek(offset, whence)
}
