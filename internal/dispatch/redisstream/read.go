package redisstream

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Wait blocks until an entry arrives for this Dispatcher's group, timeout
// elapses or ctx is done. It returns ctx's error only: when Redis fails,
// Wait sleeps out the rest of its timeout, so a worker loop never spins.
// After Close it waits out its timeout too.
func (d *Dispatcher) Wait(ctx context.Context, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	for {
		// With more waiters than read slots, the others queue here; the
		// entries wait for them in the stream.
		select {
		case d.readSlots <- struct{}{}:
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
		// BLOCK counts whole milliseconds and BLOCK 0 never ends: a wait
		// shorter than 1 ms does not read.
		var r *read
		if block := min(time.Until(deadline), maxBlock).Truncate(time.Millisecond); block >= time.Millisecond {
			r = d.startRead(block)
		}
		if r == nil {
			<-d.readSlots
			return sleep(ctx, timer)
		}
		select {
		case res := <-r.done:
			switch {
			case res.err != nil:
				return sleep(ctx, timer)
			case len(res.jobIDs) > 0:
				return nil
			}
			// BLOCK ran out: read again for what is left of the timeout.
		case <-timer.C:
			d.handBack(r.abandon())
			return nil
		case <-ctx.Done():
			d.handBack(r.abandon())
			return ctx.Err()
		}
	}
}

// sleep waits for timer or ctx, and returns ctx's error if it was first.
func sleep(ctx context.Context, timer *time.Timer) error {
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// read is one XREADGROUP running in its own goroutine, so that Wait can
// return on its timeout or ctx while Redis still blocks: go-redis does not
// interrupt a blocked read when a context is cancelled.
type read struct {
	done chan readResult // buffered: the goroutine never blocks on it

	mu        sync.Mutex
	abandoned bool
}

type readResult struct {
	jobIDs []string
	err    error
}

// startRead starts a read that blocks for block (at least 1 ms) and frees
// the caller's read slot when it ends. It returns nil when Wait must not
// touch Redis: the Dispatcher is closed, or backing off after a failure.
func (d *Dispatcher) startRead(block time.Duration) *read {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || time.Now().Before(d.outage.RetryAt()) {
		return nil
	}
	r := &read{done: make(chan readResult, 1)}
	d.reads.Go(func() {
		ids, err := d.read(block)
		<-d.readSlots
		r.mu.Lock()
		abandoned := r.abandoned
		if !abandoned {
			r.done <- readResult{ids, err}
		}
		r.mu.Unlock()
		if abandoned {
			d.handBack(ids)
		}
	})
	return r
}

// abandon tells the read that its Wait has returned and returns the job IDs
// it delivered too late, if any: they must not be lost.
func (r *read) abandon() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.abandoned = true
	select {
	case res := <-r.done:
		return res.jobIDs
	default:
		return nil
	}
}

// read runs XREADGROUP for at most one new entry, blocking for block, and
// returns the job ID it carried, if any. It recreates the group when the
// stream or the group was deleted, and records the outcome for the backoff.
func (d *Dispatcher) read(block time.Duration) ([]string, error) {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(d.base, block+readSlack)
		streams, err := d.client.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group:    d.group,
			Consumer: d.consumer,
			Streams:  []string{d.stream, ">"},
			Count:    1,
			Block:    block,
			NoAck:    true,
		}).Result()
		if err != nil && attempt == 0 && isNoGroup(err) {
			err = d.ensureGroup(ctx)
			if err == nil {
				d.logger.Info("redis dispatch: recreated the stream's consumer group")
				cancel()
				continue
			}
		}
		cancel()
		switch {
		case errors.Is(err, redis.Nil): // BLOCK ran out
			d.succeeded()
			return nil, nil
		case err != nil:
			d.failed(err, readFailed)
			return nil, err
		}
		d.succeeded()
		var ids []string
		for _, s := range streams {
			for _, m := range s.Messages {
				if id, ok := m.Values[jobField].(string); ok {
					ids = append(ids, id)
				}
			}
		}
		if len(ids) == 0 {
			ids = []string{""} // a foreign entry still wakes the reader
		}
		return ids, nil
	}
}

// handBack re-adds entries that a read received after its Wait had
// returned, in the background, so that another waiter gets them.
func (d *Dispatcher) handBack(jobIDs []string) {
	ids := make([]string, 0, len(jobIDs))
	for _, id := range jobIDs {
		if id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.reads.Go(func() {
		ctx, cancel := context.WithTimeout(d.base, opTimeout)
		defer cancel()
		if err := d.add(ctx, ids); err != nil {
			d.logger.Debug("redis dispatch: hand back unread entries", "jobs", len(ids), "err", err)
		}
	})
}
