package intake

import (
	"context"
	"time"
)

// Dispatcher wakes workers when jobs become pending. It is only a hint: the
// store stays the source of truth, a lost or duplicated notification costs
// latency and never a job, and workers poll regardless. Implementations:
// in-process polling (default) and Redis Streams.
type Dispatcher interface {
	// Notify announces that the jobs became pending.
	Notify(ctx context.Context, jobIDs ...string) error
	// Wait blocks until a notification arrives, timeout elapses or ctx is
	// done, whichever is first. It returns ctx's error only.
	Wait(ctx context.Context, timeout time.Duration) error
	// Close releases resources.
	Close() error
}
