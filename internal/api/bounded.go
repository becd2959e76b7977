package api

import (
	"context"
	"time"

	"github.com/intake-dev/intake"
)

// boundedStore gives each store call the API makes its own deadline, so
// that a store outage answers 503 promptly instead of holding requests
// (and connections) until the client gives up. Methods the API does not
// call pass through unchanged.
type boundedStore struct {
	intake.Store
	timeout time.Duration
}

// CreateJobs implements intake.Store.
func (s boundedStore) CreateJobs(ctx context.Context, jobs []*intake.Job) ([]*intake.Job, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Store.CreateJobs(ctx, jobs)
}

// GetJob implements intake.Store.
func (s boundedStore) GetJob(ctx context.Context, id string) (*intake.Job, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Store.GetJob(ctx, id)
}

// ListJobs implements intake.Store.
func (s boundedStore) ListJobs(ctx context.Context, f intake.JobFilter) (*intake.JobPage, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Store.ListJobs(ctx, f)
}

// Cancel implements intake.Store.
func (s boundedStore) Cancel(ctx context.Context, id string) (*intake.Job, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Store.Cancel(ctx, id)
}

// GetDocument implements intake.Store.
func (s boundedStore) GetDocument(ctx context.Context, jobID string, seq int) (*intake.Document, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Store.GetDocument(ctx, jobID, seq)
}

// ListDocuments implements intake.Store.
func (s boundedStore) ListDocuments(ctx context.Context, jobID string, after, limit int) ([]*intake.Document, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Store.ListDocuments(ctx, jobID, after, limit)
}
