package mongostore

import (
	"context"
	"errors"
	"time"

	"github.com/intake-dev/intake"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The outbox is a field of the job document: notify_due_at, present only
// while the job's notification is owed, and notify_attempts. The update
// that ends a job with a notify sets notify_due_at (endSet), so the
// notification is owed exactly when the job ended. Claims and settlements
// are single-document updates whose filters compare notify_due_at, served
// by the jobs_notify_due index; the delivery log is the deliveries
// collection, one document per attempt.

// deliveryDoc is a delivery attempt in the deliveries collection.
type deliveryDoc struct {
	ID          string    `bson:"_id"`
	JobID       string    `bson:"job_id"`
	MessageID   string    `bson:"message_id"`
	Event       string    `bson:"event"`
	URL         string    `bson:"url"`
	Attempt     int64     `bson:"attempt"`
	StatusCode  int64     `bson:"status_code"`
	OK          bool      `bson:"ok"`
	Error       string    `bson:"error,omitempty"`
	DurationMS  int64     `bson:"duration_ms"`
	AttemptedAt time.Time `bson:"attempted_at"`
}

// delivery converts the document to an intake.Delivery.
func (d *deliveryDoc) delivery() *intake.Delivery {
	return &intake.Delivery{
		ID:          d.ID,
		JobID:       d.JobID,
		MessageID:   d.MessageID,
		Event:       intake.Event(d.Event),
		URL:         d.URL,
		Attempt:     int(d.Attempt),
		StatusCode:  int(d.StatusCode),
		OK:          d.OK,
		Error:       d.Error,
		DurationMS:  d.DurationMS,
		AttemptedAt: utc(d.AttemptedAt),
	}
}

// ClaimNotifications claims up to limit due notifications, earliest due
// first, each with one findOneAndUpdate that moves its notify_due_at from
// at or before now to until. A claimed job no longer matches, so
// concurrent claimers take disjoint jobs.
func (s *Driver) ClaimNotifications(ctx context.Context, now, until time.Time, limit int) ([]*intake.Job, error) {
	var jobs []*intake.Job
	opts := options.FindOneAndUpdate().SetReturnDocument(options.After).
		SetSort(bson.D{{Key: "notify_due_at", Value: 1}})
	for len(jobs) < limit {
		var d jobDoc
		err := s.jobs.FindOneAndUpdate(ctx,
			bson.D{{Key: "notify_due_at", Value: bson.D{{Key: "$lte", Value: now}}}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "notify_due_at", Value: until}}}},
			opts).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			break
		}
		if err != nil {
			return jobs, err
		}
		jobs = append(jobs, d.job())
		if !until.After(now) { // a claim that lapses at once would match again
			break
		}
	}
	return jobs, nil
}

// SettleNotification ends the claim that holds a job's notification until
// until: delivered (next zero: notify_due_at and notify_attempts removed)
// or due again at next with notify_attempts+1. It reports false when the
// claim is no longer held.
func (s *Driver) SettleNotification(ctx context.Context, now time.Time, jobID string, until, next time.Time) (bool, error) {
	update := bson.D{{Key: "$unset", Value: bson.D{{Key: "notify_due_at", Value: ""}, {Key: "notify_attempts", Value: ""}}}}
	if !next.IsZero() {
		update = bson.D{
			{Key: "$set", Value: bson.D{{Key: "notify_due_at", Value: next}}},
			{Key: "$inc", Value: bson.D{{Key: "notify_attempts", Value: int64(1)}}},
		}
	}
	res, err := s.jobs.UpdateOne(ctx, bson.D{{Key: "_id", Value: jobID}, {Key: "notify_due_at", Value: until}}, update)
	if err != nil {
		return false, err
	}
	return res.MatchedCount == 1, nil
}

// Redeliver makes the notification of a completed or failed job with a
// notify due now, its attempts counted afresh, and returns the job; nil
// when there is no such job.
func (s *Driver) Redeliver(ctx context.Context, now time.Time, jobID string) (*intake.Job, error) {
	var d jobDoc
	err := s.jobs.FindOneAndUpdate(ctx, bson.D{
		{Key: "_id", Value: jobID},
		{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{
			string(intake.StatusCompleted), string(intake.StatusFailed),
		}}}},
		{Key: "notify", Value: bson.D{{Key: "$exists", Value: true}}},
	}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "notify_due_at", Value: now},
		{Key: "notify_attempts", Value: int64(0)},
	}}}, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return d.job(), nil
}

// RecordDelivery logs a delivery attempt of an existing job, and reports
// false, logging nothing, when the job does not exist. (Jobs are never
// deleted once they exist, so checking first is enough.)
func (s *Driver) RecordDelivery(ctx context.Context, d *intake.Delivery) (bool, error) {
	n, err := s.jobs.CountDocuments(ctx, bson.D{
		{Key: "_id", Value: d.JobID},
		{Key: "status", Value: bson.D{{Key: "$ne", Value: statusStaged}}},
	})
	if err != nil || n == 0 {
		return false, err
	}
	_, err = s.dels.InsertOne(ctx, &deliveryDoc{
		ID:          d.ID,
		JobID:       d.JobID,
		MessageID:   d.MessageID,
		Event:       string(d.Event),
		URL:         d.URL,
		Attempt:     int64(d.Attempt),
		StatusCode:  int64(d.StatusCode),
		OK:          d.OK,
		Error:       d.Error,
		DurationMS:  d.DurationMS,
		AttemptedAt: d.AttemptedAt,
	})
	if err != nil {
		return false, err
	}
	return true, nil
}

// ListDeliveries returns up to limit deliveries of a job with an ID above
// after, in ID order, served by the deliveries_job index.
func (s *Driver) ListDeliveries(ctx context.Context, jobID, after string, limit int) ([]*intake.Delivery, error) {
	filter := bson.D{{Key: "job_id", Value: jobID}}
	if after != "" {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}})
	}
	var docs []*deliveryDoc
	if err := s.findAllOpts(ctx, s.dels, filter,
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)), &docs); err != nil {
		return nil, err
	}
	out := make([]*intake.Delivery, len(docs))
	for i, d := range docs {
		out[i] = d.delivery()
	}
	return out, nil
}
