package telemetry

import (
	"context"
	"time"

	"github.com/intake-dev/intake"
)

// The schedule, change and outbox calls of intake.Store.
func (s *store) CreateSchedule(ctx context.Context, sch *intake.Schedule) (_ *intake.Schedule, err error) {
	defer s.m.observe("create_schedule", time.Now(), &err)
	return s.next.CreateSchedule(ctx, sch)
}

func (s *store) GetSchedule(ctx context.Context, id string) (_ *intake.Schedule, err error) {
	defer s.m.observe("get_schedule", time.Now(), &err)
	return s.next.GetSchedule(ctx, id)
}

func (s *store) ListSchedules(ctx context.Context, f intake.ScheduleFilter) (_ *intake.SchedulePage, err error) {
	defer s.m.observe("list_schedules", time.Now(), &err)
	return s.next.ListSchedules(ctx, f)
}

func (s *store) UpdateSchedule(ctx context.Context, sch *intake.Schedule) (_ *intake.Schedule, err error) {
	defer s.m.observe("update_schedule", time.Now(), &err)
	return s.next.UpdateSchedule(ctx, sch)
}

func (s *store) DeleteSchedule(ctx context.Context, id string) (err error) {
	defer s.m.observe("delete_schedule", time.Now(), &err)
	return s.next.DeleteSchedule(ctx, id)
}

func (s *store) DueSchedules(ctx context.Context, until time.Time, limit int) (_ []*intake.Schedule, err error) {
	defer s.m.observe("due_schedules", time.Now(), &err)
	return s.next.DueSchedules(ctx, until, limit)
}

func (s *store) ScheduleJobs(ctx context.Context, sch *intake.Schedule, tick time.Time) (_ *intake.ScheduleJobs, err error) {
	defer s.m.observe("schedule_jobs", time.Now(), &err)
	return s.next.ScheduleJobs(ctx, sch, tick)
}

func (s *store) AdvanceSchedule(ctx context.Context, id string, from, next time.Time, jobID string) (_ bool, err error) {
	defer s.m.observe("advance_schedule", time.Now(), &err)
	return s.next.AdvanceSchedule(ctx, id, from, next, jobID)
}

func (s *store) ScheduleHealth(ctx context.Context) (_ []intake.ScheduleHealth, err error) {
	defer s.m.observe("schedule_health", time.Now(), &err)
	return s.next.ScheduleHealth(ctx)
}

func (s *store) FindDocument(ctx context.Context, jobID, identity string) (_ *intake.Document, err error) {
	defer s.m.observe("find_document", time.Now(), &err)
	return s.next.FindDocument(ctx, jobID, identity)
}

func (s *store) ChangeCounts(ctx context.Context, jobID string) (_ *intake.ChangeCounts, err error) {
	defer s.m.observe("change_counts", time.Now(), &err)
	return s.next.ChangeCounts(ctx, jobID)
}

func (s *store) ListRemoved(ctx context.Context, jobID string, after, limit int) (_ []*intake.Document, err error) {
	defer s.m.observe("list_removed", time.Now(), &err)
	return s.next.ListRemoved(ctx, jobID, after, limit)
}

func (s *store) ClaimNotifications(ctx context.Context, ttl time.Duration, limit int) (_ []*intake.NotifyClaim, err error) {
	defer s.m.observe("claim_notifications", time.Now(), &err)
	return s.next.ClaimNotifications(ctx, ttl, limit)
}

func (s *store) SettleNotification(ctx context.Context, jobID string, until, next time.Time) (_ bool, err error) {
	defer s.m.observe("settle_notification", time.Now(), &err)
	return s.next.SettleNotification(ctx, jobID, until, next)
}

func (s *store) Redeliver(ctx context.Context, jobID string) (_ *intake.Job, err error) {
	defer s.m.observe("redeliver", time.Now(), &err)
	return s.next.Redeliver(ctx, jobID)
}

func (s *store) RecordDelivery(ctx context.Context, d *intake.Delivery) (err error) {
	defer s.m.observe("record_delivery", time.Now(), &err)
	return s.next.RecordDelivery(ctx, d)
}

func (s *store) ListDeliveries(ctx context.Context, jobID, after string, limit int) (_ []*intake.Delivery, err error) {
	defer s.m.observe("list_deliveries", time.Now(), &err)
	return s.next.ListDeliveries(ctx, jobID, after, limit)
}
