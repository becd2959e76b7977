package intake

import "time"

// RunOutcome says how a run ended. A run is one claim of a job: Claim opens
// its record and the store call that releases the job closes it, in the
// same atomic step as the job's own change, so the run history cannot
// disagree with the job.
type RunOutcome string

// The run outcomes, with the store call that records each.
const (
	// RunRunning marks an open run: the job is processing under its lease.
	RunRunning RunOutcome = "running"
	// RunCompleted: FinishRun with done; the job completed.
	RunCompleted RunOutcome = "completed"
	// RunBatchDone: FinishRun without done after the whole batch; the job
	// is pending again for its next run.
	RunBatchDone RunOutcome = "batch_done"
	// RunDrained: FinishRun without done before the batch was complete,
	// because the worker was stopping (SIGTERM); the job is pending again.
	RunDrained RunOutcome = "drained"
	// RunRescheduled: Reschedule after a transient error or a source's
	// retry-after; the job is scheduled.
	RunRescheduled RunOutcome = "rescheduled"
	// RunFailed: Fail after a permanent error or the last attempt; the job
	// failed.
	RunFailed RunOutcome = "failed"
	// RunLeaseExpired: Maintain found the lease lapsed (the worker crashed,
	// was killed or stalled); the job is pending again, or failed on its
	// last attempt.
	RunLeaseExpired RunOutcome = "lease_expired"
	// RunCancelled: Cancel while the job was processing.
	RunCancelled RunOutcome = "cancelled"
)

// RunOutcomes lists the outcomes of ended runs, in the order above.
var RunOutcomes = []RunOutcome{
	RunCompleted, RunBatchDone, RunDrained, RunRescheduled,
	RunFailed, RunLeaseExpired, RunCancelled,
}

// Run is the record of one run of a job: who collected what, when, and how
// it ended. Records are never changed once the run has ended and never
// deleted while their job exists.
type Run struct {
	// JobID is the job the run belongs to.
	JobID string `json:"job_id"`
	// Number is the job's Runs at claim: 1 for its first run.
	Number int `json:"number"`
	// Worker identifies the worker process (the pod name in Kubernetes).
	Worker string `json:"worker"`
	// LeaseOwner is the run's lease token.
	LeaseOwner string `json:"lease_owner"`
	// StartedAt is the claim; EndedAt is zero while the run is open.
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// Batch is the number of documents the run set out to collect (0 until
	// the worker recorded it with StartBatch).
	Batch int `json:"batch"`
	// Collected is the number of documents the run recorded.
	Collected int `json:"collected"`
	// Outcome is RunRunning while the run is open.
	Outcome RunOutcome `json:"outcome"`
	// Error is the error the run ended with, if any.
	Error string `json:"error,omitempty"`
}

// Duration returns how long an ended run took, or zero for an open one.
func (r *Run) Duration() time.Duration {
	if r.EndedAt.IsZero() {
		return 0
	}
	return r.EndedAt.Sub(r.StartedAt)
}

// RunStatsParams gives the histogram bucket upper bounds, in seconds and
// ascending, that RunStats counts into.
type RunStatsParams struct {
	DurationBuckets   []float64
	CompletionBuckets []float64
}

// RunStats summarises the run records and job completions for metrics.
// Records are never changed after they end, so every count only grows.
type RunStats struct {
	// Runs holds, for every outcome of RunOutcomes, the distribution of
	// the durations (EndedAt − StartedAt) of the ended runs.
	Runs map[RunOutcome]Histogram
	// Documents counts the documents recorded by the ended runs.
	Documents uint64
	// Completion is the distribution of CompletedAt − CreatedAt over the
	// completed jobs.
	Completion Histogram
}

// Histogram is a cumulative histogram of durations in seconds: Buckets[i]
// counts the observations at most the i-th bound of the RunStatsParams.
type Histogram struct {
	Count   uint64
	Sum     float64
	Buckets []uint64
}

// NewHistogram returns an empty histogram over n bounds.
func NewHistogram(n int) Histogram {
	return Histogram{Buckets: make([]uint64, n)}
}

// Observe adds one observation of v seconds given the bucket bounds.
func (h *Histogram) Observe(bounds []float64, v float64) {
	h.Count++
	h.Sum += v
	for i, b := range bounds {
		if v <= b {
			h.Buckets[i]++
		}
	}
}

// NewRunStats returns RunStats with every outcome present and empty.
func NewRunStats(p RunStatsParams) *RunStats {
	st := &RunStats{
		Runs:       make(map[RunOutcome]Histogram, len(RunOutcomes)),
		Completion: NewHistogram(len(p.CompletionBuckets)),
	}
	for _, o := range RunOutcomes {
		st.Runs[o] = NewHistogram(len(p.DurationBuckets))
	}
	return st
}
