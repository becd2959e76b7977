// Package blob opens the configured intake.BlobStore from a URL, the way
// gocloud.dev's blob.OpenBucket does, without its dependencies: the scheme
// picks the implementation.
package blob

import (
	"context"
	"fmt"
	"strings"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob/fileblob"
)

// Schemes lists the URL forms that Open accepts.
const Schemes = "file://PATH"

// Open returns the blob store that rawURL names:
//
//   - file://PATH is a fileblob.Bucket rooted at PATH, which is everything
//     after "file://", relative ("file://data/blobs") or absolute
//     ("file:///var/lib/intake/blobs").
//
// Azure Blob Storage (azblob:// URLs and connection strings) is not built
// yet. Errors are EINVALID and never repeat rawURL, which may hold a secret.
func Open(ctx context.Context, rawURL string) (intake.BlobStore, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	if dir, ok := strings.CutPrefix(rawURL, "file://"); ok {
		if dir == "" {
			return nil, intake.Errorf(intake.EINVALID, "blob URL file:// needs a path, e.g. file://data/blobs")
		}
		return fileblob.Open(dir)
	}
	if isAzure(rawURL) {
		return nil, intake.Errorf(intake.EINVALID,
			"blob URL: Azure Blob Storage support is not built yet; use %s", Schemes)
	}
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, intake.Errorf(intake.EINVALID, "blob URL has no scheme; accepted: %s", Schemes)
	}
	return nil, intake.Errorf(intake.EINVALID, "blob URL scheme %q is not supported; accepted: %s", scheme, Schemes)
}

// isAzure reports whether s is an azblob:// URL or an Azure Storage
// connection string ("DefaultEndpointsProtocol=https;AccountName=…" or
// "UseDevelopmentStorage=true").
func isAzure(s string) bool {
	if strings.HasPrefix(s, "azblob://") {
		return true
	}
	for _, field := range strings.Split(s, ";") {
		name, _, ok := strings.Cut(field, "=")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "defaultendpointsprotocol", "accountname", "accountkey", "blobendpoint", "usedevelopmentstorage", "sharedaccesssignature":
			return true
		}
	}
	return false
}
