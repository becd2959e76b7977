package mongostore

import (
	"context"
	"errors"
	"time"

	"github.com/intake-dev/intake"
)

// TODO(#14): the MongoDB store of schedules, change detection and the
// outbox (branch store-mongo replaces this file).
var errNotYet = errors.New("not implemented")

// CreateSchedule is driver.Driver's.
func (s *Driver) CreateSchedule(context.Context, *intake.Schedule) error { return errNotYet }

// GetSchedule is driver.Driver's.
func (s *Driver) GetSchedule(context.Context, string) (*intake.Schedule, error) {
	return nil, errNotYet
}

// ListSchedules is driver.Driver's.
func (s *Driver) ListSchedules(context.Context, string, int) ([]*intake.Schedule, error) {
	return nil, errNotYet
}

// UpdateSchedule is driver.Driver's.
func (s *Driver) UpdateSchedule(context.Context, time.Time, *intake.Schedule) (*intake.Schedule, error) {
	return nil, errNotYet
}

// DeleteSchedule is driver.Driver's.
func (s *Driver) DeleteSchedule(context.Context, string) (bool, error) { return false, errNotYet }

// DueSchedules is driver.Driver's.
func (s *Driver) DueSchedules(context.Context, time.Time, int) ([]*intake.Schedule, error) {
	return nil, errNotYet
}

// ScheduleJobs is driver.Driver's.
func (s *Driver) ScheduleJobs(context.Context, string) (*intake.ScheduleJobs, error) {
	return nil, errNotYet
}

// AdvanceSchedule is driver.Driver's.
func (s *Driver) AdvanceSchedule(context.Context, time.Time, string, time.Time, time.Time, string) (bool, error) {
	return false, errNotYet
}

// ScheduleHealth is driver.Driver's.
func (s *Driver) ScheduleHealth(context.Context) ([]intake.ScheduleHealth, error) {
	return nil, errNotYet
}

// FindDocument is driver.Driver's.
func (s *Driver) FindDocument(context.Context, string, string) (*intake.Document, error) {
	return nil, errNotYet
}

// ChangeCounts is driver.Driver's.
func (s *Driver) ChangeCounts(context.Context, string, string) (*intake.ChangeCounts, error) {
	return nil, errNotYet
}

// ListRemoved is driver.Driver's.
func (s *Driver) ListRemoved(context.Context, string, string, int, int) ([]*intake.Document, error) {
	return nil, errNotYet
}

// ClaimNotifications is driver.Driver's.
func (s *Driver) ClaimNotifications(context.Context, time.Time, time.Time, int) ([]*intake.Job, error) {
	return nil, errNotYet
}

// SettleNotification is driver.Driver's.
func (s *Driver) SettleNotification(context.Context, time.Time, string, time.Time, time.Time) (bool, error) {
	return false, errNotYet
}

// Redeliver is driver.Driver's.
func (s *Driver) Redeliver(context.Context, time.Time, string) (*intake.Job, error) {
	return nil, errNotYet
}

// RecordDelivery is driver.Driver's.
func (s *Driver) RecordDelivery(context.Context, *intake.Delivery) (bool, error) {
	return false, errNotYet
}

// ListDeliveries is driver.Driver's.
func (s *Driver) ListDeliveries(context.Context, string, string, int) ([]*intake.Delivery, error) {
	return nil, errNotYet
}
