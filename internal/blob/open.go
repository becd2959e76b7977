// Package blob is intake's portable blob store, shaped like gocloud.dev's
// blob package without its dependencies: Bucket, an intake.BlobStore that
// checks keys, contexts and content types once, over a driver.Bucket; Open,
// which picks the driver by URL scheme (fileblob, azureblob); and blobtest,
// the conformance suite every driver passes.
package blob

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob/azureblob"
	"github.com/intake-dev/intake/internal/blob/fileblob"
)

// Schemes lists the URL forms that Open accepts.
const Schemes = "file://PATH, azblob://… or an Azure Storage connection string"

// Options configures the blob store that Open returns.
type Options struct {
	// Container is the Azure container used with a connection string; an
	// azblob:// URL names its own. Empty means azureblob.DefaultContainer.
	Container string
	// CreateContainer lets Open create a missing Azure container.
	CreateContainer bool
	// Logger receives the store's few logs; discarded when nil.
	Logger *slog.Logger
}

// Open returns a Bucket over the driver that rawURL names:
//
//   - file://PATH is a fileblob.Bucket rooted at PATH, which is everything
//     after "file://", relative ("file://data/blobs") or absolute
//     ("file:///var/lib/intake/blobs");
//   - an Azure Storage connection string (Azure's or Azurite's) is an
//     azureblob.Bucket on opts.Container;
//   - azblob://ACCOUNT.blob.core.windows.net/CONTAINER?SAS and
//     azblob://CONTAINER?endpoint=URL are azureblob.Buckets as
//     azureblob.ParseURL describes.
//
// Errors are EINVALID for a malformed URL and never repeat rawURL, which may
// hold a secret.
func Open(ctx context.Context, rawURL string, opts Options) (*Bucket, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	if dir, ok := strings.CutPrefix(rawURL, "file://"); ok {
		if dir == "" {
			return nil, intake.Errorf(intake.EINVALID, "blob URL file:// needs a path, e.g. file://data/blobs")
		}
		d, err := fileblob.Open(dir)
		if err != nil {
			return nil, err
		}
		return NewBucket(d), nil
	}
	if strings.HasPrefix(rawURL, "azblob://") || azureblob.IsConnectionString(rawURL) {
		cfg, err := azureblob.ParseURL(rawURL)
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(rawURL, "azblob://") && opts.Container != "" {
			cfg.Container = opts.Container
		}
		if cfg.ConnectionString == "" && cfg.ServiceURL == "" {
			return nil, intake.Errorf(intake.EINVALID,
				"blob URL azblob://CONTAINER needs credentials: use a connection string with INTAKE_BLOB_CONTAINER, or azblob://ACCOUNT.blob.core.windows.net/CONTAINER?SAS")
		}
		cfg.CreateContainer = cfg.CreateContainer && opts.CreateContainer
		cfg.Logger = opts.Logger
		d, err := azureblob.Open(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("open azure blob store: %w", err)
		}
		return NewBucket(d), nil
	}
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, intake.Errorf(intake.EINVALID, "blob URL has no scheme; accepted: %s", Schemes)
	}
	return nil, intake.Errorf(intake.EINVALID, "blob URL scheme %q is not supported; accepted: %s", scheme, Schemes)
}
