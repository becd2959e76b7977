package intake

import "context"

// BatchFinisher is implemented by stores that end several successful runs
// in one round trip. A worker pool that finds it hands the finish of each
// run to one completer, which ends the runs that finished meanwhile
// together: on PostgreSQL one statement and one commit for all of them
// instead of one for each.
//
// It is an interface of its own, as BatchClaimer is, rather than a method
// of Store: a wrapper that embeds a Store to watch or change FinishRun
// (a test's fault injection, a benchmark's timer) does not gain a
// FinishRuns that would pass it by; the pool then finishes each run with
// FinishRun, as it does on a store without batches.
type BatchFinisher interface {
	// FinishRuns ends each run of runs as FinishRun(ctx, JobID, Owner,
	// Done) would, after recording its Plan, when it has one, in the same
	// atomic step. Each run is fenced by its own lease: it returns one
	// error per run, in order, nil when the run ended, ErrLeaseLost when
	// the caller no longer held the job (the other runs still end), and
	// another error when the run may not have ended (the store failed). A
	// Plan with an invalid total is an EINVALID error for its run alone. A
	// run given twice (the same job and owner) ends once: the second is
	// ErrLeaseLost, as a second FinishRun would be.
	//
	// A store ends the runs of one call in one atomic step where it can
	// (PostgreSQL: one statement; SQLite: one transaction), so that a
	// failure ends none of them; MongoDB ends them one after another.
	FinishRuns(ctx context.Context, runs []FinishParams) []error
}

// FinishParams names one run for BatchFinisher.FinishRuns to end.
type FinishParams struct {
	// JobID and Owner fence the run, as with FinishRun.
	JobID string
	Owner string
	// Done completes the job; otherwise it is pending again, as with
	// FinishRun.
	Done bool
	// Plan, when set, is the source's plan of a job that the run planned
	// and from which it collected nothing (a job with no documents, or
	// none left): the store records it as Store.Plan would, in the same
	// step that ends the run, so that the run costs one write instead of
	// two. A run that collects documents records its plan with Plan
	// before the first of them.
	Plan *JobPlan
}

// JobPlan is a source's plan of a job: its total (TotalUnknown when the
// source cannot tell) and the checkpoint to collect its first document
// from.
type JobPlan struct {
	Total      int
	Checkpoint []byte
}
