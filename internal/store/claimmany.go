package store

import (
	"context"
	"errors"
	"time"

	"github.com/intake-dev/intake"
)

// batchDriver is implemented by drivers that claim several jobs in one
// atomic step (postgresstore: one statement; sqlitestore: one
// transaction). It has Claim's contract for up to n jobs under one owner,
// and reports none claimed as intake.ErrNoJob.
type batchDriver interface {
	ClaimMany(ctx context.Context, now time.Time, p intake.ClaimParams, n int) ([]*intake.Job, error)
}

var _ intake.BatchClaimer = (*Store)(nil)

// ClaimMany claims up to n pending jobs under p.Owner, oldest first (see
// intake.BatchClaimer). A driver that claims several jobs in one atomic
// step (PostgreSQL, SQLite) does it in one round trip and commit; with
// MongoDB the store claims one job after another, each as Claim would, so a
// worker pool has one way of claiming on every store. When a claim after the first fails, the jobs
// claimed so far are returned (they are the caller's now) and the caller's
// next call meets the error.
func (s *Store) ClaimMany(ctx context.Context, p intake.ClaimParams, n int) ([]*intake.Job, error) {
	if p.Owner == "" || p.LeaseTTL <= 0 || p.JobID != "" || n < 1 || n > intake.MaxPageSize {
		return nil, intake.Errorf(intake.EINVALID,
			"claim jobs: an owner, a positive lease TTL, no job ID and 1 to %d jobs are required", intake.MaxPageSize)
	}
	if p.Worker == "" {
		p.Worker = p.Owner
	}
	if bd, ok := s.d.(batchDriver); ok {
		jobs, err := bd.ClaimMany(ctx, s.now(), p, n)
		switch {
		case errors.Is(err, intake.ErrNoJob) || err == nil && len(jobs) == 0:
			return nil, intake.ErrNoJob
		case err != nil:
			return nil, s.wrap(err, "claim jobs")
		}
		return jobs, nil
	}
	var jobs []*intake.Job
	for len(jobs) < n {
		j, err := s.d.Claim(ctx, s.now(), p)
		if err != nil {
			if len(jobs) > 0 {
				return jobs, nil
			}
			return nil, s.wrap(err, "claim jobs")
		}
		if j == nil {
			break
		}
		jobs = append(jobs, j)
	}
	if len(jobs) == 0 {
		return nil, intake.ErrNoJob
	}
	return jobs, nil
}
