package fileblob

import (
	"context"
	"fmt"
	"sync"
)

// flusher makes everything written to a file system before a call durable,
// sharing each flush (a syncfs(2)) between all the callers that wait for
// it: a call waits for a flush that began after it was made, starting one
// when none runs, so that callers arriving while a flush runs are served
// together by the next. One flush runs at a time.
//
// A failed flush fails every later call too: the file system reports a
// write-back error once, to whichever flush comes first, and cannot say
// whose file it concerns, so no caller can be told its blobs are durable
// after it. The store must be reopened (the process restarted).
type flusher struct {
	sync  func() error // the flush: syncfs(2) of the root
	close func() error // releases what sync uses

	mu      sync.Mutex
	running chan struct{} // closed when the running flush ends; nil when none runs
	started uint64        // flushes begun
	ended   uint64        // flushes ended (one at a time, so in order)
	err     error         // the first failure, returned from then on
	waiting int           // callers waiting for a running flush to end
}

// flush returns once a flush that began after the call has ended.
func (f *flusher) flush(ctx context.Context) error {
	f.mu.Lock()
	want := f.started + 1 // a flush running now began too early
	for {
		switch {
		case f.err != nil:
			err := f.err
			f.mu.Unlock()
			return err
		case f.ended >= want:
			f.mu.Unlock()
			return nil
		case f.running == nil:
			f.started++
			n, done := f.started, make(chan struct{})
			f.running = done
			f.mu.Unlock()
			err := f.sync()
			f.mu.Lock()
			f.ended, f.running = n, nil
			if err != nil && f.err == nil {
				f.err = fmt.Errorf("flush the file system: %w", err)
			}
			close(done)
			continue
		}
		done := f.running
		f.waiting++
		f.mu.Unlock()
		var err error
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		f.mu.Lock()
		f.waiting--
		if err != nil {
			f.mu.Unlock()
			return err
		}
	}
}
