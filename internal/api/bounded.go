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

// CreateSchedule implements intake.Store.
func (s boundedStore) CreateSchedule(ctx context.Context, sch *intake.Schedule) (*intake.Schedule, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Store.CreateSchedule(ctx, sch)
}

// GetSchedule implements intake.Store.
func (s boundedStore) GetSchedule(ctx context.Context, id string) (*intake.Schedule, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Store.GetSchedule(ctx, id)
}

// ListSchedules implements intake.Store.
func (s boundedStore) ListSchedules(ctx context.Context, f intake.ScheduleFilter) (*intake.SchedulePage, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Store.ListSchedules(ctx, f)
}

// UpdateSchedule implements intake.Store.
func (s boundedStore) UpdateSchedule(ctx context.Context, sch *intake.Schedule) (*intake.Schedule, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Store.UpdateSchedule(ctx, sch)
}

// DeleteSchedule implements intake.Store.
func (s boundedStore) DeleteSchedule(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Store.DeleteSchedule(ctx, id)
}

// ChangeCounts implements intake.Store.
func (s boundedStore) ChangeCounts(ctx context.Context, jobID string) (*intake.ChangeCounts, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Store.ChangeCounts(ctx, jobID)
}

// ListRemoved implements intake.Store.
func (s boundedStore) ListRemoved(ctx context.Context, jobID string, after, limit int) ([]*intake.Document, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Store.ListRemoved(ctx, jobID, after, limit)
}

// Redeliver implements intake.Store.
func (s boundedStore) Redeliver(ctx context.Context, jobID string) (*intake.Job, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Store.Redeliver(ctx, jobID)
}

// ListDeliveries implements intake.Store.
func (s boundedStore) ListDeliveries(ctx context.Context, jobID, after string, limit int) ([]*intake.Delivery, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Store.ListDeliveries(ctx, jobID, after, limit)
}
