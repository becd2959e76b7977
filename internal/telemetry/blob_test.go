package telemetry

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob"
)

func TestInstrumentBlobStore(t *testing.T) {
	t.Parallel()
	raw, err := blob.Open(t.Context(), "file://"+t.TempDir(), blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	b := InstrumentBlobStore(raw, reg)
	ctx := context.Background()
	const content = "hello, blob"
	ops := func(op, outcome string) float64 {
		v, _ := value(t, reg, "intake_blob_operations_total", map[string]string{"operation": op, "outcome": outcome})
		return v
	}
	bytesOf := func(op string) float64 {
		v, _ := value(t, reg, "intake_blob_bytes_total", map[string]string{"operation": op})
		return v
	}

	info, err := b.Put(ctx, "jobs/a/000001-x", strings.NewReader(content), "text/plain")
	if err != nil || info.Size != int64(len(content)) {
		t.Fatalf("Put = %+v, %v", info, err)
	}
	if _, err := b.Put(ctx, "../escape", strings.NewReader(content), "text/plain"); intake.ErrorCode(err) != intake.EINVALID {
		t.Fatalf("Put with a bad key = %v, want EINVALID through the wrapper", err)
	}
	if got := bytesOf("put"); got != float64(len(content)) {
		t.Errorf("put bytes = %v, want %d (failed puts count nothing)", got, len(content))
	}

	rc, got, err := b.Get(ctx, "jobs/a/000001-x")
	if err != nil || got.SHA256 != info.SHA256 {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if _, ok := rc.(io.Seeker); !ok {
		t.Error("the wrapper hid the body's io.Seeker")
	}
	if bytesOf("get") != 0 {
		t.Error("get bytes counted before the body was read")
	}
	body, err := io.ReadAll(rc)
	if err != nil || string(body) != content {
		t.Fatalf("body = %q, %v", body, err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if got := bytesOf("get"); got != float64(len(content)) {
		t.Errorf("get bytes = %v, want %d", got, len(content))
	}

	if _, _, err := b.Get(ctx, "jobs/a/missing"); intake.ErrorCode(err) != intake.ENOTFOUND {
		t.Errorf("Get(missing) = %v, want ENOTFOUND", err)
	}
	var keys []string
	if err := b.List(ctx, "jobs/", func(bi *intake.BlobInfo) error { keys = append(keys, bi.Key); return nil }); err != nil || len(keys) != 1 {
		t.Errorf("List = %v, %v", keys, err)
	}
	stop := errors.New("stop")
	if err := b.List(ctx, "jobs/", func(*intake.BlobInfo) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("List = %v, want the callback's error", err)
	}
	syncer, ok := b.(intake.BlobSyncer)
	if !ok {
		t.Fatal("the wrapper hid the store's intake.BlobSyncer")
	}
	if _, err := syncer.PutUnsynced(ctx, "jobs/a/000002-x", strings.NewReader(content), "text/plain"); err != nil {
		t.Fatalf("PutUnsynced: %v", err)
	}
	if err := syncer.Sync(ctx, []string{"jobs/a/000002-x"}); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if got := bytesOf("put"); got != float64(2*len(content)) {
		t.Errorf("put bytes = %v, want %d (PutUnsynced counts as a put)", got, 2*len(content))
	}
	if err := b.Delete(ctx, "jobs/a/000002-x"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "jobs/a/000001-x"); err != nil {
		t.Fatal(err)
	}
	if err := b.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		op, outcome string
		want        float64
	}{
		{"put", "ok", 2}, {"put", "invalid", 1}, {"get", "ok", 1}, {"get", "not_found", 1},
		{"list", "ok", 1}, {"list", "error", 1}, {"delete", "ok", 2}, {"ping", "ok", 1}, {"close", "ok", 1},
		{"sync", "ok", 1},
		{"delete", "error", 0},
	} {
		if got := ops(c.op, c.outcome); got != c.want {
			t.Errorf("intake_blob_operations_total{operation=%q,outcome=%q} = %v, want %v", c.op, c.outcome, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(reg, "intake_blob_operation_duration_seconds"); n != len(blobOps) {
		t.Errorf("%d duration series, want one per operation (%d)", n, len(blobOps))
	}
	lint(t, reg)
}

// streamOnly hides the seekability of a blob store's bodies, like a
// network backend whose bodies are plain streams.
type streamOnly struct{ intake.BlobStore }

func (s streamOnly) Get(ctx context.Context, key string) (io.ReadCloser, *intake.BlobInfo, error) {
	rc, info, err := s.BlobStore.Get(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{rc, rc}, info, nil
}

// TestInstrumentBlobStoreStream checks that a body that cannot seek is
// not made to look seekable, and that its bytes are counted; and that the
// wrapper of a store that is no intake.BlobSyncer is none either.
func TestInstrumentBlobStoreStream(t *testing.T) {
	t.Parallel()
	raw, err := blob.Open(t.Context(), "file://"+t.TempDir(), blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	b := InstrumentBlobStore(streamOnly{raw}, reg)
	if _, ok := b.(intake.BlobSyncer); ok {
		t.Error("the wrapper of a store without PutUnsynced and Sync is an intake.BlobSyncer")
	}
	ctx := context.Background()
	if _, err := b.Put(ctx, "k", strings.NewReader("abc"), ""); err != nil {
		t.Fatal(err)
	}
	rc, _, err := b.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, ok := rc.(io.Seeker); ok {
		t.Error("a stream body looks seekable through the wrapper")
	}
	if _, err := io.ReadAll(rc); err != nil {
		t.Fatal(err)
	}
	if v, _ := value(t, reg, "intake_blob_bytes_total", map[string]string{"operation": "get"}); v != 3 {
		t.Errorf("get bytes = %v, want 3", v)
	}
}
