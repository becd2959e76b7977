// Package azureblob is the blob driver (driver.Bucket) for Azure Blob
// Storage (or Azurite, its emulator), on the Azure SDK for Go; blob.Open
// opens it for azblob:// URLs and connection strings, and blob.Bucket
// checks keys and contexts before they reach it.
//
// Each intake blob is a block blob named by its key in one container. Its
// content type is the blob's Content-Type and its SHA-256 (lowercase hex)
// is the blob metadata "sha256", written in the same request that makes the
// content visible, so no reader ever sees a blob without its metadata.
//
// Put reads the body in Config.BlockSize chunks, hashing on the way, and
// never holds more than one chunk:
//
//   - a body that fits in one chunk (the usual document) is written with a
//     single Put Blob request carrying content, content type and metadata;
//   - a longer body is staged block by block (Put Block) under block IDs
//     unique to this Put, then committed with Put Block List, which carries
//     the content type and metadata.
//
// A reader error or a cancelled context before the commit leaves the blob
// at the key as it was: staged blocks are never committed, and Azure
// discards them (after a week at the latest). One caveat of block blobs: a
// commit discards the uncommitted blocks of every other writer of the same
// blob, so two multi-block Puts racing on one key may fail the slower one
// with ECONFLICT. intake's document keys contain the run's lease owner, so
// they are never written concurrently.
//
// Authentication is a shared key (from a connection string) or a SAS
// token (in a connection string or a service URL). The account key and the
// SAS never appear in errors or logs: errors carry the HTTP status and
// Azure's error code, never the response body or the request's query.
package azureblob

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob/driver"
)

// Defaults applied by Open to zero Config fields.
const (
	// DefaultContainer is the container used when Config.Container is empty.
	DefaultContainer = "documents"
	// DefaultBlockSize is the size of the chunks Put reads and stages.
	DefaultBlockSize = 4 << 20
	// MaxBlockSize is the largest block Azure accepts (4000 MiB).
	MaxBlockSize = 4000 << 20
	// DefaultMaxRetries is how often a failed request is retried.
	DefaultMaxRetries = 3
	// DefaultTryTimeout bounds one attempt of a request (a block upload,
	// say), so that a server that stops answering fails the call instead
	// of hanging it.
	DefaultTryTimeout = 30 * time.Second
)

const (
	// maxBlocks is Azure's limit of committed blocks per blob.
	maxBlocks = 50_000
	// shaMetadata is the metadata name holding the content's SHA-256.
	shaMetadata = "sha256"
	// retryDelay and maxRetryDelay space the SDK's retries: with three
	// retries a stopped server fails a call after about 5.5 s.
	retryDelay    = 500 * time.Millisecond
	maxRetryDelay = 4 * time.Second
	dialTimeout   = 5 * time.Second
)

// Bucket is a blob store on one Azure Blob Storage container. It is safe
// for concurrent use.
type Bucket struct {
	container *container.Client
	name      string
	blockSize int
	retry     policy.RetryOptions
	transport *http.Transport
	logger    *slog.Logger
	bufs      sync.Pool
}

var _ driver.Bucket = (*Bucket)(nil)

// Open returns a Bucket for cfg. When cfg.CreateContainer is set it checks
// the container and creates it if it is missing, and so fails with
// EUNAVAILABLE when Azure cannot be reached; otherwise it does no I/O and
// the first call (Ping, say) finds out. A malformed cfg is EINVALID; no
// error repeats the account key or SAS.
func Open(ctx context.Context, cfg Config) (*Bucket, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open azure blob store: %w", err)
	}
	if cfg.Container == "" {
		cfg.Container = DefaultContainer
	}
	if err := validateContainer(cfg.Container); err != nil {
		return nil, err
	}
	switch {
	case cfg.BlockSize == 0:
		cfg.BlockSize = DefaultBlockSize
	case cfg.BlockSize < 0 || cfg.BlockSize > MaxBlockSize:
		return nil, intake.Errorf(intake.EINVALID, "open azure blob store: block size %d is not in [1, %d]", cfg.BlockSize, int64(MaxBlockSize))
	}
	if cfg.MaxRetries == 0 {
		cfg.MaxRetries = DefaultMaxRetries
	}
	if cfg.TryTimeout <= 0 {
		cfg.TryTimeout = DefaultTryTimeout
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	ep, err := resolveEndpoint(cfg)
	if err != nil {
		return nil, err
	}
	transport := newTransport(cfg.TryTimeout)
	retry := policy.RetryOptions{
		MaxRetries:    int32(min(cfg.MaxRetries, 100)),
		TryTimeout:    cfg.TryTimeout,
		RetryDelay:    retryDelay,
		MaxRetryDelay: maxRetryDelay,
	}
	opts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry:     retry,
		Transport: &http.Client{Transport: transport},
		Telemetry: policy.TelemetryOptions{ApplicationID: "intake"},
	}}
	client, err := ep.containerClient(cfg.Container, opts)
	if err != nil {
		transport.CloseIdleConnections()
		return nil, err
	}
	b := &Bucket{
		container: client,
		name:      cfg.Container,
		blockSize: int(cfg.BlockSize),
		retry:     retry,
		transport: transport,
		logger:    logger.With(slog.String("container", cfg.Container)),
	}
	b.bufs.New = func() any {
		buf := make([]byte, b.blockSize)
		return &buf
	}
	if cfg.CreateContainer {
		if err := b.ensureContainer(ctx); err != nil {
			transport.CloseIdleConnections()
			return nil, err
		}
	}
	return b, nil
}

// newTransport returns the HTTP transport of a Bucket: the SDK's defaults,
// but HTTP/1.1 only (Azure Storage serves blobs over HTTP/1.1; parallel
// transfers want connections, not streams), a short dial timeout, and a
// bound on waiting for response headers, so that a server that accepts
// connections but never answers fails a download too.
func newTransport(headerTimeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: headerTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

// ensureContainer checks that the container exists and creates it when it
// does not. Checking first means a SAS without the create permission works
// for a container that exists.
func (b *Bucket) ensureContainer(ctx context.Context) error {
	err := b.ping(ctx)
	if err == nil || !bloberror.HasCode(err, bloberror.ContainerNotFound) {
		return b.classifyContainer(ctx, err, "open azure blob store")
	}
	_, err = b.container.Create(ctx, nil)
	switch {
	case err == nil:
		b.logger.Info("created azure blob container")
	case bloberror.HasCode(err, bloberror.ContainerAlreadyExists):
		// Created by another replica since the check.
	default:
		return classify(ctx, err, "open azure blob store: create container %q", b.name)
	}
	return nil
}

// Delete removes the blob at key and its snapshots. A missing key (or
// container) is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	_, err := b.container.NewBlobClient(key).Delete(ctx, &blob.DeleteOptions{
		DeleteSnapshots: to.Ptr(blob.DeleteSnapshotsOptionTypeInclude),
	})
	if err == nil || bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
		return nil
	}
	return classify(ctx, err, "delete blob %q", key)
}

// List calls fn for every blob whose key starts with prefix, in key order
// (Azure lists names in byte order), page by page with their metadata.
// fn's error is returned as is.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(*intake.BlobInfo) error) error {
	opts := &container.ListBlobsFlatOptions{Include: container.ListBlobsInclude{Metadata: true}}
	if prefix != "" {
		opts.Prefix = &prefix
	}
	pager := b.container.NewListBlobsFlatPager(opts)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return b.classifyContainer(ctx, err, "list blobs with prefix %q", prefix)
		}
		if page.Segment == nil {
			continue
		}
		for _, item := range page.Segment.BlobItems {
			if item == nil || item.Name == nil {
				continue
			}
			info := &intake.BlobInfo{Key: *item.Name, SHA256: metadata(item.Metadata, shaMetadata)}
			if p := item.Properties; p != nil {
				info.Size = deref(p.ContentLength)
				info.ContentType = deref(p.ContentType)
				info.ModTime = timeOf(p.LastModified)
			}
			if err := fn(info); err != nil {
				return err
			}
		}
	}
	return nil
}

// Ping checks that the container answers by listing at most one blob, the
// cheapest request that a SAS limited to the container may make (Get
// Container Properties needs more than the read and list permissions
// intake needs anyway).
func (b *Bucket) Ping(ctx context.Context) error {
	return b.classifyContainer(ctx, b.ping(ctx), "ping azure blob store")
}

func (b *Bucket) ping(ctx context.Context) error {
	pager := b.container.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{MaxResults: to.Ptr[int32](1)})
	_, err := pager.NextPage(ctx)
	return err
}

// Close releases the Bucket's idle connections.
func (b *Bucket) Close() error {
	b.transport.CloseIdleConnections()
	return nil
}

// classifyContainer is classify, except that a missing container is
// EUNAVAILABLE: for writes and listings it is a deployment problem, not a
// missing blob.
func (b *Bucket) classifyContainer(ctx context.Context, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if bloberror.HasCode(err, bloberror.ContainerNotFound) {
		return intake.WrapError(intake.EUNAVAILABLE, sanitize(err),
			"%s: Azure container %q does not exist (create it, or let intake create it)", fmt.Sprintf(format, args...), b.name)
	}
	return classify(ctx, err, format, args...)
}
