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
func (s *Store) Claim(ctx context.Context, p intake.ClaimParams) (*intake.Job, error) {
	if p.Owner == "" || p.LeaseTTL <= 0 {
		return nil, intake.Errorf(intake.EINVALID, "claim job: owner and a positive lease TTL are required")
	}
	now := s.now()
	filter := PendingFilter()
	opts := options.FindOneAndUpdate().SetReturnDocument(options.After)
	if p.JobID != "" {
		filter = append(bson.D{{Key: "_id", Value: p.JobID}}, filter...)
	} else {
		opts.SetSort(bson.D{{Key: "available_at", Value: 1}, {Key: "_id", Value: 1}})
	}
	worker := p.Worker
	if worker == "" {
		worker = p.Owner
	}
	var d jobDoc
	err := s.jobs.FindOneAndUpdate(ctx, filter, bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "status", Value: string(intake.StatusProcessing)},
			{Key: "lease_owner", Value: p.Owner},
			{Key: "lease_expires_at", Value: now.Add(p.LeaseTTL)},
			{Key: "updated_at", Value: now},
			// The run's record; its number is the job's runs.
			{Key: "open_run", Value: runDoc{Worker: worker, LeaseOwner: p.Owner, StartedAt: now,
				Outcome: string(intake.RunRunning)}},
		}},
		{Key: "$inc", Value: bson.D{{Key: "runs", Value: 1}}},
		// Set by the first claim only: later claims are not earlier.
		{Key: "$min", Value: bson.D{{Key: "started_at", Value: now}}},
	}, opts).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		if p.JobID != "" {
			return nil, fmt.Errorf("claim job %s: %w", p.JobID, intake.ErrNoJob)
		}
		return nil, intake.ErrNoJob
	}
	if err != nil {
		return nil, s.wrap(err, "claim job")
	}
	s.forget(d.ID)
	if d.LastDoc != nil {
		if err := s.materialise(ctx, d.LastDoc); err != nil {
			// RecordDocument retries it before the run's first commit.
			s.remember(d.ID, d.LastDoc)
			s.logger.Warn("claim job: materialise its last document; retried before the next",
				"job_id", d.ID, "seq", d.LastDoc.Seq, "err", s.wrap(err, "materialise document"))
		}
	}
	return d.job(), nil
}

// fenced runs a worker mutation whose filter starts with the fence and
// returns ErrLeaseLost when it matched no job.
func (s *Store) fenced(ctx context.Context, op, jobID string, filter, update bson.D) error {
	res, err := s.jobs.UpdateOne(ctx, filter, update)
	if err != nil {
		return s.wrap(err, "%s %s", op, jobID)
	}
	if res.MatchedCount == 0 {
		s.forget(jobID)
		return fmt.Errorf("%s %s: %w", op, jobID, intake.ErrLeaseLost)
	}
	return nil
}

// Heartbeat extends the lease of a processing job by ttl from now.
func (s *Store) Heartbeat(ctx context.Context, jobID, owner string, ttl time.Duration) error {
	if ttl <= 0 {
		return intake.Errorf(intake.EINVALID, "heartbeat job %s: lease TTL must be positive", jobID)
	}
	now := s.now()
	return s.fenced(ctx, "heartbeat job", jobID, fence(jobID, owner), bson.D{{Key: "$set", Value: bson.D{
		{Key: "lease_expires_at", Value: now.Add(ttl)},
		{Key: "updated_at", Value: now},
	}}})
}

// Plan records the source's total and initial checkpoint.
func (s *Store) Plan(ctx context.Context, jobID, owner string, total int, checkpoint []byte) error {
	if total < 0 && total != intake.TotalUnknown {
		return intake.Errorf(intake.EINVALID, "plan job %s: invalid total %d", jobID, total)
	}
	return s.fenced(ctx, "plan job", jobID, fence(jobID, owner), bson.D{{Key: "$set", Value: bson.D{
		{Key: "planned", Value: true},
		{Key: "total", Value: int64(total)},
		{Key: "checkpoint", Value: checkpoint},
		{Key: "updated_at", Value: s.now()},
	}}})
}

// RecordDocument commits a document with one fenced update of its job that
// requires collected = seq-1 and stores the metadata as the job's
// last_doc, then materialises it into documents. The document is recorded
// once the first step succeeds; a failure of the second is logged and
// repaired before the job's next commit and by every reader.
func (s *Store) RecordDocument(ctx context.Context, owner string, doc *intake.Document, checkpoint []byte) error {
	if doc == nil || doc.JobID == "" {
		return intake.Errorf(intake.EINVALID, "record document: a document with a job ID is required")
	}
	if err := intake.ValidateBlobKey(doc.BlobKey); err != nil {
		return fmt.Errorf("record document %d of job %s: %w", doc.Seq, doc.JobID, err)
	}
	if err := s.settle(ctx, doc.JobID); err != nil {
		return s.wrap(err, "record document %d of job %s: materialise the previous document", doc.Seq, doc.JobID)
	}
	now := s.now()
	id := doc.ID
	if id == "" {
		id = intake.NewID()
	}
	collectedAt := doc.CollectedAt
	if collectedAt.IsZero() {
		collectedAt = now
	}
	last := newDocDoc(doc, id, collectedAt)
	filter := append(fence(doc.JobID, owner), bson.E{Key: "collected", Value: int64(doc.Seq - 1)})
	res, err := s.jobs.UpdateOne(ctx, filter, bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "collected", Value: int64(doc.Seq)},
			{Key: "checkpoint", Value: checkpoint},
			{Key: "last_doc", Value: last},
			{Key: "updated_at", Value: now},
		}},
		{Key: "$inc", Value: bson.D{{Key: "bytes", Value: doc.SizeBytes}, {Key: "open_run.collected", Value: 1}}},
	})
	if err != nil {
		if ambiguous(err) { // it may have committed: check before the next
			s.remember(doc.JobID, nil)
		}
		return s.wrap(err, "record document %d of job %s", doc.Seq, doc.JobID)
	}
	if res.MatchedCount == 0 {
		return s.whyNotRecorded(ctx, owner, doc)
	}
	doc.ID = id
	if doc.CollectedAt.IsZero() {
		doc.CollectedAt = collectedAt
	}
	if err := s.materialise(ctx, last); err != nil {
		s.remember(doc.JobID, last)
		s.logger.Warn("record document: committed; materialising it failed and is retried before the next",
			"job_id", doc.JobID, "seq", doc.Seq, "err", s.wrap(err, "materialise document"))
	}
	return nil
}

// whyNotRecorded explains a RecordDocument that matched no job: the lease
// is gone, or the sequence number is not the next one.
func (s *Store) whyNotRecorded(ctx context.Context, owner string, doc *intake.Document) error {
	var d jobDoc
	err := s.jobs.FindOne(ctx, fence(doc.JobID, owner),
		options.FindOne().SetProjection(bson.D{{Key: "collected", Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		s.forget(doc.JobID)
		return fmt.Errorf("record document %d of job %s: %w", doc.Seq, doc.JobID, intake.ErrLeaseLost)
	}
	if err != nil {
		return s.wrap(err, "record document %d of job %s", doc.Seq, doc.JobID)
	}
	return errNotNext(doc.Seq, d.Collected)
}

// remember notes that the last document of a job may not be materialised;
// d is that document, or nil to read it from the job.
func (s *Store) remember(jobID string, d *docDoc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unsettled[jobID] = d
}

// forget drops a job's note, when its run ended.
func (s *Store) forget(jobID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.unsettled, jobID)
}

// settle materialises the last document of a job when remember noted it.
func (s *Store) settle(ctx context.Context, jobID string) error {
	s.mu.Lock()
	d, ok := s.unsettled[jobID]
	s.mu.Unlock()
	if !ok {
		return nil
	}
	if d == nil {
		var j jobDoc
		err := s.jobs.FindOne(ctx, bson.D{{Key: "_id", Value: jobID}},
			options.FindOne().SetProjection(bson.D{{Key: "last_doc", Value: 1}})).Decode(&j)
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return err
		}
		d = j.LastDoc
	}
	if d != nil {
		if err := s.materialise(ctx, d); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.unsettled[jobID]; ok && cur == d {
		delete(s.unsettled, jobID)
	}
	return nil
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
// which the read that closing the run makes anyway provides.
func (s *Store) FinishRun(ctx context.Context, jobID, owner string, done bool) error {
	return s.release(ctx, "finish run of job", jobID, owner, "", func(d *jobDoc) (bson.D, int, intake.RunOutcome) {
		now := s.now()
		if !done {
			return bson.D{
				{Key: "status", Value: string(intake.StatusPending)},
				{Key: "available_at", Value: now},
				{Key: "attempts", Value: 0},
				{Key: "last_error", Value: ""},
				{Key: "updated_at", Value: now},
			}, 0, "" // batch_done or drained, decided by closingUpdate
		}
		total := d.Total
		if total == intake.TotalUnknown {
			total = d.Collected
		}
		return bson.D{
			{Key: "status", Value: string(intake.StatusCompleted)},
			{Key: "completed_at", Value: now},
			{Key: "total", Value: total},
			{Key: "attempts", Value: 0},
			{Key: "last_error", Value: ""},
			{Key: "updated_at", Value: now},
		}, 0, intake.RunCompleted
	})
}

// Reschedule ends a run that should be retried at a later time.
func (s *Store) Reschedule(ctx context.Context, jobID, owner string, at time.Time, lastErr string, countAttempt bool) error {
	inc := 0
	if countAttempt {
		inc = 1
	}
	return s.release(ctx, "reschedule job", jobID, owner, lastErr, func(*jobDoc) (bson.D, int, intake.RunOutcome) {
		return bson.D{
			{Key: "status", Value: string(intake.StatusScheduled)},
			{Key: "available_at", Value: at.UTC().Truncate(time.Millisecond)},
			{Key: "last_error", Value: lastErr},
			{Key: "updated_at", Value: s.now()},
		}, inc, intake.RunRescheduled
	})
}

// Fail ends a run for good.
func (s *Store) Fail(ctx context.Context, jobID, owner, lastErr string) error {
	return s.release(ctx, "fail job", jobID, owner, lastErr, func(*jobDoc) (bson.D, int, intake.RunOutcome) {
		now := s.now()
		return bson.D{
			{Key: "status", Value: string(intake.StatusFailed)},
			{Key: "last_error", Value: lastErr},
			{Key: "completed_at", Value: now},
			{Key: "updated_at", Value: now},
		}, 0, intake.RunFailed
	})
}

// leaseExpired is the LastError of a job whose lease lapsed.
const leaseExpired = "lease expired: the worker stopped renewing it (crashed, killed or stalled)"

// maintainLimit bounds the jobs of each kind one Maintain pass changes, so
// that a pass after a long outage stays short; the next pass continues.
const maintainLimit = 1000

// Maintain promotes due scheduled jobs, expires lapsed leases and settles
// batches left staged by a crash. Each job changes with its own
// findOneAndUpdate whose filter re-checks the condition, so concurrent
// passes change every job once and each reports the jobs it changed.
func (s *Store) Maintain(ctx context.Context, maxAttempts int) (*intake.MaintainResult, error) {
	if maxAttempts < 1 {
		return nil, intake.Errorf(intake.EINVALID, "maintain: maxAttempts must be at least 1, not %d", maxAttempts)
	}
	now := s.now()
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
		return nil, s.wrap(err, "maintain jobs: promote scheduled jobs")
	}
	if r.Expired, r.ExpiredFailed, err = s.expireLeases(ctx, now, maxAttempts); err != nil {
		return nil, s.wrap(err, "maintain jobs: expire leases")
	}
	published, err := s.settleStaged(ctx, now.Add(-StagedTimeout))
	if err != nil {
		return nil, s.wrap(err, "maintain jobs: settle staged batches")
	}
	r.Promoted = append(r.Promoted, published...)
	for _, ids := range [][]string{r.Promoted, r.Expired, r.ExpiredFailed} {
		slices.Sort(ids)
	}
	if n := len(r.Promoted) + len(r.Expired) + len(r.ExpiredFailed); n > 0 {
		s.logger.Debug("maintained jobs", "promoted", len(r.Promoted), "expired", len(r.Expired),
			"expired_failed", len(r.ExpiredFailed))
	}
	return r, nil
}

// expireLeases makes the processing jobs whose lease expired by now
// pending again, or failed on their last attempt, and closes their runs
// as lease_expired. Each job is read and then changed by an update whose
// filter re-checks the lease, its owner, attempts and collected, so
// concurrent passes change every job once and the record pushed is the
// one read.
func (s *Store) expireLeases(ctx context.Context, now time.Time, maxAttempts int) (expired, failed []string, err error) {
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
			{Key: "last_error", Value: leaseExpired},
			{Key: "updated_at", Value: now},
		}
		last := d.Attempts+1 >= int64(maxAttempts)
		if last {
			set = bson.D{
				{Key: "status", Value: string(intake.StatusFailed)},
				{Key: "completed_at", Value: now},
				{Key: "last_error", Value: leaseExpired},
				{Key: "updated_at", Value: now},
			}
		}
		filter := append(slices.Clone(lapsed),
			bson.E{Key: "_id", Value: d.ID}, bson.E{Key: "lease_owner", Value: d.LeaseOwner},
			bson.E{Key: "attempts", Value: d.Attempts}, bson.E{Key: "collected", Value: d.Collected})
		res, err := s.jobs.UpdateOne(ctx, filter,
			closingUpdate(d, set, 1, intake.RunLeaseExpired, leaseExpired, now))
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
func (s *Store) each(ctx context.Context, filter, update bson.D) ([]string, error) {
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
func (s *Store) settleStaged(ctx context.Context, abortBefore time.Time) ([]string, error) {
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
