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

// A batch of jobs is inserted staged and commits with its leader: see the
// package documentation.

// cleanupTimeout bounds the writes that undo a failed batch, which run even
// when the caller's context is done.
const cleanupTimeout = 10 * time.Second

// insert inserts new jobs atomically: one with a single insert, several as
// a staged batch that commits when its leader (the first job) becomes
// pending. On error nothing was inserted, except after an EUNAVAILABLE
// error during the commit, whose outcome Maintain settles.
func (s *Driver) insert(ctx context.Context, docs []*jobDoc) error {
	switch len(docs) {
	case 0:
		return nil
	case 1:
		_, err := s.jobs.InsertOne(ctx, docs[0])
		return err
	}
	leader := docs[0].ID
	batch := make([]any, len(docs))
	for i, d := range docs {
		d.Status, d.Batch = statusStaged, leader
		batch[i] = d
	}
	defer func() {
		for _, d := range docs {
			d.Status, d.Batch = string(intake.StatusPending), ""
		}
	}()
	if _, err := s.jobs.InsertMany(ctx, batch); err != nil {
		if aerr := s.abortOwnBatch(ctx, leader); aerr != nil {
			return errors.Join(err, aerr)
		}
		return err
	}
	// The commit: the leader's single-document update from staged.
	res, err := s.jobs.UpdateOne(ctx, bson.D{{Key: "_id", Value: leader}, {Key: "status", Value: statusStaged}}, commitUpdate())
	if err != nil {
		// The commit may or may not have been applied: find out, and
		// abort if it was not.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		state, _, serr := s.settleBatch(cctx, leader, farFuture)
		if serr != nil || state != batchCommitted {
			return errors.Join(err, serr)
		}
	} else if res.MatchedCount == 0 {
		// Maintain aborted the batch as stale before it committed.
		if aerr := s.abortOwnBatch(ctx, leader); aerr != nil {
			return aerr
		}
		return intake.Errorf(intake.EUNAVAILABLE, "the batch was not committed within %s; retry", StagedTimeout)
	}
	// Committed: the other jobs follow. Should this fail, GetJob and
	// Maintain roll them forward.
	if _, err := s.jobs.UpdateMany(ctx, stagedOf(leader), commitUpdate()); err != nil {
		s.warn("create jobs: batch committed, publishing it failed; maintenance completes it", err,
			"batch", leader, "jobs", len(docs))
	}
	return nil
}

// The abort thresholds of settleBatch: every batch was created before
// farFuture (abort any uncommitted batch) and after the zero time (abort
// none).
var (
	farFuture  = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	abortNever = time.Time{}
)

// commitUpdate turns a staged job into a pending one.
func commitUpdate() bson.D {
	return bson.D{
		{Key: "$set", Value: bson.D{{Key: "status", Value: string(intake.StatusPending)}}},
		{Key: "$unset", Value: bson.D{{Key: "batch", Value: ""}}},
	}
}

// stagedOf filters the staged jobs of a batch.
func stagedOf(leader string) bson.D {
	return bson.D{{Key: "batch", Value: leader}, {Key: "status", Value: statusStaged}}
}

// abortOwnBatch deletes the staged jobs of a batch this store created and
// did not commit.
func (s *Driver) abortOwnBatch(ctx context.Context, leader string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, err := s.jobs.DeleteMany(ctx, stagedOf(leader))
	return err
}

// batchState is what settleBatch found a batch to be.
type batchState int

const (
	batchCommitted batchState = iota // its leader is pending (or later); all its jobs are now
	batchInFlight                    // uncommitted and younger than the abort threshold
	batchAborted                     // uncommitted and now deleted
)

// settleBatch decides the fate of a staged batch by its leader: committed
// when the leader is no longer staged, in which case the batch's other
// jobs are rolled forward to pending (their IDs are returned); otherwise
// aborted (deleted, leader first, so that a late commit fails) when its
// leader is missing or was created at or before abortBefore, and in flight
// when it is younger.
func (s *Driver) settleBatch(ctx context.Context, leader string, abortBefore time.Time) (batchState, []string, error) {
	for range 3 {
		var l jobDoc
		err := s.jobs.FindOne(ctx, bson.D{{Key: "_id", Value: leader}},
			options.FindOne().SetProjection(bson.D{{Key: "status", Value: 1}, {Key: "created_at", Value: 1}})).Decode(&l)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments): // aborted, or being aborted
		case err != nil:
			return 0, nil, err
		case l.Status != statusStaged:
			ids, err := s.rollForward(ctx, leader)
			if err != nil {
				return 0, nil, err
			}
			return batchCommitted, ids, nil
		case l.CreatedAt.After(abortBefore):
			return batchInFlight, nil, nil
		default:
			res, err := s.jobs.DeleteOne(ctx, bson.D{{Key: "_id", Value: leader}, {Key: "status", Value: statusStaged}})
			if err != nil {
				return 0, nil, err
			}
			if res.DeletedCount == 0 {
				continue // it committed meanwhile: look again
			}
		}
		if _, err := s.jobs.DeleteMany(ctx, stagedOf(leader)); err != nil {
			return 0, nil, err
		}
		return batchAborted, nil, nil
	}
	return 0, nil, intake.Errorf(intake.EINTERNAL, "settle batch %s: its leader keeps changing", leader)
}

// rollForward makes the staged jobs of a committed batch pending, one
// conditional update each, and returns the IDs it changed.
func (s *Driver) rollForward(ctx context.Context, leader string) ([]string, error) {
	cur, err := s.jobs.Find(ctx, stagedOf(leader), options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, err
	}
	var staged []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &staged); err != nil {
		return nil, err
	}
	var changed []string
	for _, j := range staged {
		res, err := s.jobs.UpdateOne(ctx, bson.D{{Key: "_id", Value: j.ID}, {Key: "status", Value: statusStaged}}, commitUpdate())
		if err != nil {
			return changed, err
		}
		if res.ModifiedCount == 1 {
			changed = append(changed, j.ID)
		}
	}
	return changed, nil
}
