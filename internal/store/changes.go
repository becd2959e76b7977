package store

import (
	"context"

	"github.com/intake-dev/intake"
)

// FindDocument returns the document of a job with the identity, the one
// with the highest Seq when several; ENOTFOUND when there is none (an
// empty identity matches nothing).
func (s *Store) FindDocument(ctx context.Context, jobID, identity string) (*intake.Document, error) {
	if !intake.ValidID(jobID) || identity == "" {
		return nil, errIdentityNotFound(jobID, identity)
	}
	d, err := s.d.FindDocument(ctx, jobID, identity)
	if err != nil {
		return nil, s.wrap(err, "find document of job %s", jobID)
	}
	if d == nil {
		return nil, errIdentityNotFound(jobID, identity)
	}
	return d, nil
}

func errIdentityNotFound(jobID, identity string) error {
	return intake.Errorf(intake.ENOTFOUND, "job %s has no document with identity %q", jobID, identity)
}

// ChangeCounts counts a job's documents by Change, and the documents of
// its previous job that it did not collect; ENOTFOUND for a missing job.
func (s *Store) ChangeCounts(ctx context.Context, jobID string) (*intake.ChangeCounts, error) {
	j, err := s.GetJob(ctx, jobID)
	if err != nil {
		return nil, err
	}
	c, err := s.d.ChangeCounts(ctx, jobID, j.PreviousJobID)
	if err != nil {
		return nil, s.wrap(err, "count changes of job %s", jobID)
	}
	return c, nil
}

// ListRemoved returns a page of the previous job's documents that the job
// did not collect, in Seq order after after. A missing job, or one
// without a previous job, has none.
func (s *Store) ListRemoved(ctx context.Context, jobID string, after, limit int) ([]*intake.Document, error) {
	if !intake.ValidID(jobID) || after >= intake.MaxSeq {
		return []*intake.Document{}, nil
	}
	j, err := s.d.GetJob(ctx, jobID)
	if err != nil {
		return nil, s.wrap(err, "list removed documents of job %s", jobID)
	}
	if j == nil || j.PreviousJobID == "" {
		return []*intake.Document{}, nil
	}
	docs, err := s.d.ListRemoved(ctx, jobID, j.PreviousJobID, max(after, 0), pageSize(limit))
	if err != nil {
		return nil, s.wrap(err, "list removed documents of job %s", jobID)
	}
	if docs == nil {
		docs = []*intake.Document{}
	}
	return docs, nil
}
