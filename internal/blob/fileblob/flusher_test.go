package fileblob

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

// TestFlusherSharesFlushes holds a flush open while callers arrive: none
// returns before a flush that began after it, and those that waited
// together are served by one flush.
func TestFlusherSharesFlushes(t *testing.T) {
	t.Parallel()
	var flushes atomic.Int64
	entered, release := make(chan struct{}, 10), make(chan struct{})
	f := &flusher{sync: func() error {
		flushes.Add(1)
		entered <- struct{}{}
		<-release
		return nil
	}}
	first := make(chan error, 1)
	go func() { first <- f.flush(t.Context()) }()
	<-entered // flush 1 runs

	const waiters = 5
	var wg sync.WaitGroup
	returned := make(chan int, waiters)
	for i := range waiters {
		wg.Go(func() {
			if err := f.flush(t.Context()); err != nil {
				t.Errorf("waiter %d: %v", i, err)
			}
			returned <- i
		})
	}
	waitFor(t, func() bool { // every waiter is queued behind flush 1
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.waiting == waiters
	})
	if len(returned) != 0 {
		t.Fatal("a caller returned on a flush that began before it")
	}
	release <- struct{}{} // ends flush 1; one of the waiters starts flush 2
	if err := <-first; err != nil {
		t.Fatalf("first caller: %v", err)
	}
	<-entered
	if len(returned) != 0 {
		t.Fatal("a waiter returned before the flush that began after it ended")
	}
	release <- struct{}{}
	wg.Wait()
	if n := flushes.Load(); n != 2 {
		t.Errorf("%d flushes for 1 caller and %d waiting together, want 2", n, waiters)
	}
}

// TestFlusherFailureSticks fails one flush: that caller and every later
// one get the error, since a write-back error is reported only once.
func TestFlusherFailureSticks(t *testing.T) {
	t.Parallel()
	errIO := errors.New("input/output error")
	var calls atomic.Int64
	f := &flusher{sync: func() error {
		if calls.Add(1) == 2 {
			return errIO
		}
		return nil
	}}
	for i, want := range []error{nil, errIO, errIO, errIO} {
		if err := f.flush(t.Context()); !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("flush %d = %v, want %v", i+1, err, want)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("the file system was flushed %d times, want 2 (none after the failure)", n)
	}
}

// TestFlusherWaitHonoursContext: a caller waiting for a running flush
// leaves when its context ends.
func TestFlusherWaitHonoursContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{})
	f := &flusher{sync: func() error { close(entered); <-release; return nil }}
	go func() { _ = f.flush(context.Background()) }()
	<-entered
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := f.flush(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("flush with a cancelled context while another runs = %v, want context.Canceled", err)
	}
	close(release)
}

// TestSyncFileByFile runs Sync where there is no syncfs(2): it fsyncs the
// blobs, their sidecars and directories, and skips a key deleted since.
func TestSyncFileByFile(t *testing.T) {
	t.Parallel()
	b, err := Open(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if b.fs != nil {
		_ = b.fs.close()
		b.fs = nil
	}
	ctx := t.Context()
	keys := []string{"jobs/a/000001-w", "jobs/a/000002-w", "jobs/b/000001-w", "gone"}
	for _, k := range keys {
		if _, err := b.PutUnsynced(ctx, k, strings.NewReader(k), "text/plain"); err != nil {
			t.Fatalf("PutUnsynced(%q): %v", k, err)
		}
	}
	if err := b.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(ctx, keys); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	var listed []string
	if err := b.List(ctx, "", func(i *intake.BlobInfo) error { listed = append(listed, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := keys[:3]; !slices.Equal(listed, want) {
		t.Errorf("List after Sync = %q, want %q", listed, want)
	}
}

// waitFor polls cond until it holds, failing the test after a while.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}
