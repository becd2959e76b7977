// Package fileblob is the blob driver (driver.Bucket) for a local
// directory; blob.Open opens it for file:// URLs, and blob.Bucket checks
// keys and contexts before they reach it.
//
// Each blob is a plain file at its key below the root, so an operator can
// read, copy or checksum it with ordinary tools. Its content type and
// SHA-256 live in a sidecar file in the same directory, named "." + the
// blob's file name + ".meta.json". Blob keys never have a segment that
// starts with a dot (intake.ValidateBlobKey), so sidecars and temporary
// files can never collide with a key and no key has to be reserved.
//
// Every access goes through an os.Root, so no key, symlink or ".." can
// reach outside the root directory. Put streams to a temporary file
// (".~tmp-" + random hex) in the key's directory, fsyncs it, renames it over
// the key and fsyncs the directory: readers see the old blob or the new
// one, never a partial file. A failed Put removes its temporary file; List
// removes those that a crash left behind once they are a day old.
//
// PutUnsynced (driver.Syncer) does the same without the fsyncs, and Sync
// makes a group of such blobs durable at once: on Linux with one syncfs(2)
// of the root's file system, which writes back every blob, sidecar and
// directory entry written before it and commits the file system's journal;
// elsewhere by fsyncing each blob, its sidecar and their directories.
// Until Sync returns, a crash may leave such a key empty or partial;
// readers in the running process never see that.
//
// Consistency between a blob and its sidecar: within one process, Put,
// Get, Delete and List serialise on a per-key lock around the renames, so
// they always see a blob with its own metadata. The sidecar also records
// the size and modification time of the data file it describes; a sidecar
// that does not match (a crash between the two renames, or two processes
// writing the same key at once) is ignored as if it were missing. A blob
// without a usable sidecar is still served, as application/octet-stream
// with an empty SHA256: hashing it would mean reading the whole blob before
// the caller reads a byte, and intake keeps every document's hash in the
// job store anyway.
//
// Keys that would need a file and a directory of the same name ("a" and
// "a/b") cannot both exist; the second Put fails with ECONFLICT. Directories
// emptied by Delete are left in place.
package fileblob

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob/driver"
)

// DefaultContentType is reported for blobs without a usable sidecar.
const DefaultContentType = driver.DefaultContentType

const (
	tempPrefix    = ".~tmp-"
	sidecarSuffix = ".meta.json"
	// staleTempAge is how long a temporary file may go unmodified before
	// List treats it as left behind by a crashed Put and removes it.
	staleTempAge = 24 * time.Hour
	copyBufSize  = 256 << 10
	lockStripes  = 64
)

// Bucket is a blob store rooted at a local directory. It is safe for
// concurrent use.
type Bucket struct {
	root  *os.Root
	locks [lockStripes]sync.RWMutex
	bufs  sync.Pool
	// fs flushes the root's file system for Sync; nil where there is no
	// syncfs(2), and Sync then fsyncs file by file.
	fs *flusher
}

var (
	_ driver.Bucket = (*Bucket)(nil)
	_ driver.Syncer = (*Bucket)(nil)
)

// Open returns a Bucket rooted at dir, creating the directory if needed.
func Open(dir string) (*Bucket, error) {
	if dir == "" {
		return nil, intake.Errorf(intake.EINVALID, "open file blob store: empty directory")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, intake.WrapError(intake.EUNAVAILABLE, err, "open file blob store %q", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, intake.WrapError(intake.EUNAVAILABLE, err, "open file blob store %q", dir)
	}
	b := &Bucket{root: root}
	b.bufs.New = func() any { return new([copyBufSize]byte) }
	b.fs, err = openFlusher(dir)
	if err != nil {
		_ = root.Close()
		return nil, intake.WrapError(intake.EUNAVAILABLE, err, "open file blob store %q", dir)
	}
	return b, nil
}

// sidecar is the metadata kept beside each blob. Size and ModTime identify
// the data file it was written for.
type sidecar struct {
	ContentType string    `json:"content_type"`
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	ModTime     time.Time `json:"mod_time"`
}

// Put streams r to a temporary file while hashing it, then renames the file
// and its sidecar into place, each fsynced, and fsyncs the directory. When
// r fails or ctx ends, nothing at key changes and r's error is returned
// wrapped, its code intact.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, contentType string) (*intake.BlobInfo, error) {
	return b.put(ctx, key, r, contentType, true)
}

// PutUnsynced is Put without its fsyncs: the blob is durable once Sync
// returned for its key.
func (b *Bucket) PutUnsynced(ctx context.Context, key string, r io.Reader, contentType string) (*intake.BlobInfo, error) {
	return b.put(ctx, key, r, contentType, false)
}

// put is Put, with the fsyncs when durable is set. It works inside the
// key's directory, opened once, so that each file operation is one system
// call rather than a walk from the root.
func (b *Bucket) put(ctx context.Context, key string, r io.Reader, contentType string, durable bool) (*intake.BlobInfo, error) {
	dirName, name := path.Split(key)
	dir, err := b.openDir(dirName)
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrExist) {
			return nil, intake.WrapError(intake.ECONFLICT, err, "put blob %q: a key above it exists", key)
		}
		return nil, classify(err, "put blob %q: create directory", key)
	}
	defer dir.Close()

	dataTmp, fi, sum, err := b.writeTemp(ctx, dir, r, durable)
	if err != nil {
		return nil, fmt.Errorf("put blob %q: %w", key, err)
	}
	meta := sidecar{ContentType: contentType, SHA256: sum, Size: fi.Size(), ModTime: fi.ModTime()}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		_ = dir.Remove(dataTmp)
		return nil, intake.WrapError(intake.EINTERNAL, err, "put blob %q: encode metadata", key)
	}
	metaTmp, _, _, err := b.writeTemp(ctx, dir, bytes.NewReader(metaJSON), durable)
	if err != nil {
		_ = dir.Remove(dataTmp)
		return nil, fmt.Errorf("put blob %q: %w", key, err)
	}

	if err := b.commit(key, dir, name, dataTmp, metaTmp); err != nil {
		_ = dir.Remove(dataTmp)
		_ = dir.Remove(metaTmp)
		return nil, err
	}
	if durable {
		if err := fsync(dir, "."); err != nil {
			return nil, classify(err, "put blob %q: sync directory", key)
		}
	}
	return &intake.BlobInfo{
		Key:         key,
		Size:        meta.Size,
		ContentType: meta.ContentType,
		SHA256:      meta.SHA256,
		ModTime:     meta.ModTime,
	}, nil
}

// openDir opens the directory dir (a key's directory part, "" or ending
// in "/") below the root, creating it when it is missing.
func (b *Bucket) openDir(dir string) (*os.Root, error) {
	if dir == "" {
		dir = "."
	}
	d, err := b.root.OpenRoot(dir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return d, err
	}
	if err := b.root.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	return b.root.OpenRoot(dir)
}

// commit renames the data file and then its sidecar into place, as name in
// dir, under the key's lock.
func (b *Bucket) commit(key string, dir *os.Root, name, dataTmp, metaTmp string) error {
	mu := b.lock(key)
	mu.Lock()
	defer mu.Unlock()
	if err := dir.Rename(dataTmp, name); err != nil {
		if fi, serr := dir.Lstat(name); serr == nil && fi.IsDir() {
			return intake.WrapError(intake.ECONFLICT, err, "put blob %q: a key below it exists", key)
		}
		return classify(err, "put blob %q: rename", key)
	}
	if err := dir.Rename(metaTmp, sidecarName(name)); err != nil {
		return classify(err, "put blob %q: rename metadata", key)
	}
	return nil
}

// writeTemp copies r into a new temporary file in dir, fsyncs it when
// durable is set, closes it, and returns its name, its final FileInfo and
// the hex SHA-256 of what was written. The file is removed on error.
func (b *Bucket) writeTemp(ctx context.Context, dir *os.Root, r io.Reader, durable bool) (name string, fi fs.FileInfo, sum string, err error) {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	name = tempPrefix + hex.EncodeToString(rnd[:])
	f, err := dir.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", nil, "", classify(err, "create temporary file")
	}
	tmp := name // the error returns below clear name
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = dir.Remove(tmp)
		}
	}()

	h := sha256.New()
	buf := b.bufs.Get().(*[copyBufSize]byte)
	defer b.bufs.Put(buf)
	for {
		if err = ctx.Err(); err != nil {
			return "", nil, "", err
		}
		n, rerr := r.Read(buf[:])
		if n > 0 {
			h.Write(buf[:n])
			if _, err = f.Write(buf[:n]); err != nil {
				return "", nil, "", classify(err, "write content")
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// Keep the reader's error, and its code, for the caller.
			err = fmt.Errorf("read content: %w", rerr)
			return "", nil, "", err
		}
	}
	if durable {
		if err = f.Sync(); err != nil {
			return "", nil, "", classify(err, "sync temporary file")
		}
	}
	if fi, err = f.Stat(); err != nil {
		return "", nil, "", classify(err, "stat temporary file")
	}
	if err = f.Close(); err != nil {
		return "", nil, "", classify(err, "close temporary file")
	}
	return name, fi, hex.EncodeToString(h.Sum(nil)), nil
}

// Get opens the blob at key. The returned ReadCloser is an *os.File, so
// callers may also seek it (for HTTP range requests, say).
func (b *Bucket) Get(_ context.Context, key string) (io.ReadCloser, *intake.BlobInfo, error) {
	mu := b.lock(key)
	mu.RLock()
	defer mu.RUnlock()
	f, err := b.root.Open(key)
	if err != nil {
		return nil, nil, classify(err, "get blob %q", key)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, nil, classify(err, "get blob %q: stat", key)
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, nil, intake.Errorf(intake.ENOTFOUND, "blob %q not found", key)
	}
	return f, b.info(key, fi), nil
}

// Delete removes the blob at key and its sidecar. A missing key, or a key
// that names a directory of other blobs, is not an error.
func (b *Bucket) Delete(_ context.Context, key string) error {
	mu := b.lock(key)
	mu.Lock()
	defer mu.Unlock()
	fi, err := b.root.Lstat(key)
	switch {
	case isNotExist(err):
	case err != nil:
		return classify(err, "delete blob %q", key)
	case fi.IsDir():
		return nil
	default:
		if err := b.root.Remove(key); err != nil && !isNotExist(err) {
			return classify(err, "delete blob %q", key)
		}
	}
	if err := b.root.Remove(sidecarName(key)); err != nil && !isNotExist(err) {
		return classify(err, "delete blob %q: metadata", key)
	}
	return nil
}

// List calls fn for every blob whose key starts with prefix, in key order.
// It walks only the directories that can hold such keys. Along the way it
// removes temporary files that have not been modified for a day: they were
// left behind by a Put that crashed.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(*intake.BlobInfo) error) error {
	dir := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dir = prefix[:i] // a valid key: blob.Bucket checks it
	}
	return b.walk(ctx, dir, prefix, fn)
}

func (b *Bucket) walk(ctx context.Context, dir, prefix string, fn func(*intake.BlobInfo) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list blobs: %w", err)
	}
	name := dir
	if name == "" {
		name = "."
	}
	d, err := b.root.Open(name)
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return classify(err, "list blobs in %q", dir)
	}
	entries, err := d.ReadDir(-1)
	_ = d.Close()
	if err != nil {
		if isNotExist(err) {
			return nil
		}
		return classify(err, "list blobs in %q", dir)
	}
	// Sort by key order: a directory's keys all continue with "/", which
	// sorts after "-" and "." but before digits and letters.
	sortName := func(e fs.DirEntry) string {
		if e.IsDir() {
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(entries, func(x, y fs.DirEntry) int { return strings.Compare(sortName(x), sortName(y)) })

	for _, e := range entries {
		key := path.Join(dir, e.Name())
		if strings.HasPrefix(e.Name(), tempPrefix) {
			b.removeIfStale(key, e)
			continue
		}
		if intake.ValidateBlobKey(e.Name()) != nil {
			continue // sidecars and foreign files
		}
		if e.IsDir() {
			sub := key + "/"
			if strings.HasPrefix(sub, prefix) || strings.HasPrefix(prefix, sub) {
				if err := b.walk(ctx, key, prefix, fn); err != nil {
					return err
				}
			}
			continue
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list blobs: %w", err)
		}
		info, err := b.stat(key)
		if isNotExist(err) {
			continue // deleted since ReadDir
		}
		if err != nil {
			return classify(err, "list blobs: stat %q", key)
		}
		if err := fn(info); err != nil {
			return err
		}
	}
	return nil
}

// stat returns the BlobInfo of the regular file at key.
func (b *Bucket) stat(key string) (*intake.BlobInfo, error) {
	mu := b.lock(key)
	mu.RLock()
	defer mu.RUnlock()
	fi, err := b.root.Lstat(key)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fs.ErrNotExist
	}
	return b.info(key, fi), nil
}

func (b *Bucket) removeIfStale(name string, e fs.DirEntry) {
	if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > staleTempAge {
		_ = b.root.Remove(name)
	}
}

// info builds the BlobInfo of the data file fi at key from its sidecar,
// falling back to DefaultContentType and no hash when the sidecar is
// missing, unreadable, or describes another file. The caller holds the
// key's lock.
func (b *Bucket) info(key string, fi fs.FileInfo) *intake.BlobInfo {
	info := &intake.BlobInfo{Key: key, Size: fi.Size(), ContentType: DefaultContentType, ModTime: fi.ModTime()}
	raw, err := b.root.ReadFile(sidecarName(key))
	if err != nil {
		return info
	}
	var m sidecar
	if json.Unmarshal(raw, &m) != nil || m.Size != fi.Size() || !m.ModTime.Equal(fi.ModTime()) {
		return info
	}
	info.ContentType, info.SHA256 = m.ContentType, m.SHA256
	return info
}

// Ping checks that the root directory is still there.
func (b *Bucket) Ping(context.Context) error {
	if _, err := b.root.Stat("."); err != nil {
		return intake.WrapError(intake.EUNAVAILABLE, err, "ping file blob store")
	}
	return nil
}

// Close releases the root directory.
func (b *Bucket) Close() error {
	err := b.root.Close()
	if b.fs != nil {
		err = errors.Join(err, b.fs.close())
	}
	if err != nil {
		return fmt.Errorf("close file blob store: %w", err)
	}
	return nil
}

// Sync makes durable the blobs that PutUnsynced wrote at keys: with one
// syncfs(2) of the root's file system, shared with every other Sync that
// waits for it (see flusher), or where there is none by fsyncing each
// blob, its sidecar and each of their directories. A key deleted since is
// skipped.
func (b *Bucket) Sync(ctx context.Context, keys []string) error {
	if b.fs != nil {
		if err := b.fs.flush(ctx); err != nil {
			return classify(err, "sync blobs")
		}
		return nil
	}
	return b.syncEach(ctx, keys)
}

// syncEach fsyncs each blob at keys, its sidecar, and then each of their
// directories once.
func (b *Bucket) syncEach(ctx context.Context, keys []string) error {
	dirs := make(map[string]bool)
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("sync blobs: %w", err)
		}
		for _, name := range []string{key, sidecarName(key)} {
			if err := fsync(b.root, name); err != nil && !isNotExist(err) {
				return classify(err, "sync blob %q", key)
			}
		}
		dirs[path.Dir(key)] = true
	}
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		if err := fsync(b.root, dir); err != nil && !isNotExist(err) {
			return classify(err, "sync blobs: directory %q", dir)
		}
	}
	return nil
}

// fsync fsyncs the file or directory at name in root.
func fsync(root *os.Root, name string) error {
	d, err := root.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (b *Bucket) lock(key string) *sync.RWMutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return &b.locks[h.Sum32()%lockStripes]
}

func sidecarName(key string) string {
	dir, file := path.Split(key)
	return dir + "." + file + sidecarSuffix
}

func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// classify wraps a file system error with the domain code that fits it.
func classify(err error, format string, args ...any) error {
	code := intake.EUNAVAILABLE
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
	case isNotExist(err):
		code = intake.ENOTFOUND
	case errors.Is(err, syscall.ENAMETOOLONG):
		code = intake.EINVALID
	}
	return intake.WrapError(code, err, format, args...)
}
