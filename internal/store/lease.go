package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/intake-dev/intake"
)

// Claim moves one pending job to processing under a new lease and opens
// its run record, in one atomic step.
func (s *Store) Claim(ctx context.Context, p intake.ClaimParams) (*intake.Job, error) {
	if p.Owner == "" || p.LeaseTTL <= 0 {
		return nil, intake.Errorf(intake.EINVALID, "claim job: owner and a positive lease TTL are required")
	}
	noJob := error(intake.ErrNoJob)
	if p.JobID != "" {
		noJob = fmt.Errorf("claim job %s: %w", p.JobID, intake.ErrNoJob)
		if !intake.ValidID(p.JobID) {
			return nil, noJob
		}
	}
	if p.Worker == "" {
		p.Worker = p.Owner
	}
	j, err := s.d.Claim(ctx, s.now(), p)
	if err != nil {
		return nil, s.wrap(err, "claim job")
	}
	if j == nil {
		return nil, noJob
	}
	return j, nil
}

// fenced runs a fenced driver call for op on a job and turns what it
// reports into the contract's errors: ErrLeaseLost when the caller no
// longer holds the job.
func (s *Store) fenced(op, jobID string, call func() (held bool, err error)) error {
	if !intake.ValidID(jobID) {
		return leaseLost(op, jobID)
	}
	held, err := call()
	if err != nil {
		return s.wrap(err, "%s %s", op, jobID)
	}
	if !held {
		return leaseLost(op, jobID)
	}
	return nil
}

func leaseLost(op, jobID string) error {
	return fmt.Errorf("%s %s: %w", op, jobID, intake.ErrLeaseLost)
}

// Heartbeat extends the lease of a processing job by ttl from now.
func (s *Store) Heartbeat(ctx context.Context, jobID, owner string, ttl time.Duration) error {
	if ttl <= 0 {
		return intake.Errorf(intake.EINVALID, "heartbeat job %s: lease TTL must be positive", jobID)
	}
	return s.fenced("heartbeat job", jobID, func() (bool, error) {
		return s.d.Heartbeat(ctx, s.now(), jobID, owner, ttl)
	})
}

// Plan records the source's total and initial checkpoint.
func (s *Store) Plan(ctx context.Context, jobID, owner string, total int, checkpoint []byte) error {
	if total < 0 && total != intake.TotalUnknown {
		return intake.Errorf(intake.EINVALID, "plan job %s: invalid total %d", jobID, total)
	}
	return s.fenced("plan job", jobID, func() (bool, error) {
		return s.d.Plan(ctx, s.now(), jobID, owner, total, checkpoint)
	})
}

// StartBatch records the batch size on the open run.
func (s *Store) StartBatch(ctx context.Context, jobID, owner string, batch int) error {
	if batch < 0 {
		return intake.Errorf(intake.EINVALID, "start batch of job %s: invalid batch %d", jobID, batch)
	}
	return s.fenced("start batch of job", jobID, func() (bool, error) {
		return s.d.StartBatch(ctx, jobID, owner, batch)
	})
}

// RecordDocument stores a document's metadata and the checkpoint after it,
// and advances Collected, in one atomic step under the fence. It sets
// doc.ID, and doc.CollectedAt when it is zero.
func (s *Store) RecordDocument(ctx context.Context, owner string, doc *intake.Document, checkpoint []byte) error {
	now := s.now()
	d, op, err := prepareDocument(doc, now)
	if err != nil {
		return err
	}
	var collected int
	err = s.fenced(op, doc.JobID, func() (held bool, err error) {
		held, collected, err = s.d.RecordDocument(ctx, now, owner, d, checkpoint)
		return held, err
	})
	if err != nil {
		return err
	}
	if collected != doc.Seq-1 {
		return notNext(op, doc, collected)
	}
	recorded(doc, d)
	return nil
}

// RecordDocuments stores documents of one job with the checkpoint after
// each, in Seq order under the fence, and returns how many it recorded:
// all or none on stores with transactions, the first n on others. It sets
// the IDs (and zero CollectedAt) of the documents it recorded.
func (s *Store) RecordDocuments(ctx context.Context, owner string, recs []intake.DocumentRecord) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	now := s.now()
	prepared := make([]intake.DocumentRecord, len(recs))
	first := recs[0].Document
	for i, rec := range recs {
		d, op, err := prepareDocument(rec.Document, now)
		if err != nil {
			return 0, err
		}
		if d.JobID != first.JobID || d.Seq != first.Seq+i {
			return 0, intake.Errorf(intake.EINVALID, "%s %s: documents %d to %d of job %s are not consecutive",
				op, d.JobID, first.Seq, first.Seq+len(recs)-1, first.JobID)
		}
		prepared[i] = intake.DocumentRecord{Document: d, Checkpoint: rec.Checkpoint}
	}
	op := fmt.Sprintf("record documents %d to %d of job", first.Seq, first.Seq+len(recs)-1)
	var n, collected int
	err := s.fenced(op, first.JobID, func() (held bool, err error) {
		n, held, collected, err = s.d.RecordDocuments(ctx, now, owner, prepared)
		return held, err
	})
	for i := range n {
		recorded(recs[i].Document, prepared[i].Document)
	}
	switch {
	case err != nil:
		return n, err
	case n < len(recs):
		return n, notNext(op, recs[n].Document, collected)
	}
	return n, nil
}

// prepareDocument checks a document to record and returns the copy to
// store, with its ID set and CollectedAt at the store's precision (now
// when zero), and the operation's name for errors.
func prepareDocument(doc *intake.Document, now time.Time) (*intake.Document, string, error) {
	if doc == nil || doc.JobID == "" {
		return nil, "", intake.Errorf(intake.EINVALID, "record document: a document with a job ID is required")
	}
	op := fmt.Sprintf("record document %d of job", doc.Seq)
	if err := intake.ValidateBlobKey(doc.BlobKey); err != nil {
		return nil, "", fmt.Errorf("%s %s: %w", op, doc.JobID, err)
	}
	switch doc.Change {
	case "", intake.ChangeNew, intake.ChangeChanged, intake.ChangeUnchanged:
	default:
		return nil, "", intake.Errorf(intake.EINVALID, "%s %s: unknown change %q", op, doc.JobID, doc.Change)
	}
	if doc.ID != "" && !intake.ValidID(doc.ID) {
		return nil, "", intake.Errorf(intake.EINVALID, "%s %s: document ID %q is not a UUID", op, doc.JobID, doc.ID)
	}
	d := *doc
	if d.ID == "" {
		d.ID = intake.NewID()
	}
	d.CollectedAt = d.CollectedAt.UTC().Truncate(time.Millisecond)
	if d.CollectedAt.IsZero() {
		d.CollectedAt = now
	}
	return &d, op, nil
}

// notNext is the error of a document that was not recorded because its
// Seq is not Collected+1.
func notNext(op string, doc *intake.Document, collected int) error {
	return fmt.Errorf("%s %s: %w", op, doc.JobID, intake.Errorf(intake.ECONFLICT,
		"document seq %d is not next: the job has %d documents", doc.Seq, collected))
}

// recorded sets on the caller's doc what the store set on its copy d.
func recorded(doc, d *intake.Document) {
	doc.ID = d.ID
	if doc.CollectedAt.IsZero() {
		doc.CollectedAt = d.CollectedAt
	}
}

// FinishRun ends a successful run: completed when done, pending otherwise.
func (s *Store) FinishRun(ctx context.Context, jobID, owner string, done bool) error {
	return s.fenced("finish run of job", jobID, func() (bool, error) {
		return s.d.FinishRun(ctx, s.now(), jobID, owner, done)
	})
}

// Reschedule ends a run that should be retried at a later time.
func (s *Store) Reschedule(ctx context.Context, jobID, owner string, at time.Time, lastErr string, countAttempt bool) error {
	at = at.UTC().Truncate(time.Millisecond)
	return s.fenced("reschedule job", jobID, func() (bool, error) {
		return s.d.Reschedule(ctx, s.now(), jobID, owner, at, lastErr, countAttempt)
	})
}

// Fail ends a run for good.
func (s *Store) Fail(ctx context.Context, jobID, owner, lastErr string) error {
	return s.fenced("fail job", jobID, func() (bool, error) {
		return s.d.Fail(ctx, s.now(), jobID, owner, lastErr)
	})
}

// leaseExpired is the LastError of a job whose lease lapsed, and the error
// of its run.
const leaseExpired = "lease expired: the worker stopped renewing it (crashed, killed or stalled)"

// Maintain promotes due scheduled jobs and expires lapsed leases. The IDs
// it returns are sorted.
func (s *Store) Maintain(ctx context.Context, maxAttempts int) (*intake.MaintainResult, error) {
	if maxAttempts < 1 {
		return nil, intake.Errorf(intake.EINVALID, "maintain: maxAttempts must be at least 1, not %d", maxAttempts)
	}
	r, err := s.d.Maintain(ctx, s.now(), maxAttempts, leaseExpired)
	if err != nil {
		return nil, s.wrap(err, "maintain jobs")
	}
	for _, ids := range [][]string{r.Promoted, r.Expired, r.ExpiredFailed} {
		slices.Sort(ids)
	}
	if n := len(r.Promoted) + len(r.Expired) + len(r.ExpiredFailed); n > 0 {
		s.logger.Debug("maintained jobs", "promoted", len(r.Promoted), "expired", len(r.Expired),
			"expired_failed", len(r.ExpiredFailed))
	}
	return r, nil
}
