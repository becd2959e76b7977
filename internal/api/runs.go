package api

import (
	"context"
	"fmt"
	"time"

	"github.com/intake-dev/intake"
)

// maxRunHistory bounds the run history a status response shows: the
// latest runs of a job that ran more often.
const maxRunHistory = 100

// runView is one run of a job as the API shows it: which worker collected
// what, when, and how the run ended.
type runView struct {
	Number          int               `json:"number" minimum:"1" doc:"The run's number: 1 for the job's first claim."`
	Worker          string            `json:"worker" example:"intake-worker-x7k2p-abcde" doc:"The worker process (INTAKE_WORKER_ID: its pod or host name)."`
	LeaseOwner      string            `json:"lease_owner" doc:"The run's lease token; its documents' blob keys end with it."`
	StartedAt       time.Time         `json:"started_at" doc:"When the worker claimed the job."`
	EndedAt         *time.Time        `json:"ended_at,omitempty" doc:"When the run released the job; absent while it runs."`
	DurationSeconds *float64          `json:"duration_seconds,omitempty" doc:"ended_at − started_at; absent while it runs."`
	Batch           int               `json:"batch" doc:"Documents the run set out to collect (0 until it has planned its batch)."`
	Collected       int               `json:"collected" doc:"Documents the run recorded."`
	Outcome         intake.RunOutcome `json:"outcome" enum:"running,completed,batch_done,drained,rescheduled,failed,lease_expired,cancelled" doc:"running; completed: the job completed; batch_done: batch collected, the job is pending again; drained: the worker stopped mid-batch (shutdown), pending again; rescheduled: a transient error, retried later; failed: the job failed; lease_expired: the worker stopped renewing its lease (crashed, killed or stalled); cancelled."`
	Error           string            `json:"error,omitempty" doc:"The error the run ended with."`
}

func newRunView(r *intake.Run) runView {
	v := runView{
		Number:     r.Number,
		Worker:     r.Worker,
		LeaseOwner: r.LeaseOwner,
		StartedAt:  r.StartedAt,
		EndedAt:    timePtr(r.EndedAt),
		Batch:      r.Batch,
		Collected:  r.Collected,
		Outcome:    r.Outcome,
		Error:      r.Error,
	}
	if !r.EndedAt.IsZero() {
		d := r.Duration().Seconds()
		v.DurationSeconds = &d
	}
	return v
}

// runHistory returns the latest maxRunHistory runs of job j.
func runHistory(ctx context.Context, store intake.Store, j *intake.Job) ([]runView, error) {
	runs, err := store.ListRuns(ctx, j.ID, max(0, j.Runs-maxRunHistory), maxRunHistory)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	views := make([]runView, len(runs))
	for i, r := range runs {
		views[i] = newRunView(r)
	}
	return views, nil
}

// ListRuns implements intake.Store.
func (s boundedStore) ListRuns(ctx context.Context, jobID string, after, limit int) ([]*intake.Run, error) {
	return within(ctx, s.timeout, func(ctx context.Context) ([]*intake.Run, error) { return s.Store.ListRuns(ctx, jobID, after, limit) })
}
