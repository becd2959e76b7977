// Package blobtest is the conformance suite for blob drivers. Every driver
// runs it from its own tests against a real backend, through blob.Bucket
// as intake uses it:
//
//	func TestConformance(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) driver.Bucket { return open(t, t.TempDir()) })
//	}
//
// open must return an empty bucket that no other test uses, closed by the
// test's cleanup; the suite never closes it. The keys the suite uses never
// need a file and a directory of the same name, so that file systems can
// pass.
package blobtest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob"
	"github.com/intake-dev/intake/internal/blob/driver"
)

// Run runs the conformance suite against drivers made by open, through
// blob.Bucket: its intake.BlobSyncer methods use the driver's
// driver.Syncer where it has one.
func Run(t *testing.T, open func(t *testing.T) driver.Bucket) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, intake.BlobStore)
	}{
		{"RoundTrip", testRoundTrip},
		{"Overwrite", testOverwrite},
		{"GetMissing", testGetMissing},
		{"Delete", testDelete},
		{"List", testList},
		{"ListStops", testListStops},
		{"DeleteWhileListing", testDeleteWhileListing},
		{"FailedReader", testFailedReader},
		{"ConcurrentPuts", testConcurrentPuts},
		{"Ping", testPing},
		{"ContextCancelled", testContextCancelled},
		{"PutUnsynced", testPutUnsynced},
		{"PutUnsyncedFails", testPutUnsyncedFails},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, blob.NewBucket(open(t)))
		})
	}
	t.Run("InvalidKeys", func(t *testing.T) {
		t.Parallel()
		rec := &recorder{Bucket: open(t)}
		testInvalidKeys(t, blob.NewBucket(rec), rec)
	})
	// LargePut measures allocations, so it runs alone, not in parallel.
	t.Run("LargePut", func(t *testing.T) { testLargePut(t, blob.NewBucket(open(t))) })
}

func testRoundTrip(t *testing.T, s intake.BlobStore) {
	ctx := t.Context()
	tests := []struct {
		name, key, contentType string
		content                []byte
		wantType               string
	}{
		{"text", "jobs/j1/000001-owner", "text/plain; charset=utf-8", []byte("hello, intake\n"), "text/plain; charset=utf-8"},
		{"binary", "a.b/c_d-e", "application/pdf", randomBytes(1, 300_000), "application/pdf"},
		{"empty", "empty", "application/json", nil, "application/json"},
		{"default content type", "untyped", "", []byte("x"), "application/octet-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now()
			info, err := s.Put(ctx, tt.key, bytes.NewReader(tt.content), tt.contentType)
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			want := &intake.BlobInfo{Key: tt.key, Size: int64(len(tt.content)), ContentType: tt.wantType, SHA256: hexSHA256(tt.content)}
			checkInfo(t, "Put", info, want, before)
			body, got := Read(t, s, tt.key)
			if !bytes.Equal(body, tt.content) {
				t.Errorf("Get content = %d bytes, want the %d bytes put", len(body), len(tt.content))
			}
			checkInfo(t, "Get", got, want, before)
		})
	}
}

func testOverwrite(t *testing.T, s intake.BlobStore) {
	mustPut(t, s, "k", []byte("first version, longer"), "text/plain")
	before := time.Now().Add(-time.Second)
	second := []byte(`{"v":2}`)
	mustPut(t, s, "k", second, "application/json")
	body, info := Read(t, s, "k")
	if !bytes.Equal(body, second) {
		t.Errorf("Get after overwrite = %q, want %q", body, second)
	}
	checkInfo(t, "Get", info, &intake.BlobInfo{Key: "k", Size: int64(len(second)), ContentType: "application/json", SHA256: hexSHA256(second)}, before)
	if keys := listKeys(t, s, ""); !slices.Equal(keys, []string{"k"}) {
		t.Errorf("List after overwrite = %q, want [k]", keys)
	}
}

func testGetMissing(t *testing.T, s intake.BlobStore) {
	mustPut(t, s, "dir/blob", []byte("x"), "text/plain")
	for _, key := range []string{"missing", "dir", "dir/blob/below", "dir/blo"} {
		rc, _, err := s.Get(t.Context(), key)
		if err == nil {
			rc.Close()
		}
		if code := intake.ErrorCode(err); code != intake.ENOTFOUND {
			t.Errorf("Get(%q) error = %v (code %q), want %s", key, err, code, intake.ENOTFOUND)
		}
	}
}

func testDelete(t *testing.T, s intake.BlobStore) {
	ctx := t.Context()
	mustPut(t, s, "d/one", []byte("1"), "text/plain")
	mustPut(t, s, "d/two", []byte("2"), "text/plain")
	if err := s.Delete(ctx, "d/one"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, _, err := s.Get(ctx, "d/one"); intake.ErrorCode(err) != intake.ENOTFOUND {
		t.Errorf("Get after Delete error = %v, want %s", err, intake.ENOTFOUND)
	}
	if keys := listKeys(t, s, ""); !slices.Equal(keys, []string{"d/two"}) {
		t.Errorf("List after Delete = %q, want [d/two]", keys)
	}
	for _, key := range []string{"d/one", "never", "d", "nope/deeper"} {
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%q) of a missing key = %v, want nil", key, err)
		}
	}
	if body, _ := Read(t, s, "d/two"); string(body) != "2" {
		t.Errorf("Get(d/two) = %q after deleting other keys, want 2", body)
	}
}

func testList(t *testing.T, s intake.BlobStore) {
	// Byte order puts "-" and "." before "/" before digits: a store that
	// lists directory by directory gets "list/a-c" and "list/a/b" wrong.
	keys := []string{"list/a/c", "list/b", "list/a0", "list/a.b", "other/x", "list/a-c", "list/a/b", "lis"}
	before := time.Now().Add(-time.Second)
	for i, k := range keys {
		mustPut(t, s, k, bytes.Repeat([]byte{'x'}, i), "text/plain")
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"lis", "list/a-c", "list/a.b", "list/a/b", "list/a/c", "list/a0", "list/b", "other/x"}},
		{"list/", []string{"list/a-c", "list/a.b", "list/a/b", "list/a/c", "list/a0", "list/b"}},
		{"list/a", []string{"list/a-c", "list/a.b", "list/a/b", "list/a/c", "list/a0"}},
		{"list/a/", []string{"list/a/b", "list/a/c"}},
		{"list/a/b", []string{"list/a/b"}},
		{"lis", []string{"lis", "list/a-c", "list/a.b", "list/a/b", "list/a/c", "list/a0", "list/b"}},
		{"o", []string{"other/x"}},
		{"nomatch", nil},
		{"list//", nil},
		{"../", nil},
	}
	for _, tt := range tests {
		var got []string
		err := s.List(t.Context(), tt.prefix, func(info *intake.BlobInfo) error {
			got = append(got, info.Key)
			i := slices.Index(keys, info.Key)
			checkInfo(t, "List", info, &intake.BlobInfo{
				Key: info.Key, Size: int64(i), ContentType: "text/plain",
				SHA256: hexSHA256(bytes.Repeat([]byte{'x'}, i)),
			}, before)
			return nil
		})
		if err != nil {
			t.Errorf("List(%q): %v", tt.prefix, err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("List(%q) = %q, want %q", tt.prefix, got, tt.want)
		}
	}
}

func testListStops(t *testing.T, s intake.BlobStore) {
	for _, k := range []string{"s/1", "s/2", "s/3", "s/4"} {
		mustPut(t, s, k, []byte(k), "text/plain")
	}
	errStop := errors.New("stop")
	var got []string
	err := s.List(t.Context(), "s/", func(info *intake.BlobInfo) error {
		got = append(got, info.Key)
		if len(got) == 2 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Errorf("List error = %v, want fn's error", err)
	}
	if !slices.Equal(got, []string{"s/1", "s/2"}) {
		t.Errorf("List visited %q after fn failed on the second, want [s/1 s/2]", got)
	}
}

// testDeleteWhileListing deletes each blob from inside List's callback, as
// the orphan sweep does.
func testDeleteWhileListing(t *testing.T, s intake.BlobStore) {
	for _, k := range []string{"sweep/1", "sweep/2", "sweep/3", "keep"} {
		mustPut(t, s, k, []byte(k), "text/plain")
	}
	var deleted []string
	err := s.List(t.Context(), "sweep/", func(info *intake.BlobInfo) error {
		deleted = append(deleted, info.Key)
		return s.Delete(t.Context(), info.Key)
	})
	if err != nil {
		t.Fatalf("List deleting as it goes: %v", err)
	}
	if want := []string{"sweep/1", "sweep/2", "sweep/3"}; !slices.Equal(deleted, want) {
		t.Errorf("List visited %q, want %q", deleted, want)
	}
	if keys := listKeys(t, s, ""); !slices.Equal(keys, []string{"keep"}) {
		t.Errorf("List after the sweep = %q, want [keep]", keys)
	}
}

// testInvalidKeys checks that every invalid key is refused, by Put, Get,
// Delete, PutUnsynced and Sync alike, with intake.ValidateBlobKey's
// EINVALID error, so that every driver refuses it identically, and that
// none reaches the driver; and that List under a directory no key can have
// lists nothing without asking the driver.
func testInvalidKeys(t *testing.T, s intake.BlobStore, rec *recorder) {
	ctx := t.Context()
	syncer := mustSyncer(t, s)
	for _, key := range []string{"", "/abs", "a/../b", "..", "a//b", "a/./b", `a\b`, "a/b/", "sp ace", ".hidden", "a/.b", "a/b\x00", strings.Repeat("k", 513)} {
		want := intake.ValidateBlobKey(key)
		if want == nil {
			t.Fatalf("suite bug: %q is a valid key", key)
		}
		_, putErr := s.Put(ctx, key, strings.NewReader("x"), "text/plain")
		rc, _, getErr := s.Get(ctx, key)
		if getErr == nil {
			rc.Close()
		}
		_, unsyncedErr := syncer.PutUnsynced(ctx, key, strings.NewReader("x"), "text/plain")
		for op, err := range map[string]error{
			"Put": putErr, "Get": getErr, "Delete": s.Delete(ctx, key),
			"PutUnsynced": unsyncedErr, "Sync": syncer.Sync(ctx, []string{"valid", key}),
		} {
			if code := intake.ErrorCode(err); code != intake.EINVALID || err.Error() != want.Error() {
				t.Errorf("%s(%q) error = %v (code %q), want %s %q", op, key, err, code, intake.EINVALID, want)
			}
		}
	}
	for _, prefix := range []string{"../", "a//", "/", "a/../b/c", ".hidden/x"} {
		if keys := listKeys(t, s, prefix); len(keys) != 0 {
			t.Errorf("List(%q) = %q, want nothing", prefix, keys)
		}
	}
	if keys := listKeys(t, s, ""); len(keys) != 0 {
		t.Errorf("List after invalid puts = %q, want none", keys)
	}
	if calls := rec.calls(); len(calls) != 1 || calls[0] != `List("")` {
		t.Errorf("the driver was called with %q, want only the last List(\"\")", calls)
	}
}

// testLargePut streams 64 MiB from a generator and checks that the store
// neither buffers it (allocations stay under half its size) nor changes it.
func testLargePut(t *testing.T, s intake.BlobStore) {
	const size = 64 << 20
	src := &generator{rng: rand.NewChaCha8([32]byte{7}), left: size, hash: sha256.New()}

	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	info, err := s.Put(t.Context(), "large/blob", src, "application/octet-stream")
	runtime.ReadMemStats(&m1)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if alloc := m1.TotalAlloc - m0.TotalAlloc; alloc > size/2 {
		t.Errorf("Put of %d MiB allocated %d MiB: the reader was buffered", size>>20, alloc>>20)
	}
	want := hex.EncodeToString(src.hash.Sum(nil))
	if info.Size != size || info.SHA256 != want {
		t.Errorf("Put = size %d sha256 %s, want %d %s", info.Size, info.SHA256, size, want)
	}

	rc, got, err := s.Get(t.Context(), "large/blob")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if n != size || hex.EncodeToString(h.Sum(nil)) != want || got.SHA256 != want || got.Size != size {
		t.Errorf("Get = %d bytes, info %d bytes sha256 %s; want %d bytes sha256 %s", n, got.Size, got.SHA256, size, want)
	}
}

func testFailedReader(t *testing.T, s intake.BlobStore) {
	ctx := t.Context()
	errBroken := errors.New("connection reset")
	broken := func() io.Reader {
		return io.MultiReader(bytes.NewReader(randomBytes(2, 200_000)), errReader{errBroken})
	}

	if _, err := s.Put(ctx, "failed/new", broken(), "text/plain"); !errors.Is(err, errBroken) {
		t.Errorf("Put with a failing reader error = %v, want the reader's error", err)
	}
	if _, _, err := s.Get(ctx, "failed/new"); intake.ErrorCode(err) != intake.ENOTFOUND {
		t.Errorf("Get after a failed Put error = %v, want %s", err, intake.ENOTFOUND)
	}

	old := []byte("the old blob")
	mustPut(t, s, "failed/old", old, "text/plain")
	if _, err := s.Put(ctx, "failed/old", broken(), "application/pdf"); !errors.Is(err, errBroken) {
		t.Errorf("overwrite with a failing reader error = %v, want the reader's error", err)
	}
	body, info := Read(t, s, "failed/old")
	if !bytes.Equal(body, old) || info.ContentType != "text/plain" || info.SHA256 != hexSHA256(old) {
		t.Errorf("after a failed overwrite Get = %q %+v, want the old blob intact", body, info)
	}
	if keys := listKeys(t, s, ""); !slices.Equal(keys, []string{"failed/old"}) {
		t.Errorf("List after failed puts = %q, want [failed/old]", keys)
	}
}

// testConcurrentPuts races writers on one key, round after round: each
// round must end with one writer's content and that writer's metadata.
func testConcurrentPuts(t *testing.T, s intake.BlobStore) {
	const writers, rounds = 8, 25
	for round := range rounds {
		key := fmt.Sprintf("race/%02d", round)
		contents := make([][]byte, writers)
		for i := range contents {
			contents[i] = randomBytes(uint64(round*writers+i), 8<<10+i)
		}
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range writers {
			wg.Go(func() {
				_, errs[i] = s.Put(t.Context(), key, bytes.NewReader(contents[i]), fmt.Sprintf("application/x-writer-%d", i))
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d writer %d: %v", round, i, err)
			}
		}
		body, info := Read(t, s, key)
		i := slices.IndexFunc(contents, func(c []byte) bool { return bytes.Equal(c, body) })
		if i < 0 {
			t.Fatalf("round %d: Get = %d bytes matching no writer's content", round, len(body))
		}
		want := &intake.BlobInfo{Key: key, Size: int64(len(body)), ContentType: fmt.Sprintf("application/x-writer-%d", i), SHA256: hexSHA256(body)}
		checkInfo(t, fmt.Sprintf("round %d: Get", round), info, want, time.Now().Add(-time.Hour))
	}
	if keys := listKeys(t, s, "race/"); len(keys) != rounds {
		t.Errorf("List after concurrent puts = %q, want one key per round", keys)
	}
}

// mustSyncer returns s as an intake.BlobSyncer, which blob.Bucket is.
func mustSyncer(t *testing.T, s intake.BlobStore) intake.BlobSyncer {
	t.Helper()
	syncer, ok := s.(intake.BlobSyncer)
	if !ok {
		t.Fatalf("%T is not an intake.BlobSyncer", s)
	}
	return syncer
}

// testPutUnsynced puts blobs without syncing them, as the worker does for
// a group of documents: each reads back at once as Put's would, an
// overwrite replaces the blob and its metadata, and one Sync for all of
// them (one deleted since, which Sync skips) succeeds and leaves them as
// they were. What survives a crash no test here can see.
func testPutUnsynced(t *testing.T, s intake.BlobStore) {
	ctx := t.Context()
	syncer := mustSyncer(t, s)
	blobs := []struct {
		key, contentType string
		content          []byte
	}{
		{"group/a/000001-w", "text/plain", []byte("one")},
		{"group/a/000002-w", "application/pdf", randomBytes(5, 300_000)},
		{"group/b/000003-w", "", nil},
		{"group/a/000001-w", "application/json", []byte(`{"v":2}`)}, // overwrites the first
		{"group/gone", "text/plain", []byte("deleted before Sync")},
	}
	before := time.Now()
	var keys []string
	for _, b := range blobs {
		info, err := syncer.PutUnsynced(ctx, b.key, bytes.NewReader(b.content), b.contentType)
		if err != nil {
			t.Fatalf("PutUnsynced(%q): %v", b.key, err)
		}
		want := &intake.BlobInfo{Key: b.key, Size: int64(len(b.content)), ContentType: cmp.Or(b.contentType, driver.DefaultContentType), SHA256: hexSHA256(b.content)}
		checkInfo(t, "PutUnsynced", info, want, before)
		body, got := Read(t, s, b.key) // readable before Sync
		if !bytes.Equal(body, b.content) {
			t.Errorf("Get(%q) before Sync = %d bytes, want the %d put", b.key, len(body), len(b.content))
		}
		checkInfo(t, "Get before Sync", got, want, before)
		keys = append(keys, b.key)
	}
	if err := s.Delete(ctx, "group/gone"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := syncer.Sync(ctx, keys); err != nil {
		t.Fatalf("Sync(%q): %v", keys, err)
	}
	if err := syncer.Sync(ctx, nil); err != nil {
		t.Errorf("Sync of no keys: %v", err)
	}
	for _, b := range blobs[1:4] {
		body, info := Read(t, s, b.key)
		want := &intake.BlobInfo{Key: b.key, Size: int64(len(b.content)), ContentType: cmp.Or(b.contentType, driver.DefaultContentType), SHA256: hexSHA256(b.content)}
		if !bytes.Equal(body, b.content) {
			t.Errorf("Get(%q) after Sync = %d bytes, want the %d put", b.key, len(body), len(b.content))
		}
		checkInfo(t, "Get after Sync", info, want, before)
	}
	want := []string{"group/a/000001-w", "group/a/000002-w", "group/b/000003-w"}
	if got := listKeys(t, s, "group/"); !slices.Equal(got, want) {
		t.Errorf("List after Sync = %q, want %q", got, want)
	}
}

// testPutUnsyncedFails checks that PutUnsynced fails as Put does: a
// failing reader's error comes back and nothing changes at the key, a
// cancelled context stops it; and that Sync with a cancelled context fails
// with the context's error.
func testPutUnsyncedFails(t *testing.T, s intake.BlobStore) {
	ctx := t.Context()
	syncer := mustSyncer(t, s)
	errBroken := errors.New("connection reset")
	old := []byte("the old blob")
	mustPut(t, s, "unsynced/old", old, "text/plain")
	for _, key := range []string{"unsynced/new", "unsynced/old"} {
		r := io.MultiReader(bytes.NewReader(randomBytes(6, 200_000)), errReader{errBroken})
		if _, err := syncer.PutUnsynced(ctx, key, r, "application/pdf"); !errors.Is(err, errBroken) {
			t.Errorf("PutUnsynced(%q) with a failing reader error = %v, want the reader's error", key, err)
		}
	}
	if body, info := Read(t, s, "unsynced/old"); !bytes.Equal(body, old) || info.ContentType != "text/plain" {
		t.Errorf("after a failed PutUnsynced over it, Get = %q %+v, want the old blob intact", body, info)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	_, err := syncer.PutUnsynced(done, "unsynced/cancelled", strings.NewReader("x"), "text/plain")
	wantCanceled(t, "PutUnsynced", err)
	wantCanceled(t, "Sync", syncer.Sync(done, []string{"unsynced/old"}))
	if keys := listKeys(t, s, "unsynced/"); !slices.Equal(keys, []string{"unsynced/old"}) {
		t.Errorf("List after failed PutUnsynced calls = %q, want [unsynced/old]", keys)
	}
}

func testPing(t *testing.T, s intake.BlobStore) {
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func testContextCancelled(t *testing.T, s intake.BlobStore) {
	mustPut(t, s, "ctx/existing", []byte("x"), "text/plain")
	done, cancel := context.WithCancel(t.Context())
	cancel()

	_, err := s.Put(done, "ctx/new", strings.NewReader("x"), "text/plain")
	wantCanceled(t, "Put", err)
	rc, _, err := s.Get(done, "ctx/existing")
	if err == nil {
		rc.Close()
	}
	wantCanceled(t, "Get", err)
	wantCanceled(t, "Delete", s.Delete(done, "ctx/existing"))
	wantCanceled(t, "List", s.List(done, "", func(*intake.BlobInfo) error { return nil }))
	wantCanceled(t, "Ping", s.Ping(done))

	// Cancelled while streaming: the reader cancels after its first chunk.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := io.MultiReader(
		bytes.NewReader(randomBytes(3, 100_000)),
		cancelReader{cancel},
		bytes.NewReader(randomBytes(4, 4<<20)),
	)
	_, err = s.Put(ctx, "ctx/streaming", r, "text/plain")
	wantCanceled(t, "Put cancelled while streaming", err)

	if keys := listKeys(t, s, ""); !slices.Equal(keys, []string{"ctx/existing"}) {
		t.Errorf("List after cancelled calls = %q, want [ctx/existing]", keys)
	}
}

func wantCanceled(t *testing.T, op string, err error) {
	t.Helper()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("%s with a cancelled context error = %v, want context.Canceled", op, err)
	}
}

// checkInfo compares got with want, and checks that got.ModTime is set and
// no earlier than a little before notBefore.
func checkInfo(t *testing.T, op string, got, want *intake.BlobInfo, notBefore time.Time) {
	t.Helper()
	if got == nil {
		t.Errorf("%s info = nil", op)
		return
	}
	if got.Key != want.Key || got.Size != want.Size || got.ContentType != want.ContentType || got.SHA256 != want.SHA256 {
		t.Errorf("%s info = {%s %d %q %s}, want {%s %d %q %s}", op,
			got.Key, got.Size, got.ContentType, got.SHA256, want.Key, want.Size, want.ContentType, want.SHA256)
	}
	// Remote stores stamp ModTime with their own clock: allow skew.
	const skew = 5 * time.Minute
	if got.ModTime.Before(notBefore.Add(-skew)) || got.ModTime.After(time.Now().Add(skew)) {
		t.Errorf("%s ModTime = %v, want about now", op, got.ModTime)
	}
}

func mustPut(t *testing.T, s intake.BlobStore, key string, content []byte, contentType string) {
	t.Helper()
	if _, err := s.Put(t.Context(), key, bytes.NewReader(content), contentType); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// Read returns the content and info of the blob at key in s (a
// blob.Bucket or a driver), failing the test on any error.
func Read(t testing.TB, s intake.BlobStore, key string) ([]byte, *intake.BlobInfo) {
	t.Helper()
	rc, info, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return body, info
}

func listKeys(t *testing.T, s intake.BlobStore, prefix string) []string {
	t.Helper()
	var keys []string
	if err := s.List(t.Context(), prefix, func(info *intake.BlobInfo) error {
		keys = append(keys, info.Key)
		return nil
	}); err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return keys
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// generator yields left pseudo-random bytes without holding them, and
// hashes what it yields.
type generator struct {
	rng  *rand.ChaCha8
	left int
	hash hash.Hash
}

func (g *generator) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(len(p), g.left)]
	_, _ = g.rng.Read(p)
	g.hash.Write(p)
	g.left -= len(p)
	return len(p), nil
}

// recorder is a driver that records the calls that reach it.
type recorder struct {
	driver.Bucket
	mu  sync.Mutex
	log []string
}

func (r *recorder) record(op, arg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, fmt.Sprintf("%s(%q)", op, arg))
}

func (r *recorder) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log)
}

func (r *recorder) Put(ctx context.Context, key string, body io.Reader, contentType string) (*intake.BlobInfo, error) {
	r.record("Put", key)
	return r.Bucket.Put(ctx, key, body, contentType)
}

// PutUnsynced records the call and puts through the driver's
// driver.Syncer, or its Put when it has none.
func (r *recorder) PutUnsynced(ctx context.Context, key string, body io.Reader, contentType string) (*intake.BlobInfo, error) {
	r.record("PutUnsynced", key)
	if s, ok := r.Bucket.(driver.Syncer); ok {
		return s.PutUnsynced(ctx, key, body, contentType)
	}
	return r.Bucket.Put(ctx, key, body, contentType)
}

// Sync records the call and syncs through the driver's driver.Syncer.
func (r *recorder) Sync(ctx context.Context, keys []string) error {
	r.record("Sync", strings.Join(keys, " "))
	if s, ok := r.Bucket.(driver.Syncer); ok {
		return s.Sync(ctx, keys)
	}
	return nil
}

func (r *recorder) Get(ctx context.Context, key string) (io.ReadCloser, *intake.BlobInfo, error) {
	r.record("Get", key)
	return r.Bucket.Get(ctx, key)
}

func (r *recorder) Delete(ctx context.Context, key string) error {
	r.record("Delete", key)
	return r.Bucket.Delete(ctx, key)
}

func (r *recorder) List(ctx context.Context, prefix string, fn func(*intake.BlobInfo) error) error {
	r.record("List", prefix)
	return r.Bucket.List(ctx, prefix, fn)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// cancelReader cancels its context when first read, then reads as empty.
type cancelReader struct{ cancel context.CancelFunc }

func (r cancelReader) Read([]byte) (int, error) {
	r.cancel()
	return 0, io.EOF
}
