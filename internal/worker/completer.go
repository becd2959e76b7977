package worker

import (
	"context"
	"fmt"

	"github.com/intake-dev/intake"
)

// maxFinishBatch bounds the runs one FinishRuns call of a completer ends.
const maxFinishBatch = intake.MaxPageSize

// completer ends the successful runs of one pool (Run) in batches, on a
// store that can (intake.BatchFinisher): each run hands it its finish and
// waits for its own result, so that a lost lease, the run's metrics and its
// log line stay the run's own, and the completer ends every finish handed
// to it meanwhile with one FinishRuns call: one round trip and one commit
// for all of them. It calls as soon as the previous call returned (group
// commit), so a finish waits for no timer: under load the runs that
// finished during one call make the next batch, and a lone run is ended at
// once. Reschedule and Fail stay single calls: they are the exception.
type completer struct {
	w        *Worker
	finisher intake.BatchFinisher
	// queue takes the finishes; closed by stop once no run is left.
	queue chan *completion
	done  chan struct{}
}

// completion is one run's finish and where its result goes.
type completion struct {
	p   intake.FinishParams
	err chan error // buffered: the completer never waits for the run
}

func newCompleter(w *Worker, finisher intake.BatchFinisher) *completer {
	return &completer{
		w:        w,
		finisher: finisher,
		queue:    make(chan *completion, min(maxFinishBatch, max(w.cfg.Concurrency, 16))),
		done:     make(chan struct{}),
	}
}

// run ends the queued finishes, batch after batch, until stop. Its calls
// run under base (detached from the pool's context, which ends before its
// last runs do), each bounded by releaseTimeout.
func (c *completer) run(base context.Context) {
	defer close(c.done)
	batch := make([]*completion, 0, maxFinishBatch)
	for {
		q, ok := <-c.queue
		if !ok {
			return
		}
		batch = append(batch[:0], q)
	fill:
		for len(batch) < maxFinishBatch {
			select {
			case q, ok := <-c.queue:
				if !ok {
					break fill
				}
				batch = append(batch, q)
			default:
				break fill
			}
		}
		c.flush(base, batch)
		clear(batch)
	}
}

// stop ends run once every finish was handed over and answered: the pool
// calls it after its last run returned, so nothing is left to flush.
func (c *completer) stop() {
	close(c.queue)
	<-c.done
}

// flush ends one batch with one FinishRuns call and answers each run.
func (c *completer) flush(base context.Context, batch []*completion) {
	ctx, cancel := context.WithTimeout(base, releaseTimeout)
	defer cancel()
	runs := make([]intake.FinishParams, len(batch))
	for i, q := range batch {
		runs[i] = q.p
	}
	errs := c.finishRuns(ctx, runs)
	for i, q := range batch {
		var err error
		if i < len(errs) {
			err = errs[i]
		} else {
			err = fmt.Errorf("the store answered %d of %d finishes", len(errs), len(batch))
		}
		q.err <- err
	}
}

// finishRuns is FinishRuns with a panic turned into every run's error,
// logged and counted: the runs' jobs stay leased until their leases expire.
func (c *completer) finishRuns(ctx context.Context, runs []intake.FinishParams) (errs []error) {
	defer func() {
		if v := recover(); v != nil {
			err := recovered(ctx, c.w.logger, c.w.metrics.panics, panicLoop, v, "runs", len(runs))
			errs = make([]error, len(runs))
			for i := range errs {
				errs[i] = err
			}
		}
	}()
	return c.finisher.FinishRuns(ctx, runs)
}

// finish hands a run's finish to the completer and waits for its result,
// or for ctx: a run that stops waiting does not know whether its job was
// finished, as with a FinishRun that timed out.
func (c *completer) finish(ctx context.Context, p intake.FinishParams) error {
	q := &completion{p: p, err: make(chan error, 1)}
	select {
	case c.queue <- q:
	case <-ctx.Done():
		return fmt.Errorf("finish run of job %s: %w", p.JobID, context.Cause(ctx))
	}
	select {
	case err := <-q.err:
		return err
	case <-ctx.Done():
		return fmt.Errorf("finish run of job %s: waiting for the batch: %w", p.JobID, context.Cause(ctx))
	}
}
