package store

import (
	"context"
	"time"

	"github.com/intake-dev/intake"
)

// ClaimNotifications claims up to limit due notifications until now+ttl.
func (s *Store) ClaimNotifications(ctx context.Context, ttl time.Duration, limit int) ([]*intake.NotifyClaim, error) {
	if ttl <= 0 {
		return nil, intake.Errorf(intake.EINVALID, "claim notifications: the claim TTL must be positive")
	}
	now := s.now()
	until := now.Add(ttl).Truncate(time.Millisecond)
	if !until.After(now) {
		until = now.Add(time.Millisecond)
	}
	jobs, err := s.d.ClaimNotifications(ctx, now, until, pageSize(limit))
	if err != nil {
		return nil, s.wrap(err, "claim notifications")
	}
	claims := make([]*intake.NotifyClaim, len(jobs))
	for i, j := range jobs {
		claims[i] = &intake.NotifyClaim{Job: j, Until: until}
	}
	return claims, nil
}

// SettleNotification ends the claim of a job's notification that holds
// until until: delivered when next is zero, due again at next otherwise.
// It reports false when the claim is no longer held.
func (s *Store) SettleNotification(ctx context.Context, jobID string, until, next time.Time) (bool, error) {
	if !intake.ValidID(jobID) {
		return false, nil
	}
	if !next.IsZero() {
		next = next.UTC().Truncate(time.Millisecond)
	}
	ok, err := s.d.SettleNotification(ctx, s.now(), jobID, until.UTC().Truncate(time.Millisecond), next)
	if err != nil {
		return false, s.wrap(err, "settle notification of job %s", jobID)
	}
	return ok, nil
}

// Redeliver makes the notification of a completed or failed job with
// Notify due now (a cancelled job has no event to deliver).
func (s *Store) Redeliver(ctx context.Context, jobID string) (*intake.Job, error) {
	if !intake.ValidID(jobID) {
		return nil, errJobNotFound(jobID)
	}
	j, err := s.d.Redeliver(ctx, s.now(), jobID)
	if err != nil {
		return nil, s.wrap(err, "redeliver job %s", jobID)
	}
	if j != nil {
		return j, nil
	}
	cur, err := s.GetJob(ctx, jobID)
	if err != nil {
		return nil, err
	}
	if cur.Notify == nil {
		return nil, intake.Errorf(intake.ECONFLICT, "job %s has no notify to deliver to", jobID)
	}
	return nil, intake.Errorf(intake.ECONFLICT, "job %s is %s: only completed and failed jobs have events to deliver", jobID, cur.Status)
}

// RecordDelivery logs a delivery attempt, setting d.ID, and
// d.AttemptedAt when it is zero; ENOTFOUND when the job is missing.
func (s *Store) RecordDelivery(ctx context.Context, d *intake.Delivery) error {
	switch {
	case d == nil || d.JobID == "":
		return intake.Errorf(intake.EINVALID, "record delivery: a delivery with a job ID is required")
	case d.MessageID == "" || d.Event == "" || d.Attempt < 1:
		return intake.Errorf(intake.EINVALID, "record delivery of job %s: a message ID, an event and an attempt from 1 are required", d.JobID)
	case !intake.ValidID(d.JobID):
		return errJobNotFound(d.JobID)
	}
	rec := *d
	rec.ID = intake.NewID()
	rec.AttemptedAt = rec.AttemptedAt.UTC().Truncate(time.Millisecond)
	if rec.AttemptedAt.IsZero() {
		rec.AttemptedAt = s.now()
	}
	ok, err := s.d.RecordDelivery(ctx, &rec)
	if err != nil {
		return s.wrap(err, "record delivery of job %s", d.JobID)
	}
	if !ok {
		return errJobNotFound(d.JobID)
	}
	d.ID, d.AttemptedAt = rec.ID, rec.AttemptedAt
	return nil
}

// ListDeliveries returns a job's delivery log oldest first, up to limit
// after the delivery ID after ("" for the first page). A missing job has
// none.
func (s *Store) ListDeliveries(ctx context.Context, jobID, after string, limit int) ([]*intake.Delivery, error) {
	if after != "" && !intake.ValidID(after) {
		return nil, intake.Errorf(intake.EINVALID, "list deliveries of job %s: invalid cursor", jobID)
	}
	if !intake.ValidID(jobID) {
		return []*intake.Delivery{}, nil
	}
	list, err := s.d.ListDeliveries(ctx, jobID, after, pageSize(limit))
	if err != nil {
		return nil, s.wrap(err, "list deliveries of job %s", jobID)
	}
	if list == nil {
		list = []*intake.Delivery{}
	}
	return list, nil
}
