package azureblob

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"

	"github.com/intake-dev/intake"
)

// Put streams r to key in BlockSize chunks, hashing as it reads, and
// commits the content type and SHA-256 with the content. When r fails or
// ctx ends before the commit, the blob at key is unchanged and the error
// wraps r's error (its code intact) or ctx's.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, contentType string) (*intake.BlobInfo, error) {
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

// nopCloser makes a bytes.Reader the io.ReadSeekCloser the SDK wants
// without closing anything: the buffer goes back to the pool.
type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
