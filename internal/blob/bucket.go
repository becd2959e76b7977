package blob

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob/driver"
)

// Bucket is the portable blob store: an intake.BlobStore over a
// driver.Bucket. It checks keys, contexts and content types once for
// every driver, so that every driver refuses the same keys with the same
// error and never sees an invalid one. It is safe for concurrent use when
// its driver is.
type Bucket struct {
	d driver.Bucket
}

var (
	_ intake.BlobStore  = (*Bucket)(nil)
	_ intake.BlobSyncer = (*Bucket)(nil)
)

// NewBucket returns the portable Bucket over d.
func NewBucket(d driver.Bucket) *Bucket { return &Bucket{d: d} }

// Driver returns the backend, for tests and tools that need its own API.
func (b *Bucket) Driver() driver.Bucket { return b.d }

// Put streams r to key; an empty contentType stores
// driver.DefaultContentType.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, contentType string) (*intake.BlobInfo, error) {
	contentType, err := checkPut(ctx, key, contentType)
	if err != nil {
		return nil, err
	}
	return b.d.Put(ctx, key, r, contentType)
}

// checkPut checks the arguments of a put and returns the content type to
// store.
func checkPut(ctx context.Context, key, contentType string) (string, error) {
	if err := intake.ValidateBlobKey(key); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("put blob %q: %w", key, err)
	}
	if contentType == "" {
		contentType = driver.DefaultContentType
	}
	return contentType, nil
}

// PutUnsynced is Put, except that the blob is durable only once Sync
// returned for its key (intake.BlobSyncer). On a driver without
// driver.Syncer it is Put, which is durable when it returns.
func (b *Bucket) PutUnsynced(ctx context.Context, key string, r io.Reader, contentType string) (*intake.BlobInfo, error) {
	contentType, err := checkPut(ctx, key, contentType)
	if err != nil {
		return nil, err
	}
	if s, ok := b.d.(driver.Syncer); ok {
		return s.PutUnsynced(ctx, key, r, contentType)
	}
	return b.d.Put(ctx, key, r, contentType)
}

// Sync makes durable the blobs that PutUnsynced wrote at keys. On a driver
// without driver.Syncer they are durable already, and it only checks its
// arguments.
func (b *Bucket) Sync(ctx context.Context, keys []string) error {
	for _, key := range keys {
		if err := intake.ValidateBlobKey(key); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sync blobs: %w", err)
	}
	s, ok := b.d.(driver.Syncer)
	if !ok || len(keys) == 0 {
		return nil
	}
	return s.Sync(ctx, keys)
}

// Get opens the blob at key.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, *intake.BlobInfo, error) {
	if err := intake.ValidateBlobKey(key); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("get blob %q: %w", key, err)
	}
	return b.d.Get(ctx, key)
}

// Delete removes the blob at key; a missing key is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := intake.ValidateBlobKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete blob %q: %w", key, err)
	}
	return b.d.Delete(ctx, key)
}

// List calls fn for every blob whose key starts with prefix, in key order,
// stopping at fn's first error or when ctx is done. A prefix below a
// directory that no key can have ("../", "a//") lists nothing.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(*intake.BlobInfo) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list blobs: %w", err)
	}
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 && !validKey(prefix[:i]) {
		return nil // no key lies below a directory no key can have
	}
	return b.d.List(ctx, prefix, func(info *intake.BlobInfo) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list blobs: %w", err)
		}
		return fn(info)
	})
}

// Ping checks that the backend answers.
func (b *Bucket) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ping blob store: %w", err)
	}
	return b.d.Ping(ctx)
}

// Close releases the backend's resources.
func (b *Bucket) Close() error { return b.d.Close() }

// validKey reports whether key is one a blob may have.
func validKey(key string) bool { return intake.ValidateBlobKey(key) == nil }
