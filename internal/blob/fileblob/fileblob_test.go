package fileblob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob/blobtest"
	"github.com/intake-dev/intake/internal/blob/driver"
	"github.com/intake-dev/intake/internal/blob/fileblob"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) driver.Bucket { return open(t, t.TempDir()) })
}

func open(t *testing.T, dir string) *fileblob.Bucket {
	t.Helper()
	b, err := fileblob.Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func put(t *testing.T, b *fileblob.Bucket, key, content, contentType string) {
	t.Helper()
	if _, err := b.Put(t.Context(), key, strings.NewReader(content), contentType); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func list(t *testing.T, b *fileblob.Bucket) []*intake.BlobInfo {
	t.Helper()
	var infos []*intake.BlobInfo
	if err := b.List(t.Context(), "", func(i *intake.BlobInfo) error {
		infos = append(infos, i)
		return nil
	}); err != nil {
		t.Fatalf("List: %v", err)
	}
	return infos
}

func TestOpenCreatesRoot(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "b")
	b := open(t, dir)
	put(t, b, "k", "v", "text/plain")
	if got, err := os.ReadFile(filepath.Join(dir, "k")); err != nil || string(got) != "v" {
		t.Errorf("blob on disk = %q, %v; want a plain file holding v", got, err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, code string
	}{
		{"empty", "", intake.EINVALID},
		{"a file", file, intake.EUNAVAILABLE},
		{"below a file", filepath.Join(file, "sub"), intake.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := fileblob.Open(tt.dir)
			if err == nil {
				b.Close()
			}
			if code := intake.ErrorCode(err); code != tt.code {
				t.Errorf("Open(%q) error = %v (code %q), want %s", tt.dir, err, code, tt.code)
			}
		})
	}
}

// TestMetadataFallback covers blobs whose sidecar is missing, corrupt or
// describes another version of the file: they are served as
// application/octet-stream with no hash.
func TestMetadataFallback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tamper func(dir string) error
		want   string
	}{
		{"sidecar removed", func(dir string) error {
			return os.Remove(filepath.Join(dir, "d", ".k.meta.json"))
		}, "data"},
		{"sidecar corrupt", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "d", ".k.meta.json"), []byte("{"), 0o644)
		}, "data"},
		{"data replaced behind its back", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "d", "k"), []byte("other"), 0o644)
		}, "other"},
		{"file dropped in by hand", func(dir string) error {
			if err := os.Remove(filepath.Join(dir, "d", "k")); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "d", "k"), []byte("hand"), 0o644)
		}, "hand"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			b := open(t, dir)
			put(t, b, "d/k", "data", "text/plain")
			if err := tt.tamper(dir); err != nil {
				t.Fatal(err)
			}
			rc, info, err := b.Get(t.Context(), "d/k")
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			body, _ := io.ReadAll(rc)
			rc.Close()
			if string(body) != tt.want || info.ContentType != fileblob.DefaultContentType || info.SHA256 != "" || info.Size != int64(len(tt.want)) {
				t.Errorf("Get = %q %+v, want %q as %s with no hash", body, info, tt.want, fileblob.DefaultContentType)
			}
			infos := list(t, b)
			if len(infos) != 1 || *infos[0] != *info {
				t.Errorf("List = %v, want just %+v", infos, info)
			}
		})
	}
}

// TestHiddenFiles checks that sidecars, temporary files and names that are
// not keys never show up in List, and that stale temporary files go away.
func TestHiddenFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := open(t, dir)
	put(t, b, "jobs/j/000001-o", "doc", "text/plain")
	put(t, b, "tmp-looks-like-temp", "doc", "text/plain")
	stale := filepath.Join(dir, "jobs", "j", ".~tmp-stale")
	fresh := filepath.Join(dir, "jobs", ".~tmp-fresh")
	for _, name := range []string{stale, fresh, filepath.Join(dir, "not a key"), filepath.Join(dir, ".hidden")} {
		if err := os.WriteFile(name, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-48 * time.Hour)
	for _, name := range []string{stale, filepath.Join(dir, ".tmp-looks-like-temp.meta.json")} {
		if err := os.Chtimes(name, old, old); err != nil {
			t.Fatal(err)
		}
	}

	var keys []string
	for _, info := range list(t, b) {
		keys = append(keys, info.Key)
	}
	if want := []string{"jobs/j/000001-o", "tmp-looks-like-temp"}; !slices.Equal(keys, want) {
		t.Errorf("List = %q, want %q", keys, want)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file still there after List (stat: %v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed by List: %v", err)
	}
	rc, info, err := b.Get(t.Context(), "tmp-looks-like-temp")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	rc.Close()
	if info.ContentType != "text/plain" {
		t.Errorf("old sidecar of a key starting with tmp- was lost: content type %q", info.ContentType)
	}
}

// TestNoEscape checks that symlinks cannot lead a key outside the root.
func TestNoEscape(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Skipf("symlinks not supported: %v", err)
	}
	b := open(t, dir)

	if rc, _, err := b.Get(t.Context(), "link/secret"); err == nil {
		body, _ := io.ReadAll(rc)
		rc.Close()
		t.Errorf("Get through a symlink out of the root = %q, want an error", body)
	}
	if _, err := b.Put(t.Context(), "link/planted", strings.NewReader("x"), "text/plain"); err == nil {
		t.Error("Put through a symlink out of the root succeeded")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); !os.IsNotExist(err) {
		t.Errorf("Put wrote outside the root (stat: %v)", err)
	}
	if infos := list(t, b); len(infos) != 0 {
		t.Errorf("List = %v, want nothing (symlinks are skipped)", infos)
	}
}

// TestKeyConflicts covers keys that would need a file and a directory of
// the same name.
func TestKeyConflicts(t *testing.T) {
	t.Parallel()
	b := open(t, t.TempDir())
	put(t, b, "a", "file", "text/plain")
	put(t, b, "d/x", "below", "text/plain")
	for _, key := range []string{"a/b", "d"} {
		_, err := b.Put(t.Context(), key, strings.NewReader("x"), "text/plain")
		if code := intake.ErrorCode(err); code != intake.ECONFLICT {
			t.Errorf("Put(%q) error = %v (code %q), want %s", key, err, code, intake.ECONFLICT)
		}
	}
	var keys []string
	for _, info := range list(t, b) {
		keys = append(keys, info.Key)
	}
	if want := []string{"a", "d/x"}; !slices.Equal(keys, want) {
		t.Errorf("List = %q, want %q", keys, want)
	}
}

func TestLongSegment(t *testing.T) {
	t.Parallel()
	b := open(t, t.TempDir())
	key := strings.Repeat("k", 300) // a valid key, but longer than NAME_MAX
	_, err := b.Put(t.Context(), key, strings.NewReader("x"), "text/plain")
	if code := intake.ErrorCode(err); code != intake.EINVALID {
		t.Errorf("Put of a 300-byte segment error = %v (code %q), want %s", err, code, intake.EINVALID)
	}
}

// BenchmarkPut measures Put throughput, fsyncs included, for the object
// sizes of a small filing and a large scanned document.
func BenchmarkPut(b *testing.B) {
	for _, size := range []int{64 << 10, 4 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			bucket, err := fileblob.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer bucket.Close()
			content := bytes.Repeat([]byte("intake-"), size/7+1)[:size]
			b.SetBytes(int64(size))
			i := 0
			for b.Loop() {
				key := fmt.Sprintf("bench/%06d", i%100)
				if _, err := bucket.Put(b.Context(), key, bytes.NewReader(content), "application/pdf"); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkPutSmall measures 1 KiB blobs under new keys, as a worker
// writes documents: each with Put (fsyncs per blob), and in groups of 64
// with PutUnsynced and one Sync per group.
//
//	go test -run '^$' -bench PutSmall -benchtime 2000x ./internal/blob/fileblob/
func BenchmarkPutSmall(b *testing.B) {
	content := bytes.Repeat([]byte("intake-"), 1<<10/7+1)[:1<<10]
	for _, group := range []int{1, 64} {
		name := "Put"
		if group > 1 {
			name = fmt.Sprintf("PutUnsynced+Sync/%d", group)
		}
		b.Run(name, func(b *testing.B) {
			bucket, err := fileblob.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer bucket.Close()
			var keys []string
			i := 0
			for b.Loop() {
				key := fmt.Sprintf("jobs/bench/%06d-owner", i)
				i++
				if group == 1 {
					if _, err := bucket.Put(b.Context(), key, bytes.NewReader(content), "text/plain"); err != nil {
						b.Fatal(err)
					}
					continue
				}
				if _, err := bucket.PutUnsynced(b.Context(), key, bytes.NewReader(content), "text/plain"); err != nil {
					b.Fatal(err)
				}
				if keys = append(keys, key); len(keys) == group {
					if err := bucket.Sync(b.Context(), keys); err != nil {
						b.Fatal(err)
					}
					keys = keys[:0]
				}
			}
			if err := bucket.Sync(b.Context(), keys); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "blobs/s")
		})
	}
}

// TestFailedPutCleansUp checks that a Put that fails leaves no temporary
// file behind on disk.
func TestFailedPutCleansUp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := open(t, dir)
	put(t, b, "d/ok", "ok", "text/plain")

	failing := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(errors.New("broken")))
	if _, err := b.Put(t.Context(), "d/failed", failing, "text/plain"); err == nil {
		t.Fatal("Put with a failing reader succeeded")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancelling := io.MultiReader(strings.NewReader("partial"), readFunc(func([]byte) (int, error) {
		cancel()
		return 0, io.EOF
	}), strings.NewReader("more"))
	if _, err := b.Put(ctx, "d/cancelled", cancelling, "text/plain"); err == nil {
		t.Fatal("Put cancelled while streaming succeeded")
	}

	entries, err := os.ReadDir(filepath.Join(dir, "d"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{".ok.meta.json", "ok"}; !slices.Equal(names, want) {
		t.Errorf("files on disk = %q, want %q", names, want)
	}
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }
