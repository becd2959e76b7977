package mongostore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/intake-dev/intake"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// maintainLimit bounds the jobs of each kind one Maintain pass changes, so
// that a pass after a long outage stays short; the next pass continues.
const maintainLimit = 1000

// Maintain promotes due scheduled jobs, expires lapsed leases and settles
// batches left staged by a crash. Each job changes with its own
// findOneAndUpdate whose filter re-checks the condition, so concurrent
// passes change every job once and each reports the jobs it changed.
func (s *Driver) Maintain(ctx context.Context, now time.Time, maxAttempts int, expiredErr string) (*intake.MaintainResult, error) {
	r := &intake.MaintainResult{}
	var err error
	due := bson.D{
		{Key: "status", Value: string(intake.StatusScheduled)},
		{Key: "available_at", Value: bson.D{{Key: "$lte", Value: now}}},
	}
	if r.Promoted, err = s.each(ctx, due, bson.D{{Key: "$set", Value: bson.D{
		{Key: "status", Value: string(intake.StatusPending)},
		{Key: "updated_at", Value: now},
	}}}); err != nil {
		return nil, fmt.Errorf("promote scheduled jobs: %w", err)
	}
	if r.Expired, r.ExpiredFailed, err = s.expireLeases(ctx, now, maxAttempts, expiredErr); err != nil {
		return nil, fmt.Errorf("expire leases: %w", err)
	}
	published, err := s.settleStaged(ctx, now.Add(-StagedTimeout))
	if err != nil {
		return nil, fmt.Errorf("settle staged batches: %w", err)
	}
	r.Promoted = append(r.Promoted, published...)
	return r, nil
}

// expireLeases makes the processing jobs whose lease expired by now
// pending again, or failed on their last attempt (owing the notification
// of a job with a notify, in the same update), and closes their runs as
// lease_expired. Each job is read and then changed by an update whose
// filter re-checks the lease, its owner, attempts and collected, so
// concurrent passes change every job once and the record pushed is the
// one read.
func (s *Driver) expireLeases(ctx context.Context, now time.Time, maxAttempts int, expiredErr string) (expired, failed []string, err error) {
	lapsed := bson.D{
		{Key: "status", Value: string(intake.StatusProcessing)},
		{Key: "lease_expires_at", Value: bson.D{{Key: "$lte", Value: now}}},
	}
	cur, err := s.jobs.Find(ctx, lapsed, options.Find().SetProjection(runFields).SetLimit(maintainLimit))
	if err != nil {
		return nil, nil, err
	}
	var jobs []jobDoc
	if err := cur.All(ctx, &jobs); err != nil {
		return nil, nil, err
	}
	for i := range jobs {
		d := &jobs[i]
		set := bson.D{
			{Key: "status", Value: string(intake.StatusPending)},
			{Key: "available_at", Value: now},
			{Key: "last_error", Value: expiredErr},
			{Key: "updated_at", Value: now},
		}
		last := d.Attempts+1 >= int64(maxAttempts)
		if last {
			set = endSet(d, bson.D{
				{Key: "status", Value: string(intake.StatusFailed)},
				{Key: "completed_at", Value: now},
				{Key: "last_error", Value: expiredErr},
				{Key: "updated_at", Value: now},
			}, now)
		}
		filter := append(slices.Clone(lapsed),
			bson.E{Key: "_id", Value: d.ID}, bson.E{Key: "lease_owner", Value: d.LeaseOwner},
			bson.E{Key: "attempts", Value: d.Attempts}, bson.E{Key: "collected", Value: d.Collected},
			notifyFence(d))
		res, err := s.jobs.UpdateOne(ctx, filter,
			closingUpdate(d, set, 1, intake.RunLeaseExpired, expiredErr, now))
		if err != nil {
			return expired, failed, err
		}
		switch {
		case res.MatchedCount == 0: // changed since the read: the next pass sees it
		case last:
			failed = append(failed, d.ID)
		default:
			expired = append(expired, d.ID)
		}
	}
	return expired, failed, nil
}

// each applies update to one job matching filter at a time, until none
// matches or maintainLimit, and returns the IDs it changed.
// (findAndModify has no projection here: FerretDB does not implement it.)
func (s *Driver) each(ctx context.Context, filter, update bson.D) ([]string, error) {
	var ids []string
	for len(ids) < maintainLimit {
		var d struct {
			ID string `bson:"_id"`
		}
		err := s.jobs.FindOneAndUpdate(ctx, filter, update).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			break
		}
		if err != nil {
			return ids, err
		}
		ids = append(ids, d.ID)
	}
	return ids, nil
}

// settleStaged settles the batches of staged jobs: committed ones are
// rolled forward, uncommitted ones created before abortBefore deleted. It
// returns the IDs of the jobs it made pending.
func (s *Driver) settleStaged(ctx context.Context, abortBefore time.Time) ([]string, error) {
	cur, err := s.jobs.Find(ctx, bson.D{{Key: "status", Value: statusStaged}},
		options.Find().SetProjection(bson.D{{Key: "batch", Value: 1}}).SetLimit(maintainLimit))
	if err != nil {
		return nil, err
	}
	var staged []jobDoc
	if err := cur.All(ctx, &staged); err != nil {
		return nil, err
	}
	var published []string
	seen := map[string]bool{}
	for _, j := range staged {
		if seen[j.Batch] {
			continue
		}
		seen[j.Batch] = true
		_, ids, err := s.settleBatch(ctx, j.Batch, abortBefore)
		if err != nil {
			return published, err
		}
		published = append(published, ids...)
	}
	return published, nil
}
