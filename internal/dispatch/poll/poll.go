// Package poll is intake's default dispatcher. Within one process, Notify
// wakes every worker blocked in Wait at once (the broadcast fan-out rule of
// intake.Dispatcher); across processes it does nothing, and workers in other
// processes find new jobs when they next poll the store (every
// INTAKE_WORKER_POLL_INTERVAL). That is all the embedded single-process
// deployment needs; Redis Streams carries notifications between processes.
package poll

import (
	"context"
	"sync"
	"time"

	"github.com/intake-dev/intake"
)

// Dispatcher broadcasts notifications to the waiters of one process. The
// zero value is not usable; call New. It is safe for concurrent use.
type Dispatcher struct {
	mu sync.Mutex
	// wake is closed, and replaced, by every Notify: closing a channel
	// releases all of its receivers at once.
	wake   chan struct{}
	closed bool
}

var _ intake.Dispatcher = (*Dispatcher)(nil)

// New returns a Dispatcher with no waiters.
func New() *Dispatcher {
	return &Dispatcher{wake: make(chan struct{})}
}

// Notify wakes every goroutine currently blocked in Wait. A notification
// with no job IDs, or after Close, does nothing. It never fails.
func (d *Dispatcher) Notify(_ context.Context, jobIDs ...string) error {
	if len(jobIDs) == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	close(d.wake)
	d.wake = make(chan struct{})
	return nil
}

// Wait blocks until the next Notify, until timeout elapses, or until ctx is
// done. A notification sent before Wait starts is not remembered: the
// caller polls the store on timeout anyway. After Close, Wait still waits
// out its timeout, so that a worker loop never spins.
func (d *Dispatcher) Wait(ctx context.Context, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	wake := d.wake
	d.mu.Unlock()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-wake:
		return nil
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close makes later notifications no-ops. It is idempotent.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}
