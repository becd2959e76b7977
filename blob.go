package intake

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// BlobStore stores document bytes. internal/blob's Bucket implements it
// over a driver per backend (file, Azure), each of which passes the
// conformance suite in internal/blob/blobtest; the Bucket refuses invalid
// keys (ValidateBlobKey) before a driver sees them. Missing keys are
// ENOTFOUND errors; an unreachable backend is EUNAVAILABLE.
type BlobStore interface {
	// Put streams r to key, replacing any blob there, and returns what was
	// stored. It computes the size and SHA-256 itself and keeps the content
	// type and hash as metadata. A reader is never fully buffered in memory.
	Put(ctx context.Context, key string, r io.Reader, contentType string) (*BlobInfo, error)
	// Get opens the blob at key.
	Get(ctx context.Context, key string) (io.ReadCloser, *BlobInfo, error)
	// Delete removes the blob at key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every blob whose key starts with prefix, in key
	// order, stopping at fn's first error.
	List(ctx context.Context, prefix string, fn func(*BlobInfo) error) error
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
	// Close releases resources.
	Close() error
}

// BlobSyncer is implemented by blob stores that can make many blobs
// durable at once, sharing the cost (an fsync) that Put pays for each:
// internal/blob's Bucket implements it for every driver. A writer of many
// blobs puts each with PutUnsynced, then calls Sync once for all of them,
// and only then records anything that refers to them.
type BlobSyncer interface {
	// PutUnsynced is Put, except that the blob is durable only once Sync
	// returned nil for its key: a crash before then (of the process or the
	// machine) may leave the key missing, empty, partial or holding the
	// previous blob. Readers see it at once. Use it only for keys that
	// nothing refers to before Sync returns.
	PutUnsynced(ctx context.Context, key string, r io.Reader, contentType string) (*BlobInfo, error)
	// Sync makes durable the blobs that PutUnsynced wrote at keys; a key
	// whose blob was deleted since is skipped. After an error none of them
	// may be durable: put them again or give them up.
	Sync(ctx context.Context, keys []string) error
}

// BlobInfo describes a stored blob.
type BlobInfo struct {
	Key         string
	Size        int64
	ContentType string
	// SHA256 is the lowercase hex digest of the content.
	SHA256  string
	ModTime time.Time
}

var blobKeyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$`)

// ValidateBlobKey checks that key is a relative slash-separated path of
// [A-Za-z0-9._-] segments, none of them "." or "..", at most 512 bytes.
func ValidateBlobKey(key string) error {
	if len(key) == 0 || len(key) > 512 || !blobKeyRE.MatchString(key) {
		return Errorf(EINVALID, "invalid blob key %q", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "." || seg == ".." {
			return Errorf(EINVALID, "invalid blob key %q", key)
		}
	}
	return nil
}

// DocumentBlobKey returns the key of a document's blob. It includes the
// run's lease owner, so a zombie run can never overwrite the blob that a
// later run recorded; unreferenced keys are deleted by the orphan sweep.
func DocumentBlobKey(jobID string, seq int, owner string) string {
	return fmt.Sprintf("jobs/%s/%06d-%s", jobID, seq, owner)
}
