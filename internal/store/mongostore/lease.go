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

// unsetLease removes a job's lease fields.
var unsetLease = bson.D{{Key: "lease_owner", Value: ""}, {Key: "lease_expires_at", Value: ""}}

// fence is the filter every worker mutation starts with: the job is
// processing under the caller's lease.
func fence(jobID, owner string) bson.D {
	return bson.D{
		{Key: "_id", Value: jobID},
		{Key: "status", Value: string(intake.StatusProcessing)},
		{Key: "lease_owner", Value: owner},
	}
}

// Claim moves one pending job to processing under a new lease with a
// single findOneAndUpdate: the oldest by available_at, then _id, or the job
// named by p.JobID. It materialises the job's last recorded document, so
// that the run's first commit never overwrites an unmaterialised one.
func (s *Driver) Claim(ctx context.Context, now time.Time, p intake.ClaimParams) (*intake.Job, error) {
	filter := PendingFilter()
	opts := options.FindOneAndUpdate().SetReturnDocument(options.After)
	if p.JobID != "" {
		filter = append(bson.D{{Key: "_id", Value: p.JobID}}, filter...)
	} else {
		opts.SetSort(bson.D{{Key: "available_at", Value: 1}, {Key: "_id", Value: 1}})
	}
	var d jobDoc
	err := s.jobs.FindOneAndUpdate(ctx, filter, bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "status", Value: string(intake.StatusProcessing)},
			{Key: "lease_owner", Value: p.Owner},
			{Key: "lease_expires_at", Value: now.Add(p.LeaseTTL)},
			{Key: "updated_at", Value: now},
			// The run's record; its number is the job's runs.
			{Key: "open_run", Value: runDoc{Worker: p.Worker, LeaseOwner: p.Owner, StartedAt: now,
				Outcome: string(intake.RunRunning)}},
		}},
		{Key: "$inc", Value: bson.D{{Key: "runs", Value: 1}}},
		// Set by the first claim only: later claims are not earlier.
		{Key: "$min", Value: bson.D{{Key: "started_at", Value: now}}},
	}, opts).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.forget(d.ID)
	if d.LastDoc != nil {
		if err := s.materialise(ctx, d.LastDoc); err != nil {
			// RecordDocument retries it before the run's first commit.
			s.remember(d.ID, d.LastDoc)
			s.warn("claim job: materialise its last document; retried before the next", err,
				"job_id", d.ID, "seq", d.LastDoc.Seq)
		}
	}
	return d.job(), nil
}

// fenced runs a worker mutation whose filter starts with the fence and
// reports whether it matched the job.
func (s *Driver) fenced(ctx context.Context, jobID string, filter, update bson.D) (bool, error) {
	res, err := s.jobs.UpdateOne(ctx, filter, update)
	if err != nil {
		return false, err
	}
	if res.MatchedCount == 0 {
		s.forget(jobID)
		return false, nil
	}
	return true, nil
}

// Heartbeat extends the lease of a processing job by ttl from now.
func (s *Driver) Heartbeat(ctx context.Context, now time.Time, jobID, owner string, ttl time.Duration) (bool, error) {
	return s.fenced(ctx, jobID, fence(jobID, owner), bson.D{{Key: "$set", Value: bson.D{
		{Key: "lease_expires_at", Value: now.Add(ttl)},
		{Key: "updated_at", Value: now},
	}}})
}

// Plan records the source's total and initial checkpoint.
func (s *Driver) Plan(ctx context.Context, now time.Time, jobID, owner string, total int, checkpoint []byte) (bool, error) {
	return s.fenced(ctx, jobID, fence(jobID, owner), bson.D{{Key: "$set", Value: bson.D{
		{Key: "planned", Value: true},
		{Key: "total", Value: int64(total)},
		{Key: "checkpoint", Value: checkpoint},
		{Key: "updated_at", Value: now},
	}}})
}

// releaseUpdate ends a run: sets fields, releases the lease.
func releaseUpdate(set bson.D, inc int) bson.D {
	u := bson.D{
		{Key: "$set", Value: set},
		{Key: "$unset", Value: unsetLease},
	}
	if inc != 0 {
		u = append(u, bson.E{Key: "$inc", Value: bson.D{{Key: "attempts", Value: inc}}})
	}
	return u
}

// FinishRun ends a successful run: completed when done, pending otherwise.
// Completing a job whose total is unknown sets the total to collected,
// which the read that closing the run makes anyway provides; completing a
// job with a notify makes its notification due in the same update.
func (s *Driver) FinishRun(ctx context.Context, now time.Time, jobID, owner string, done bool) (bool, error) {
	return s.finishRun(ctx, now, intake.FinishParams{JobID: jobID, Owner: owner, Done: done})
}

// FinishRuns ends many successful runs one after another, each as
// FinishRun does with its plan in the same update: MongoDB has no
// statement that updates several documents each in its own way. It stops
// at the first error, returning what it finished before it.
func (s *Driver) FinishRuns(ctx context.Context, now time.Time, runs []intake.FinishParams) ([]bool, error) {
	held := make([]bool, 0, len(runs))
	for _, p := range runs {
		ok, err := s.finishRun(ctx, now, p)
		if err != nil {
			return held, err
		}
		held = append(held, ok)
	}
	return held, nil
}

// finishRun is FinishRun with the run's plan, when it has one, set in the
// same update (as Plan would set it, before the finish reads the total).
func (s *Driver) finishRun(ctx context.Context, now time.Time, p intake.FinishParams) (bool, error) {
	return s.release(ctx, now, p.JobID, p.Owner, "", func(d *jobDoc) (bson.D, int, intake.RunOutcome) {
		var set bson.D
		total := d.Total
		if p.Plan != nil {
			total = int64(p.Plan.Total)
			set = bson.D{{Key: "planned", Value: true}, {Key: "checkpoint", Value: p.Plan.Checkpoint}}
		}
		if !p.Done {
			if p.Plan != nil {
				set = append(set, bson.E{Key: "total", Value: total})
			}
			return append(set,
				bson.E{Key: "status", Value: string(intake.StatusPending)},
				bson.E{Key: "available_at", Value: now},
				bson.E{Key: "attempts", Value: 0},
				bson.E{Key: "last_error", Value: ""},
				bson.E{Key: "updated_at", Value: now},
			), 0, "" // batch_done or drained, decided by closingUpdate
		}
		if total == intake.TotalUnknown {
			total = d.Collected
		}
		return endSet(d, append(set,
			bson.E{Key: "status", Value: string(intake.StatusCompleted)},
			bson.E{Key: "completed_at", Value: now},
			bson.E{Key: "total", Value: total},
			bson.E{Key: "attempts", Value: 0},
			bson.E{Key: "last_error", Value: ""},
			bson.E{Key: "updated_at", Value: now},
		), now), 0, intake.RunCompleted
	})
}

// Reschedule ends a run that should be retried at a later time.
func (s *Driver) Reschedule(ctx context.Context, now time.Time, jobID, owner string, at time.Time, lastErr string, countAttempt bool) (bool, error) {
	inc := 0
	if countAttempt {
		inc = 1
	}
	return s.release(ctx, now, jobID, owner, lastErr, func(*jobDoc) (bson.D, int, intake.RunOutcome) {
		return bson.D{
			{Key: "status", Value: string(intake.StatusScheduled)},
			{Key: "available_at", Value: at},
			{Key: "last_error", Value: lastErr},
			{Key: "updated_at", Value: now},
		}, inc, intake.RunRescheduled
	})
}

// Fail ends a run for good; a job with a notify owes its notification from
// the same update.
func (s *Driver) Fail(ctx context.Context, now time.Time, jobID, owner, lastErr string) (bool, error) {
	return s.release(ctx, now, jobID, owner, lastErr, func(d *jobDoc) (bson.D, int, intake.RunOutcome) {
		return endSet(d, bson.D{
			{Key: "status", Value: string(intake.StatusFailed)},
			{Key: "last_error", Value: lastErr},
			{Key: "completed_at", Value: now},
			{Key: "updated_at", Value: now},
		}, now), 0, intake.RunFailed
	})
}
