package mongostore

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/intake-dev/intake"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Run records live in the job document, which stays the commit record:
// Claim sets `open_run` in the claiming update, RecordDocument increments
// its `collected` in the update that commits a document, and the update
// that releases the job (FinishRun, Reschedule, Fail, Maintain's expiry,
// Cancel) pushes the closed record onto `run_log` and unsets `open_run`.
// Without $expr or pipeline updates a record cannot be copied inside one
// update, so releasing reads the job first and then updates it under a
// filter that also requires the `collected` it read: the record it pushes
// is the one it read, or the update matches nothing and is retried.

// runFields is the projection that closing a run reads.
var runFields = bson.D{
	{Key: "status", Value: 1}, {Key: "lease_owner", Value: 1}, {Key: "collected", Value: 1},
	{Key: "total", Value: 1}, {Key: "attempts", Value: 1}, {Key: "runs", Value: 1}, {Key: "open_run", Value: 1},
	{Key: "notify", Value: 1},
}

// notifyFence is the filter term that requires job d's notify to be as it
// was read, so that an update that ends the job sets notify_due_at exactly
// when the job has a notify (endSet), in the same single-document update.
// (A job's notify never changes after it is created; the term makes the
// update's correctness independent of that.)
func notifyFence(d *jobDoc) bson.E {
	return bson.E{Key: "notify", Value: bson.D{{Key: "$exists", Value: d.Notify != nil}}}
}

// endSet returns set, which ends job d (completed or failed) at now, plus
// the outbox entry when d has a notify: its notification is due now.
func endSet(d *jobDoc, set bson.D, now time.Time) bson.D {
	if d.Notify == nil {
		return set
	}
	return append(set, bson.E{Key: "notify_due_at", Value: now}, bson.E{Key: "notify_attempts", Value: int64(0)})
}

// closeRetries bounds the read-then-update rounds of a release that keeps
// losing to concurrent changes of the job.
const closeRetries = 5

// release ends the run of a job under owner: it reads the job under the
// fence, asks build for the job's update given what it read, and applies
// that update with the closed run record pushed. build returns the fields
// to set, the attempts increment and the run outcome; errText is recorded
// with the run. It reports held = false when the fence fails.
func (s *Driver) release(ctx context.Context, now time.Time, jobID, owner string, errText string,
	build func(d *jobDoc) (set bson.D, inc int, outcome intake.RunOutcome)) (held bool, err error) {
	defer s.forget(jobID)
	for range closeRetries {
		var d jobDoc
		err := s.jobs.FindOne(ctx, fence(jobID, owner), options.FindOne().SetProjection(runFields)).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		set, inc, outcome := build(&d)
		filter := append(fence(jobID, owner), bson.E{Key: "collected", Value: d.Collected}, notifyFence(&d))
		res, err := s.jobs.UpdateOne(ctx, filter, closingUpdate(&d, set, inc, outcome, errText, now))
		if err != nil {
			return false, err
		}
		if res.MatchedCount == 1 {
			return true, nil
		}
	}
	return false, intake.Errorf(intake.EUNAVAILABLE, "the job kept changing; try again")
}

// closingUpdate is the update that releases job d: set and inc as
// releaseUpdate, the lease and open_run unset, and d's open run pushed onto
// run_log as ended now with outcome. An empty outcome (FinishRun without
// done) becomes drained when the run recorded less than its batch, else
// batch_done.
func closingUpdate(d *jobDoc, set bson.D, inc int, outcome intake.RunOutcome, errText string, now time.Time) bson.D {
	u := releaseUpdate(set, inc)
	for i := range u {
		if u[i].Key == "$unset" {
			u[i].Value = append(slices.Clone(u[i].Value.(bson.D)), bson.E{Key: "open_run", Value: ""})
		}
	}
	if d.OpenRun == nil || d.OpenRun.StartedAt.IsZero() { // claimed by a binary that kept no records
		return u
	}
	r := *d.OpenRun
	r.Number, r.EndedAt, r.Error = d.Runs, now, errText
	if outcome == "" {
		outcome = intake.RunBatchDone
		if r.Batch > r.Collected {
			outcome = intake.RunDrained
		}
	}
	r.Outcome = string(outcome)
	return append(u, bson.E{Key: "$push", Value: bson.D{{Key: "run_log", Value: r}}})
}

// StartBatch records the batch size on the open run.
func (s *Driver) StartBatch(ctx context.Context, jobID, owner string, batch int) (bool, error) {
	filter := append(fence(jobID, owner), bson.E{Key: "open_run", Value: bson.D{{Key: "$exists", Value: true}}})
	return s.fenced(ctx, jobID, filter, bson.D{{Key: "$set", Value: bson.D{
		{Key: "open_run.batch", Value: int64(batch)},
	}}})
}

// ListRuns returns up to limit run records of a job with Number greater
// than after, in Number order: its run_log, then its open run.
func (s *Driver) ListRuns(ctx context.Context, jobID string, after, limit int) ([]*intake.Run, error) {
	var d jobDoc
	err := s.jobs.FindOne(ctx, bson.D{{Key: "_id", Value: jobID}}, options.FindOne().SetProjection(bson.D{
		{Key: "runs", Value: 1}, {Key: "open_run", Value: 1}, {Key: "run_log", Value: 1},
	})).Decode(&d)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return nil, err
	}
	var runs []*intake.Run
	for i := range d.RunLog {
		if r := &d.RunLog[i]; r.Number > int64(after) && len(runs) < limit {
			runs = append(runs, r.run(jobID))
		}
	}
	if r := d.OpenRun; r != nil && d.Runs > int64(after) && len(runs) < limit {
		open := *r
		open.Number, open.Outcome = d.Runs, string(intake.RunRunning)
		runs = append(runs, open.run(jobID))
	}
	return runs, nil
}

// RunStats reads every job's run log and completion times (a projection of
// the jobs collection) and counts them into the histograms here: FerretDB
// 1.x cannot compute date differences in an aggregation.
func (s *Driver) RunStats(ctx context.Context, p intake.RunStatsParams) (*intake.RunStats, error) {
	st := intake.NewRunStats(p)
	cur, err := s.jobs.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{
		{Key: "status", Value: 1}, {Key: "created_at", Value: 1}, {Key: "completed_at", Value: 1},
		{Key: "run_log.started_at", Value: 1}, {Key: "run_log.ended_at", Value: 1}, {Key: "run_log.outcome", Value: 1},
		{Key: "run_log.collected", Value: 1},
	}))
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var d jobDoc
		if err := cur.Decode(&d); err != nil {
			return nil, err
		}
		for _, r := range d.RunLog {
			h, ok := st.Runs[intake.RunOutcome(r.Outcome)]
			if !ok || r.EndedAt.IsZero() {
				continue
			}
			h.Observe(p.DurationBuckets, r.EndedAt.Sub(r.StartedAt).Seconds())
			st.Runs[intake.RunOutcome(r.Outcome)] = h
			st.Documents += uint64(max(0, r.Collected))
		}
		if d.Status == string(intake.StatusCompleted) && !d.CompletedAt.IsZero() {
			st.Completion.Observe(p.CompletionBuckets, d.CompletedAt.Sub(d.CreatedAt).Seconds())
		}
	}
	if err := cur.Err(); err != nil {
		return nil, err
	}
	return st, nil
}
