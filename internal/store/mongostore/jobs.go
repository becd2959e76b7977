package mongostore

import (
	"context"
	"encoding/base64"
	"encoding/json"
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

// cleanupTimeout bounds the writes that undo a failed batch, which run even
// when the caller's context is done.
const cleanupTimeout = 10 * time.Second

// CreateJobs inserts jobs atomically: one job with one insert, a batch as
// staged jobs that commit together (see the package documentation). A job
// whose (Tenant, IdempotencyKey) exists is returned instead of inserted.
func (s *Store) CreateJobs(ctx context.Context, jobs []*intake.Job) ([]*intake.Job, error) {
	for i, j := range jobs {
		switch {
		case j == nil:
			return nil, intake.Errorf(intake.EINVALID, "create jobs: job %d is nil", i)
		case j.SourceType == "":
			return nil, intake.Errorf(intake.EINVALID, "create jobs: job %d has no source_type", i)
		case len(j.Config) > 0 && !json.Valid(j.Config):
			return nil, intake.Errorf(intake.EINVALID, "create jobs: job %d config is not valid JSON", i)
		}
	}
	if len(jobs) == 0 {
		return []*intake.Job{}, nil
	}
	now := s.now()
	// One new document per distinct idempotency key; the same key twice in
	// the batch is one job.
	docs := make([]*jobDoc, 0, len(jobs))
	slot := make([]int, len(jobs))
	byIdem := map[string]int{}
	for i, in := range jobs {
		d := newJobDoc(in, now)
		if d.IdempotencyKey != "" {
			if k, ok := byIdem[d.Idem]; ok {
				slot[i] = k
				continue
			}
			byIdem[d.Idem] = len(docs)
		}
		slot[i] = len(docs)
		docs = append(docs, d)
	}

	// found[i] is the existing job that docs[i]'s key names, if any.
	found := make([]*intake.Job, len(docs))
	deadline := time.Now().Add(createWait) // wall time: the store clock may stand still
	for {
		wait, err := s.findKeys(ctx, docs, found)
		if err != nil {
			return nil, s.wrap(err, "create jobs")
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
				return nil, s.wrap(err, "create jobs")
			}
			// A concurrent request took one of the keys: look them up again.
		}
		if time.Now().After(deadline) {
			return nil, intake.Errorf(intake.ECONFLICT,
				"create jobs: a request with the same idempotency key is in progress; retry later")
		}
		select {
		case <-ctx.Done():
			return nil, s.wrap(ctx.Err(), "create jobs")
		case <-time.After(20 * time.Millisecond):
		}
	}
	out := make([]*intake.Job, len(jobs))
	for i, k := range slot {
		if found[k] != nil {
			out[i] = found[k]
		} else {
			out[i] = docs[k].job()
		}
	}
	return out, nil
}

// findKeys looks up the jobs that hold the idempotency keys of docs not yet
// found, and fills found. It reports wait when a key is held by a
// concurrent batch that has not committed yet.
func (s *Store) findKeys(ctx context.Context, docs []*jobDoc, found []*intake.Job) (wait bool, err error) {
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
		state, _, err := s.settleBatch(ctx, e.Batch, s.now().Add(-StagedTimeout))
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

// insert inserts new jobs atomically: one with a single insert, several as
// a staged batch that commits when its leader (the first job) becomes
// pending. On error nothing was inserted, except after an EUNAVAILABLE
// error during the commit, whose outcome Maintain settles.
func (s *Store) insert(ctx context.Context, docs []*jobDoc) error {
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
		return intake.Errorf(intake.EUNAVAILABLE, "create jobs: the batch was not committed within %s; retry", StagedTimeout)
	}
	// Committed: the other jobs follow. Should this fail, GetJob and
	// Maintain roll them forward.
	if _, err := s.jobs.UpdateMany(ctx, stagedOf(leader), commitUpdate()); err != nil {
		s.logger.Warn("create jobs: batch committed, publishing it failed; maintenance completes it",
			"batch", leader, "jobs", len(docs), "err", s.wrap(err, "publish batch"))
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
func (s *Store) abortOwnBatch(ctx context.Context, leader string) error {
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
func (s *Store) settleBatch(ctx context.Context, leader string, abortBefore time.Time) (batchState, []string, error) {
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
func (s *Store) rollForward(ctx context.Context, leader string) ([]string, error) {
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

// GetJob returns a job by ID, or an ENOTFOUND error.
func (s *Store) GetJob(ctx context.Context, id string) (*intake.Job, error) {
	var d jobDoc
	err := s.jobs.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, intake.Errorf(intake.ENOTFOUND, "job %s not found", id)
	}
	if err != nil {
		return nil, s.wrap(err, "get job %s", id)
	}
	if d.Status == statusStaged {
		state, _, err := s.settleBatch(ctx, d.Batch, abortNever)
		if err != nil {
			return nil, s.wrap(err, "get job %s", id)
		}
		if state != batchCommitted {
			return nil, intake.Errorf(intake.ENOTFOUND, "job %s not found", id)
		}
	}
	return d.job(), nil
}

// ListJobs returns jobs newest first (by ID, which sorts by creation time).
// The cursor is the base64url-encoded ID of the last job of a page.
func (s *Store) ListJobs(ctx context.Context, f intake.JobFilter) (*intake.JobPage, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, intake.Errorf(intake.EINVALID, "list jobs: unknown status %q", f.Status)
	}
	limit := pageSize(f.Limit)
	filter := bson.D{{Key: "status", Value: bson.D{{Key: "$ne", Value: statusStaged}}}}
	if f.Status != "" {
		filter = bson.D{{Key: "status", Value: string(f.Status)}}
	}
	if f.Cursor != "" {
		after, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, err
		}
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$lt", Value: after}}})
	}
	// One more job than the page tells whether another page exists.
	cur, err := s.jobs.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit+1)))
	if err != nil {
		return nil, s.wrap(err, "list jobs")
	}
	var docs []*jobDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.wrap(err, "list jobs")
	}
	page := &intake.JobPage{Jobs: make([]*intake.Job, 0, min(len(docs), limit))}
	for _, d := range docs[:min(len(docs), limit)] {
		page.Jobs = append(page.Jobs, d.job())
	}
	if len(docs) > limit {
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(docs[limit-1].ID))
	}
	return page, nil
}

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !intake.ValidID(string(b)) {
		return "", intake.Errorf(intake.EINVALID, "list jobs: invalid cursor")
	}
	return string(b), nil
}

// Cancel cancels a job that is not terminal, releasing any lease: it reads
// the job, then changes it with one findOneAndUpdate whose filter re-checks
// what it read and which closes a processing job's open run.
func (s *Store) Cancel(ctx context.Context, id string) (*intake.Job, error) {
	for range closeRetries {
		var cur jobDoc
		err := s.jobs.FindOne(ctx, bson.D{{Key: "_id", Value: id}},
			options.FindOne().SetProjection(runFields)).Decode(&cur)
		if errors.Is(err, mongo.ErrNoDocuments) || cur.Status == statusStaged {
			// A staged job is settled (and found or not) by GetJob.
			if _, err := s.GetJob(ctx, id); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, s.wrap(err, "cancel job %s", id)
		}
		if intake.Status(cur.Status).Terminal() {
			return nil, intake.Errorf(intake.ECONFLICT, "job %s is %s and cannot be cancelled", id, cur.Status)
		}
		// The filter re-checks what was read; a processing job's open run
		// is closed in the same update.
		now := s.now()
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
			return nil, s.wrap(err, "cancel job %s", id)
		}
	}
	return nil, intake.Errorf(intake.EUNAVAILABLE, "cancel job %s: the job kept changing; try again", id)
}

// Stats counts jobs by status, sums the jobs' document counters and finds
// the oldest pending job. Each $group has a single accumulator: FerretDB
// 1.x computes only the first of several.
func (s *Store) Stats(ctx context.Context) (*intake.Stats, error) {
	st := &intake.Stats{Jobs: make(map[intake.Status]int64, len(intake.Statuses))}
	for _, status := range intake.Statuses {
		st.Jobs[status] = 0
	}
	counts, err := s.group(ctx, "$status", 1)
	if err != nil {
		return nil, s.wrap(err, "job stats")
	}
	for status, n := range counts {
		if intake.Status(status).Valid() { // staged jobs do not exist yet
			st.Jobs[intake.Status(status)] = n
		}
	}
	for field, sum := range map[string]*int64{"$collected": &st.Documents, "$bytes": &st.Bytes} {
		sums, err := s.group(ctx, nil, field)
		if err != nil {
			return nil, s.wrap(err, "job stats")
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
		return nil, s.wrap(err, "job stats")
	}
	return st, nil
}

// group runs {$group: {_id: by, v: {$sum: sum}}} over the jobs and returns
// v by _id (by nil: one group, keyed "").
func (s *Store) group(ctx context.Context, by, sum any) (map[string]int64, error) {
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
