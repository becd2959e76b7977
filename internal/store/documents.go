package store

import (
	"context"

	"github.com/intake-dev/intake"
)

// ListRuns returns up to limit run records of a job with Number greater
// than after, in Number order. A job that does not exist has none.
func (s *Store) ListRuns(ctx context.Context, jobID string, after, limit int) ([]*intake.Run, error) {
	if !intake.ValidID(jobID) {
		return []*intake.Run{}, nil
	}
	runs, err := s.d.ListRuns(ctx, jobID, after, pageSize(limit))
	if err != nil {
		return nil, s.wrap(err, "list runs of job %s", jobID)
	}
	if runs == nil {
		runs = []*intake.Run{}
	}
	return runs, nil
}

// RunStats summarises the ended runs and the completed jobs into the
// histogram buckets of p.
func (s *Store) RunStats(ctx context.Context, p intake.RunStatsParams) (*intake.RunStats, error) {
	st, err := s.d.RunStats(ctx, p)
	if err != nil {
		return nil, s.wrap(err, "run stats")
	}
	return st, nil
}

// GetDocument returns document seq of a job, or an ENOTFOUND error.
func (s *Store) GetDocument(ctx context.Context, jobID string, seq int) (*intake.Document, error) {
	if !intake.ValidID(jobID) || seq < 1 || seq > intake.MaxSeq {
		return nil, errDocumentNotFound(jobID, seq)
	}
	d, err := s.d.GetDocument(ctx, jobID, seq)
	if err != nil {
		return nil, s.wrap(err, "get document %d of job %s", seq, jobID)
	}
	if d == nil {
		return nil, errDocumentNotFound(jobID, seq)
	}
	return d, nil
}

func errDocumentNotFound(jobID string, seq int) error {
	return intake.Errorf(intake.ENOTFOUND, "document %d of job %s not found", seq, jobID)
}

// ListDocuments returns up to limit documents of a job with Seq greater
// than after, in Seq order. An unknown job has no documents.
func (s *Store) ListDocuments(ctx context.Context, jobID string, after, limit int) ([]*intake.Document, error) {
	if !intake.ValidID(jobID) || after >= intake.MaxSeq {
		return []*intake.Document{}, nil
	}
	docs, err := s.d.ListDocuments(ctx, jobID, max(after, 0), pageSize(limit))
	if err != nil {
		return nil, s.wrap(err, "list documents of job %s", jobID)
	}
	if docs == nil {
		docs = []*intake.Document{}
	}
	return docs, nil
}

// ReferencedBlobKeys returns the subset of keys that some document
// references.
func (s *Store) ReferencedBlobKeys(ctx context.Context, keys []string) (map[string]bool, error) {
	if len(keys) == 0 {
		return map[string]bool{}, nil
	}
	refs, err := s.d.ReferencedBlobKeys(ctx, keys)
	if err != nil {
		return nil, s.wrap(err, "referenced blob keys")
	}
	if refs == nil {
		refs = map[string]bool{}
	}
	return refs, nil
}
