package store

import (
	"context"
	"fmt"

	"github.com/intake-dev/intake"
)

var _ intake.BatchFinisher = (*Store)(nil)

// runKey is a run of FinishRuns: a job under an owner.
type runKey struct{ jobID, owner string }

// FinishRuns ends several successful runs, each fenced by its own lease
// (see intake.BatchFinisher): in one statement on PostgreSQL, one
// transaction on SQLite, one run after another on MongoDB. It sends the
// driver at most intake.MaxPageSize runs a call; the runs it rejects (an
// invalid plan, a job ID that is no UUID, a run given twice) never reach
// the driver.
func (s *Store) FinishRuns(ctx context.Context, runs []intake.FinishParams) []error {
	errs := make([]error, len(runs))
	send := make([]intake.FinishParams, 0, len(runs))
	at := make([]int, 0, len(runs)) // the index in runs of each run in send
	seen := make(map[runKey]struct{}, len(runs))
	for i, p := range runs {
		k := runKey{p.JobID, p.Owner}
		_, twice := seen[k]
		switch {
		case p.Plan != nil && p.Plan.Total < 0 && p.Plan.Total != intake.TotalUnknown:
			errs[i] = intake.Errorf(intake.EINVALID, "finish run of job %s: invalid planned total %d", p.JobID, p.Plan.Total)
		case !intake.ValidID(p.JobID) || twice:
			// A second finish of the same run finds the lease gone.
			errs[i] = leaseLost("finish run of job", p.JobID)
		default:
			seen[k] = struct{}{}
			send, at = append(send, p), append(at, i)
		}
	}
	for len(send) > 0 {
		n := min(len(send), intake.MaxPageSize)
		held, err := s.d.FinishRuns(ctx, s.now(), send[:n])
		if err == nil && len(held) != n {
			err = fmt.Errorf("the driver reported %d of %d runs", len(held), n)
		}
		for j, p := range send[:n] {
			switch {
			case j >= len(held):
				errs[at[j]] = s.wrap(err, "finish run of job %s", p.JobID)
			case !held[j]:
				errs[at[j]] = leaseLost("finish run of job", p.JobID)
			}
		}
		send, at = send[n:], at[n:]
	}
	return errs
}
