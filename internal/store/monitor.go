package store

import (
	"context"
	"time"

	"github.com/intake-dev/intake"
)

// TODO(#14): the store layer of schedules, change detection and the outbox.
var errNotYet = intake.Errorf(intake.EINTERNAL, "not implemented yet")

// CreateSchedule is intake.Store's.
func (s *Store) CreateSchedule(ctx context.Context, sch *intake.Schedule) (*intake.Schedule, error) {
	return nil, errNotYet
}

// GetSchedule is intake.Store's.
func (s *Store) GetSchedule(ctx context.Context, id string) (*intake.Schedule, error) {
	return nil, errNotYet
}

// ListSchedules is intake.Store's.
func (s *Store) ListSchedules(ctx context.Context, f intake.ScheduleFilter) (*intake.SchedulePage, error) {
	return nil, errNotYet
}

// UpdateSchedule is intake.Store's.
func (s *Store) UpdateSchedule(ctx context.Context, sch *intake.Schedule) (*intake.Schedule, error) {
	return nil, errNotYet
}

// DeleteSchedule is intake.Store's.
func (s *Store) DeleteSchedule(ctx context.Context, id string) error {
	return errNotYet
}

// DueSchedules is intake.Store's.
func (s *Store) DueSchedules(ctx context.Context, until time.Time, limit int) ([]*intake.Schedule, error) {
	return nil, errNotYet
}

// ScheduleJobs is intake.Store's.
func (s *Store) ScheduleJobs(ctx context.Context, scheduleID string) (*intake.ScheduleJobs, error) {
	return nil, errNotYet
}

// AdvanceSchedule is intake.Store's.
func (s *Store) AdvanceSchedule(ctx context.Context, id string, from, next time.Time, jobID string) (bool, error) {
	return false, errNotYet
}

// ScheduleHealth is intake.Store's.
func (s *Store) ScheduleHealth(ctx context.Context) ([]intake.ScheduleHealth, error) {
	return nil, errNotYet
}

// FindDocument is intake.Store's.
func (s *Store) FindDocument(ctx context.Context, jobID, identity string) (*intake.Document, error) {
	return nil, errNotYet
}

// ChangeCounts is intake.Store's.
func (s *Store) ChangeCounts(ctx context.Context, jobID string) (*intake.ChangeCounts, error) {
	return nil, errNotYet
}

// ListRemoved is intake.Store's.
func (s *Store) ListRemoved(ctx context.Context, jobID string, after, limit int) ([]*intake.Document, error) {
	return nil, errNotYet
}

// ClaimNotifications is intake.Store's.
func (s *Store) ClaimNotifications(ctx context.Context, ttl time.Duration, limit int) ([]*intake.NotifyClaim, error) {
	return nil, errNotYet
}

// SettleNotification is intake.Store's.
func (s *Store) SettleNotification(ctx context.Context, jobID string, until, next time.Time) (bool, error) {
	return false, errNotYet
}

// Redeliver is intake.Store's.
func (s *Store) Redeliver(ctx context.Context, jobID string) (*intake.Job, error) {
	return nil, errNotYet
}

// RecordDelivery is intake.Store's.
func (s *Store) RecordDelivery(ctx context.Context, d *intake.Delivery) error {
	return errNotYet
}

// ListDeliveries is intake.Store's.
func (s *Store) ListDeliveries(ctx context.Context, jobID, after string, limit int) ([]*intake.Delivery, error) {
	return nil, errNotYet
}
