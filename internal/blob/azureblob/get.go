package azureblob

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/intake-dev/intake"
)

// Get opens the blob at key. The content type, size, SHA-256 and
// modification time come from the same response as the body. Reading the
// body resumes after a dropped connection, and fails with ECONFLICT when
// the blob was replaced meanwhile; the body is bounded by ctx only, not by
// Config.TryTimeout, so that slow readers can stream large blobs.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, *intake.BlobInfo, error) {
	// Each attempt still waits at most TryTimeout for response headers
	// (the transport's ResponseHeaderTimeout).
	retry := b.retry
	retry.TryTimeout = 0
	dctx := policy.WithRetryOptions(ctx, retry)
	resp, err := b.container.NewBlobClient(key).DownloadStream(dctx, nil)
	if err != nil {
		if bloberror.HasCode(err, bloberror.ContainerNotFound) {
			return nil, nil, intake.WrapError(intake.ENOTFOUND, sanitize(err), "get blob %q: container %q does not exist", key, b.name)
		}
		return nil, nil, classify(ctx, err, "get blob %q", key)
	}
	info := &intake.BlobInfo{
		Key:         key,
		Size:        deref(resp.ContentLength),
		ContentType: deref(resp.ContentType),
		SHA256:      metadata(resp.Metadata, shaMetadata),
		ModTime:     timeOf(resp.LastModified),
	}
	body := resp.NewRetryReader(dctx, &blob.RetryReaderOptions{MaxRetries: max(b.retry.MaxRetries, 0)})
	return &reader{ctx: ctx, body: body, key: key}, info, nil
}

// reader is a downloaded body whose errors are classified and free of
// secrets.
type reader struct {
	ctx  context.Context
	body io.ReadCloser
	key  string
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = classify(r.ctx, err, "read blob %q", r.key)
	}
	return n, err
}

func (r *reader) Close() error { return r.body.Close() }

// metadata returns the value of the metadata name in md. Names are
// compared case-insensitively: Azure keeps their case, but Go's HTTP
// client canonicalises the x-ms-meta-* headers that Get reads them from.
func metadata(md map[string]*string, name string) string {
	for k, v := range md {
		if strings.EqualFold(k, name) && v != nil {
			return *v
		}
	}
	return ""
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func timeOf(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
