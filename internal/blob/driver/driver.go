// Package driver is the interface that a blob storage backend implements,
// as gocloud.dev's blob/driver is: the narrow side of blob.Bucket, which
// checks what every backend would otherwise check again, so that a driver
// holds only its own calls. A new driver passes blobtest with one line.
package driver

import (
	"context"
	"io"

	"github.com/intake-dev/intake"
)

// DefaultContentType is the content type blob.Bucket stores for a blob
// put without one.
const DefaultContentType = "application/octet-stream"

// Bucket is a blob storage backend. blob.Bucket calls it only with:
//
//   - keys that intake.ValidateBlobKey accepts;
//   - a context that was not done when the call began;
//   - a content type that is not empty;
//   - a List prefix whose directory part (up to its last "/"), if any,
//     is a valid key;
//
// so a driver checks none of these. Otherwise each method keeps the
// contract of intake.BlobStore's: errors carry intake's codes (ENOTFOUND
// for a missing key, EUNAVAILABLE for an unreachable backend, a context's
// error wrapped without a code), a reader's error is returned wrapped with
// its code intact, and no error holds a secret.
type Bucket interface {
	Put(ctx context.Context, key string, r io.Reader, contentType string) (*intake.BlobInfo, error)
	Get(ctx context.Context, key string) (io.ReadCloser, *intake.BlobInfo, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string, fn func(*intake.BlobInfo) error) error
	Ping(ctx context.Context) error
	Close() error
}

// Syncer is implemented by a driver whose Put pays for durability per
// blob (a file system's fsyncs) and that can make many blobs durable at
// once instead. PutUnsynced is Put without that cost, and Sync makes the
// blobs at keys durable, as intake.BlobSyncer says; blob.Bucket calls them
// with valid keys only. For a driver without it, Put is durable when it
// returns (an Azure blob is once its block list is committed), and
// blob.Bucket's PutUnsynced is Put and its Sync does nothing.
type Syncer interface {
	PutUnsynced(ctx context.Context, key string, r io.Reader, contentType string) (*intake.BlobInfo, error)
	Sync(ctx context.Context, keys []string) error
}
