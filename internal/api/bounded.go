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

// within calls f with a context that ends after timeout.
func within[T any](ctx context.Context, timeout time.Duration, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return f(ctx)
}

// CreateJobs implements intake.Store.
func (s boundedStore) CreateJobs(ctx context.Context, jobs []*intake.Job) ([]*intake.Job, error) {
	return within(ctx, s.timeout, func(ctx context.Context) ([]*intake.Job, error) { return s.Store.CreateJobs(ctx, jobs) })
}

// GetJob implements intake.Store.
func (s boundedStore) GetJob(ctx context.Context, id string) (*intake.Job, error) {
	return within(ctx, s.timeout, func(ctx context.Context) (*intake.Job, error) { return s.Store.GetJob(ctx, id) })
}

// ListJobs implements intake.Store.
func (s boundedStore) ListJobs(ctx context.Context, f intake.JobFilter) (*intake.JobPage, error) {
	return within(ctx, s.timeout, func(ctx context.Context) (*intake.JobPage, error) { return s.Store.ListJobs(ctx, f) })
}

// Cancel implements intake.Store.
func (s boundedStore) Cancel(ctx context.Context, id string) (*intake.Job, error) {
	return within(ctx, s.timeout, func(ctx context.Context) (*intake.Job, error) { return s.Store.Cancel(ctx, id) })
}

// GetDocument implements intake.Store.
func (s boundedStore) GetDocument(ctx context.Context, jobID string, seq int) (*intake.Document, error) {
	return within(ctx, s.timeout, func(ctx context.Context) (*intake.Document, error) { return s.Store.GetDocument(ctx, jobID, seq) })
}

// ListDocuments implements intake.Store.
func (s boundedStore) ListDocuments(ctx context.Context, jobID string, after, limit int) ([]*intake.Document, error) {
	return within(ctx, s.timeout, func(ctx context.Context) ([]*intake.Document, error) {
		return s.Store.ListDocuments(ctx, jobID, after, limit)
	})
}

// CreateSchedule implements intake.Store.
func (s boundedStore) CreateSchedule(ctx context.Context, sch *intake.Schedule) (*intake.Schedule, error) {
	return within(ctx, s.timeout, func(ctx context.Context) (*intake.Schedule, error) { return s.Store.CreateSchedule(ctx, sch) })
}

// GetSchedule implements intake.Store.
func (s boundedStore) GetSchedule(ctx context.Context, id string) (*intake.Schedule, error) {
	return within(ctx, s.timeout, func(ctx context.Context) (*intake.Schedule, error) { return s.Store.GetSchedule(ctx, id) })
}

// ListSchedules implements intake.Store.
func (s boundedStore) ListSchedules(ctx context.Context, f intake.ScheduleFilter) (*intake.SchedulePage, error) {
	return within(ctx, s.timeout, func(ctx context.Context) (*intake.SchedulePage, error) { return s.Store.ListSchedules(ctx, f) })
}

// UpdateSchedule implements intake.Store.
func (s boundedStore) UpdateSchedule(ctx context.Context, sch *intake.Schedule) (*intake.Schedule, error) {
	return within(ctx, s.timeout, func(ctx context.Context) (*intake.Schedule, error) { return s.Store.UpdateSchedule(ctx, sch) })
}

// DeleteSchedule implements intake.Store.
func (s boundedStore) DeleteSchedule(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.Store.DeleteSchedule(ctx, id)
}

// ChangeCounts implements intake.Store.
func (s boundedStore) ChangeCounts(ctx context.Context, jobID string) (*intake.ChangeCounts, error) {
	return within(ctx, s.timeout, func(ctx context.Context) (*intake.ChangeCounts, error) { return s.Store.ChangeCounts(ctx, jobID) })
}

// ListRemoved implements intake.Store.
func (s boundedStore) ListRemoved(ctx context.Context, jobID string, after, limit int) ([]*intake.Document, error) {
	return within(ctx, s.timeout, func(ctx context.Context) ([]*intake.Document, error) {
		return s.Store.ListRemoved(ctx, jobID, after, limit)
	})
}

// Redeliver implements intake.Store.
func (s boundedStore) Redeliver(ctx context.Context, jobID string) (*intake.Job, error) {
	return within(ctx, s.timeout, func(ctx context.Context) (*intake.Job, error) { return s.Store.Redeliver(ctx, jobID) })
}

// ListDeliveries implements intake.Store.
func (s boundedStore) ListDeliveries(ctx context.Context, jobID, after string, limit int) ([]*intake.Delivery, error) {
	return within(ctx, s.timeout, func(ctx context.Context) ([]*intake.Delivery, error) {
		return s.Store.ListDeliveries(ctx, jobID, after, limit)
	})
}
