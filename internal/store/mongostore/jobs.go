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

// createWait bounds how long CreateJobs waits for a concurrent request's
// uncommitted batch that holds one of its idempotency keys.
const createWait = 5 * time.Second

// CreateJobs inserts jobs atomically: one job with one insert, a batch as
// staged jobs that commit together (see the package documentation). A job
// whose (Tenant, IdempotencyKey) exists is returned instead of inserted.
func (s *Driver) CreateJobs(ctx context.Context, now time.Time, jobs []*intake.Job) ([]*intake.Job, error) {
	docs := make([]*jobDoc, len(jobs))
	for i, j := range jobs {
		docs[i] = newJobDoc(j)
	}
	// found[i] is the existing job that docs[i]'s key names, if any.
	found := make([]*intake.Job, len(docs))
	deadline := time.Now().Add(createWait) // wall time: the store clock may stand still
	for {
		wait, err := s.findKeys(ctx, now, docs, found)
		if err != nil {
			return nil, err
		}
		if !wait {
			var insert []*jobDoc
			for i, d := range docs {
				if found[i] == nil {
					insert = append(insert, d)
				}
			}
			err := s.insert(ctx, insert)
			if err == nil {
				break
			}
			if !mongo.IsDuplicateKeyError(err) {
				return nil, err
			}
			// A concurrent request took one of the keys: look them up again.
		}
		if time.Now().After(deadline) {
			return nil, intake.Errorf(intake.ECONFLICT,
				"a request with the same idempotency key is in progress; retry later")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	out := make([]*intake.Job, len(jobs))
	for i, j := range jobs {
		out[i] = j
		if found[i] != nil {
			out[i] = found[i]
		}
	}
	return out, nil
}

// findKeys looks up the jobs that hold the idempotency keys of docs not yet
// found, and fills found. It reports wait when a key is held by a
// concurrent batch that has not committed yet.
func (s *Driver) findKeys(ctx context.Context, now time.Time, docs []*jobDoc, found []*intake.Job) (wait bool, err error) {
	index := map[string]int{}
	var keys []string
	for i, d := range docs {
		if d.IdempotencyKey != "" && found[i] == nil {
			index[d.Idem] = i
			keys = append(keys, d.Idem)
		}
	}
	if len(keys) == 0 {
		return false, nil
	}
	cur, err := s.jobs.Find(ctx, bson.D{{Key: "idem", Value: bson.D{{Key: "$in", Value: keys}}}})
	if err != nil {
		return false, err
	}
	var existing []*jobDoc
	if err := cur.All(ctx, &existing); err != nil {
		return false, err
	}
	for _, e := range existing {
		i, ok := index[e.Idem]
		if !ok {
			continue
		}
		if e.Status != statusStaged {
			found[i] = e.job()
			continue
		}
		state, _, err := s.settleBatch(ctx, e.Batch, now.Add(-StagedTimeout))
		if err != nil {
			return false, err
		}
		switch state {
		case batchCommitted:
			found[i] = e.job() // now pending, like every job of the batch
		case batchInFlight:
			wait = true
		case batchAborted: // the key is free again
		}
	}
	return wait, nil
}

// GetJob returns a job by ID, nil when there is none. A staged job is
// found once its batch committed, which GetJob settles.
func (s *Driver) GetJob(ctx context.Context, id string) (*intake.Job, error) {
	var d jobDoc
	err := s.jobs.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if d.Status == statusStaged {
		state, _, err := s.settleBatch(ctx, d.Batch, abortNever)
		if err != nil || state != batchCommitted {
			return nil, err
		}
	}
	return d.job(), nil
}

// ListJobs returns up to limit jobs with an ID below before, newest first.
func (s *Driver) ListJobs(ctx context.Context, status intake.Status, before string, limit int) ([]*intake.Job, error) {
	filter := bson.D{{Key: "status", Value: bson.D{{Key: "$ne", Value: statusStaged}}}}
	if status != "" {
		filter = bson.D{{Key: "status", Value: string(status)}}
	}
	if before != "" {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$lt", Value: before}}})
	}
	cur, err := s.jobs.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, err
	}
	var docs []*jobDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	jobs := make([]*intake.Job, len(docs))
	for i, d := range docs {
		jobs[i] = d.job()
	}
	return jobs, nil
}

// Cancel cancels a job that is not terminal, releasing any lease: it reads
// the job, then changes it with one findOneAndUpdate whose filter re-checks
// what it read and which closes a processing job's open run.
func (s *Driver) Cancel(ctx context.Context, now time.Time, id string) (*intake.Job, error) {
	for range closeRetries {
		var cur jobDoc
		err := s.jobs.FindOne(ctx, bson.D{{Key: "_id", Value: id}},
			options.FindOne().SetProjection(runFields)).Decode(&cur)
		if errors.Is(err, mongo.ErrNoDocuments) || cur.Status == statusStaged {
			// A staged job is settled (and found or not) by GetJob.
			if j, err := s.GetJob(ctx, id); j == nil || err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if intake.Status(cur.Status).Terminal() {
			return nil, nil
		}
		// The filter re-checks what was read; a processing job's open run
		// is closed in the same update.
		set := bson.D{
			{Key: "status", Value: string(intake.StatusCancelled)},
			{Key: "completed_at", Value: now},
			{Key: "updated_at", Value: now},
		}
		filter := bson.D{{Key: "_id", Value: id}, {Key: "status", Value: cur.Status}}
		update := bson.D{{Key: "$set", Value: set}, {Key: "$unset", Value: unsetLease}}
		if cur.Status == string(intake.StatusProcessing) {
			filter = append(filter, bson.E{Key: "lease_owner", Value: cur.LeaseOwner},
				bson.E{Key: "collected", Value: cur.Collected})
			update = closingUpdate(&cur, set, 0, intake.RunCancelled, "cancelled", now)
		}
		var d jobDoc
		err = s.jobs.FindOneAndUpdate(ctx, filter, update,
			options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
		if err == nil {
			return d.job(), nil
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return nil, err
		}
	}
	return nil, intake.Errorf(intake.EUNAVAILABLE, "the job kept changing; try again")
}

// Stats counts jobs by status, sums the jobs' document counters and finds
// the oldest pending job. Each $group has a single accumulator: FerretDB
// 1.x computes only the first of several.
func (s *Driver) Stats(ctx context.Context) (*intake.Stats, error) {
	st := &intake.Stats{Jobs: make(map[intake.Status]int64, len(intake.Statuses))}
	counts, err := s.group(ctx, "$status", 1)
	if err != nil {
		return nil, err
	}
	for status, n := range counts {
		if intake.Status(status).Valid() { // staged jobs do not exist yet
			st.Jobs[intake.Status(status)] = n
		}
	}
	for field, sum := range map[string]*int64{"$collected": &st.Documents, "$bytes": &st.Bytes} {
		sums, err := s.group(ctx, nil, field)
		if err != nil {
			return nil, err
		}
		for _, v := range sums {
			*sum += v
		}
	}
	var oldest jobDoc
	err = s.jobs.FindOne(ctx, PendingFilter(), options.FindOne().
		SetSort(bson.D{{Key: "available_at", Value: 1}}).
		SetProjection(bson.D{{Key: "available_at", Value: 1}})).Decode(&oldest)
	switch {
	case err == nil:
		st.OldestPending = utc(oldest.AvailableAt)
	case !errors.Is(err, mongo.ErrNoDocuments):
		return nil, err
	}
	return st, nil
}

// group runs {$group: {_id: by, v: {$sum: sum}}} over the jobs and returns
// v by _id (by nil: one group, keyed "").
func (s *Driver) group(ctx context.Context, by, sum any) (map[string]int64, error) {
	cur, err := s.jobs.Aggregate(ctx, mongo.Pipeline{{{Key: "$group", Value: bson.D{
		{Key: "_id", Value: by},
		{Key: "v", Value: bson.D{{Key: "$sum", Value: sum}}},
	}}}})
	if err != nil {
		return nil, err
	}
	var groups []struct {
		ID    any   `bson:"_id"`
		Value int64 `bson:"v"`
	}
	if err := cur.All(ctx, &groups); err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(groups))
	for _, g := range groups {
		key, _ := g.ID.(string)
		out[key] += g.Value
	}
	return out, nil
}
