package intake

import "context"

// BatchClaimer is implemented by stores that claim several jobs in one
// round trip. A worker pool that finds it claims for all of its idle
// workers at once instead of one job per worker and round trip.
type BatchClaimer interface {
	// ClaimMany claims up to n pending jobs, oldest AvailableAt (then ID)
	// first, each exactly as Claim claims one: processing under a new
	// lease, Runs+1, StartedAt set on the first claim, its run record
	// opened. Every job gets p.Owner; fenced calls check the job ID and the
	// owner together, so one owner for several jobs is safe, but the owner
	// must be new for each call. p.JobID must be empty and n in
	// 1..MaxPageSize, else it is an EINVALID error. It returns the jobs in
	// claim order, or ErrNoJob when none is pending.
	ClaimMany(ctx context.Context, p ClaimParams, n int) ([]*Job, error)
}
