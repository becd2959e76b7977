// Package azureblob implements intake.BlobStore on Azure Blob Storage (or
// Azurite, its emulator) with the Azure SDK for Go.
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
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/intake-dev/intake"
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
	// DefaultContentType is stored for blobs put without a content type.
	DefaultContentType = "application/octet-stream"
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

// Config configures a Bucket. Give either ConnectionString or ServiceURL.
// ParseURL builds one from a URL or a connection string.
type Config struct {
	// ConnectionString is an Azure Storage connection string, from the
	// portal ("DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…;
	// EndpointSuffix=core.windows.net"), with a BlobEndpoint (Azurite:
	// "…;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1"), with a
	// SharedAccessSignature instead of an AccountKey, or the emulator
	// shortcut "UseDevelopmentStorage=true".
	ConnectionString string
	// ServiceURL is the blob service endpoint with a SAS token as its
	// query, e.g. "https://ACCOUNT.blob.core.windows.net/?sv=…&sig=…". It
	// is used when ConnectionString is empty.
	ServiceURL string
	// Container names the container holding the blobs; DefaultContainer
	// when empty.
	Container string
	// CreateContainer makes Open create the container when it does not
	// exist. Its zero value is false: callers that want Azure's usual
	// behaviour set it (ParseURL does unless the URL says create=false).
	CreateContainer bool
	// BlockSize is the size of the blocks Put stages, and so the memory
	// one Put holds; DefaultBlockSize when zero.
	BlockSize int64
	// MaxRetries is how often the SDK retries a failed request;
	// DefaultMaxRetries when zero, none when negative.
	MaxRetries int
	// TryTimeout bounds each attempt of a request other than reading a
	// downloaded body; DefaultTryTimeout when zero.
	TryTimeout time.Duration
	// Logger receives the few events worth logging (the container was
	// created); nil discards them.
	Logger *slog.Logger
}

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

var _ intake.BlobStore = (*Bucket)(nil)

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

// Put streams r to key in BlockSize chunks, hashing as it reads, and
// commits the content type and SHA-256 with the content. When r fails or
// ctx ends before the commit, the blob at key is unchanged and the error
// wraps r's error (its code intact) or ctx's.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, contentType string) (*intake.BlobInfo, error) {
	if err := intake.ValidateBlobKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("put blob %q: %w", key, err)
	}
	if contentType == "" {
		contentType = DefaultContentType
	}
	bufp := b.bufs.Get().(*[]byte)
	defer b.bufs.Put(bufp)
	buf := *bufp
	client := b.container.NewBlockBlobClient(key)
	h := sha256.New()

	n, eof, err := fill(ctx, r, buf)
	if err != nil {
		return nil, fmt.Errorf("put blob %q: %w", key, err)
	}
	h.Write(buf[:n])
	if eof {
		// The whole body is in buf: one request makes it visible with
		// its metadata.
		sum := hex.EncodeToString(h.Sum(nil))
		resp, err := client.Upload(ctx, nopCloser{bytes.NewReader(buf[:n])}, &blockblob.UploadOptions{
			HTTPHeaders: &blob.HTTPHeaders{BlobContentType: &contentType},
			Metadata:    map[string]*string{shaMetadata: &sum},
		})
		if err != nil {
			return nil, b.classifyContainer(ctx, err, "put blob %q", key)
		}
		return &intake.BlobInfo{Key: key, Size: int64(n), ContentType: contentType, SHA256: sum, ModTime: timeOf(resp.LastModified)}, nil
	}

	// Stage block after block under IDs no other Put uses, then commit.
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	var ids []string
	size := int64(0)
	for {
		if len(ids) == maxBlocks {
			return nil, intake.Errorf(intake.EINVALID, "put blob %q: more than %d blocks of %d bytes", key, maxBlocks, b.blockSize)
		}
		id := blockID(nonce, len(ids))
		if _, err := client.StageBlock(ctx, id, nopCloser{bytes.NewReader(buf[:n])}, nil); err != nil {
			return nil, b.classifyContainer(ctx, err, "put blob %q: stage block %d", key, len(ids))
		}
		ids = append(ids, id)
		size += int64(n)
		if eof {
			break
		}
		if n, eof, err = fill(ctx, r, buf); err != nil {
			return nil, fmt.Errorf("put blob %q: %w", key, err)
		}
		h.Write(buf[:n])
		if n == 0 {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("put blob %q: %w", key, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	resp, err := client.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: &contentType},
		Metadata:    map[string]*string{shaMetadata: &sum},
	})
	if err != nil {
		if bloberror.HasCode(err, bloberror.InvalidBlockList) {
			return nil, intake.WrapError(intake.ECONFLICT, sanitize(err),
				"put blob %q: its staged blocks were discarded by a concurrent write of the same key", key)
		}
		return nil, b.classifyContainer(ctx, err, "put blob %q: commit %d blocks", key, len(ids))
	}
	return &intake.BlobInfo{Key: key, Size: size, ContentType: contentType, SHA256: sum, ModTime: timeOf(resp.LastModified)}, nil
}

// fill reads from r into buf until buf is full or r ends, checking ctx
// between reads. It reports whether r ended; a read error is returned
// wrapped, and n is then meaningless.
func fill(ctx context.Context, r io.Reader, buf []byte) (n int, eof bool, err error) {
	for n < len(buf) {
		if err := ctx.Err(); err != nil {
			return 0, false, err
		}
		m, rerr := r.Read(buf[n:])
		n += m
		if rerr == io.EOF {
			return n, true, nil
		}
		if rerr != nil {
			return 0, false, fmt.Errorf("read content: %w", rerr)
		}
	}
	return n, false, ctx.Err()
}

// blockID returns the base64 ID of block i of the Put identified by nonce.
// All IDs of a blob must have the same length.
func blockID(nonce [16]byte, i int) string {
	var raw [24]byte
	copy(raw[:], nonce[:])
	binary.BigEndian.PutUint64(raw[16:], uint64(i))
	return base64.StdEncoding.EncodeToString(raw[:])
}

// Get opens the blob at key. The content type, size, SHA-256 and
// modification time come from the same response as the body. Reading the
// body resumes after a dropped connection, and fails with ECONFLICT when
// the blob was replaced meanwhile; the body is bounded by ctx only, not by
// Config.TryTimeout, so that slow readers can stream large blobs.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, *intake.BlobInfo, error) {
	if err := intake.ValidateBlobKey(key); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("get blob %q: %w", key, err)
	}
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

// Delete removes the blob at key and its snapshots. A missing key (or
// container) is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := intake.ValidateBlobKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete blob %q: %w", key, err)
	}
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
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list blobs: %w", err)
	}
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
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("list blobs: %w", err)
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
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ping azure blob store: %w", err)
	}
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

// nopCloser makes a bytes.Reader the io.ReadSeekCloser the SDK wants
// without closing anything: the buffer goes back to the pool.
type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
