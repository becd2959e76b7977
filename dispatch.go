package intake

import (
	"context"
	"time"
)

// Dispatcher wakes workers when jobs become pending. It is only a hint: the
// store stays the source of truth, a lost or duplicated notification costs
// latency and never a job, and workers poll regardless. Implementations
// (internal/dispatch: in-process polling, Redis Streams, PostgreSQL
// LISTEN/NOTIFY) pass the conformance suite in internal/dispatch/dispatchtest.
//
// Fan-out: an implementation follows one of two rules, says which in its
// package doc, and declares it to the suite, which checks it.
//
//   - Broadcast: a notification wakes every waiter blocked in Wait when it
//     arrives, in every process that shares the backend (polling, within
//     its one process; LISTEN/NOTIFY). Idle workers race to claim, and the
//     store's claim picks one.
//   - One per job: each job ID of a notification wakes exactly one waiter
//     across all processes, and waits for one when none is blocked (Redis
//     Streams, through a consumer group).
//
// Either way, a notification sent while no Wait is blocked may be lost.
//
// Outages: an implementation that talks to a server degrades to polling
// while the server is gone, and recovers by itself. Open succeeds with the
// server down; Wait returns nil at its timeout and never earlier, so that a
// worker loop never spins; Notify fails fast with an EUNAVAILABLE error;
// the implementation retries its server with a backoff that starts at
// 250 ms and doubles; it logs one warning when the outage starts, at most
// one per 30 s while it lasts, and an info line when it ends; and no log
// line or error shows the password of its URL.
type Dispatcher interface {
	// Notify announces that the jobs became pending.
	Notify(ctx context.Context, jobIDs ...string) error
	// Wait blocks until a notification arrives, timeout elapses or ctx is
	// done, whichever is first. It returns ctx's error only.
	Wait(ctx context.Context, timeout time.Duration) error
	// Close releases resources.
	Close() error
}
