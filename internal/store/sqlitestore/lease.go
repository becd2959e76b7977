package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/intake-dev/intake"
)

// fence is the condition every worker mutation adds: the job is processing
// under the caller's lease. Its parameters are the job ID and the owner.
const fence = `id = ? AND status = 'processing' AND lease_owner = ?`

// Claim moves one pending job to processing under a new lease with an
// UPDATE … RETURNING statement, which SQLite runs under its write lock, and
// opens the run's record in the same transaction.
func (s *Store) Claim(ctx context.Context, p intake.ClaimParams) (*intake.Job, error) {
	if p.Owner == "" || p.LeaseTTL <= 0 {
		return nil, intake.Errorf(intake.EINVALID, "claim job: owner and a positive lease TTL are required")
	}
	now := s.now()
	target := `(SELECT id FROM jobs WHERE status = 'pending' ORDER BY available_at, id LIMIT 1)`
	args := []any{p.Owner, leaseUntil(now, p.LeaseTTL), ms(now)}
	if p.JobID != "" {
		target = `?4 AND status = 'pending'`
		args = append(args, p.JobID)
	}
	var j *intake.Job
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		j, err = scanJob(tx.QueryRowContext(ctx, `UPDATE jobs
			SET status = 'processing', lease_owner = ?1, lease_expires_at = ?2, runs = runs + 1,
				started_at = coalesce(started_at, ?3), updated_at = ?3
			WHERE id = `+target+`
			RETURNING `+jobColumns, args...))
		if err != nil {
			return err
		}
		return openRun(ctx, tx, j, p, ms(now))
	})
	if errors.Is(err, sql.ErrNoRows) {
		if p.JobID != "" {
			return nil, fmt.Errorf("claim job %s: %w", p.JobID, intake.ErrNoJob)
		}
		return nil, intake.ErrNoJob
	}
	if err != nil {
		return nil, s.wrap(err, "claim job")
	}
	return j, nil
}

// fenced runs a worker mutation whose WHERE clause ends with the fence and
// returns ErrLeaseLost when it changed no row. args must end with the job ID
// and the owner.
func (s *Store) fenced(ctx context.Context, op, jobID, query string, args ...any) error {
	res, err := s.writer.ExecContext(ctx, query, args...)
	if err != nil {
		return s.wrap(err, "%s %s", op, jobID)
	}
	return leaseHeld(res, op, jobID)
}

func leaseHeld(res sql.Result, op, jobID string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return intake.WrapError(intake.EINTERNAL, err, "%s %s", op, jobID)
	}
	if n == 0 {
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
	return s.fenced(ctx, "heartbeat job", jobID,
		`UPDATE jobs SET lease_expires_at = ?, updated_at = ? WHERE `+fence,
		leaseUntil(now, ttl), ms(now), jobID, owner)
}

// Plan records the source's total and initial checkpoint.
func (s *Store) Plan(ctx context.Context, jobID, owner string, total int, checkpoint []byte) error {
	if total < 0 && total != intake.TotalUnknown {
		return intake.Errorf(intake.EINVALID, "plan job %s: invalid total %d", jobID, total)
	}
	return s.fenced(ctx, "plan job", jobID,
		`UPDATE jobs SET planned = 1, total = ?, checkpoint = ?, updated_at = ? WHERE `+fence,
		total, checkpoint, ms(s.now()), jobID, owner)
}

// RecordDocument stores a document and the checkpoint after it, and
// advances Collected, in one transaction under the fence.
func (s *Store) RecordDocument(ctx context.Context, owner string, doc *intake.Document, checkpoint []byte) error {
	if doc == nil || doc.JobID == "" {
		return intake.Errorf(intake.EINVALID, "record document: a document with a job ID is required")
	}
	if err := intake.ValidateBlobKey(doc.BlobKey); err != nil {
		return fmt.Errorf("record document %d of job %s: %w", doc.Seq, doc.JobID, err)
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
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET collected = ?1, checkpoint = ?2, updated_at = ?3
			WHERE collected = ?1 - 1 AND `+fence, doc.Seq, checkpoint, ms(now), doc.JobID, owner)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			return s.whyNotRecorded(ctx, tx, owner, doc)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO documents (id, job_id, seq, name, document_type,
				content_type, size_bytes, sha256, blob_key, collected_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, doc.JobID, doc.Seq, doc.Name, doc.DocumentType, doc.ContentType, doc.SizeBytes,
			doc.SHA256, doc.BlobKey, ms(collectedAt))
		return err
	})
	if err != nil {
		return s.wrap(err, "record document %d of job %s", doc.Seq, doc.JobID)
	}
	doc.ID = id
	if doc.CollectedAt.IsZero() {
		doc.CollectedAt = collectedAt
	}
	return nil
}

// whyNotRecorded explains a RecordDocument that changed no job: the lease
// is gone, or the sequence number is not the next one.
func (s *Store) whyNotRecorded(ctx context.Context, tx *sql.Tx, owner string, doc *intake.Document) error {
	var collected int
	err := tx.QueryRowContext(ctx, `SELECT collected FROM jobs WHERE `+fence, doc.JobID, owner).Scan(&collected)
	if errors.Is(err, sql.ErrNoRows) {
		return intake.ErrLeaseLost
	}
	if err != nil {
		return err
	}
	return intake.Errorf(intake.ECONFLICT, "document seq %d is not next: the job has %d documents", doc.Seq, collected)
}

// FinishRun ends a successful run: completed when done, pending otherwise.
func (s *Store) FinishRun(ctx context.Context, jobID, owner string, done bool) error {
	now := ms(s.now())
	q := `UPDATE jobs SET status = 'pending', available_at = ?1,`
	if done {
		q = `UPDATE jobs SET status = 'completed', completed_at = ?1,
			total = CASE WHEN total = -1 THEN collected ELSE total END,`
	}
	q += ` attempts = 0, last_error = '', lease_owner = NULL, lease_expires_at = NULL, updated_at = ?1
		WHERE id = ?2 AND status = 'processing' AND lease_owner = ?3`
	var outcome intake.RunOutcome // batch_done or drained, decided by closeRun
	if done {
		outcome = intake.RunCompleted
	}
	return s.release(ctx, "finish run of job", jobID, owner, outcome, "", q, now, jobID, owner)
}

// Reschedule ends a run that should be retried at a later time.
func (s *Store) Reschedule(ctx context.Context, jobID, owner string, at time.Time, lastErr string, countAttempt bool) error {
	inc := 0
	if countAttempt {
		inc = 1
	}
	return s.release(ctx, "reschedule job", jobID, owner, intake.RunRescheduled, lastErr, `UPDATE jobs
		SET status = 'scheduled', available_at = ?, attempts = attempts + ?, last_error = ?,
			lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
		WHERE `+fence, ms(at), inc, lastErr, ms(s.now()), jobID, owner)
}

// Fail ends a run for good.
func (s *Store) Fail(ctx context.Context, jobID, owner, lastErr string) error {
	now := ms(s.now())
	return s.release(ctx, "fail job", jobID, owner, intake.RunFailed, lastErr, `UPDATE jobs
		SET status = 'failed', last_error = ?, completed_at = ?, updated_at = ?,
			lease_owner = NULL, lease_expires_at = NULL
		WHERE `+fence, lastErr, now, now, jobID, owner)
}

// leaseExpired is the LastError of a job whose lease lapsed.
const leaseExpired = "lease expired: the worker stopped renewing it (crashed, killed or stalled)"

// Maintain promotes due scheduled jobs and expires lapsed leases in one
// transaction. Concurrent calls serialise on SQLite's write lock, and each
// UPDATE re-checks its condition, so every job changes once.
func (s *Store) Maintain(ctx context.Context, maxAttempts int) (*intake.MaintainResult, error) {
	if maxAttempts < 1 {
		return nil, intake.Errorf(intake.EINVALID, "maintain: maxAttempts must be at least 1, not %d", maxAttempts)
	}
	now := ms(s.now())
	r := &intake.MaintainResult{}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		promoted, err := queryPairs(ctx, tx, `UPDATE jobs SET status = 'pending', updated_at = ?1
			WHERE status = 'scheduled' AND available_at <= ?1
			RETURNING id, status`, now)
		if err != nil {
			return err
		}
		err = closeRunsOf(ctx, tx, intake.RunLeaseExpired, leaseExpired, now, `lease_expires_at <= ?4`, now)
		if err != nil {
			return err
		}
		expired, err := queryPairs(ctx, tx, `UPDATE jobs SET
				status = CASE WHEN attempts + 1 >= ?2 THEN 'failed' ELSE 'pending' END,
				completed_at = CASE WHEN attempts + 1 >= ?2 THEN ?1 ELSE completed_at END,
				available_at = CASE WHEN attempts + 1 >= ?2 THEN available_at ELSE ?1 END,
				attempts = attempts + 1, last_error = ?3,
				lease_owner = NULL, lease_expires_at = NULL, updated_at = ?1
			WHERE status = 'processing' AND lease_expires_at <= ?1
			RETURNING id, status`, now, maxAttempts, leaseExpired)
		if err != nil {
			return err
		}
		r.Promoted = promoted[intake.StatusPending]
		r.Expired = expired[intake.StatusPending]
		r.ExpiredFailed = expired[intake.StatusFailed]
		return nil
	})
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

// queryPairs runs a statement returning (id, status) rows and groups the IDs
// by status.
func queryPairs(ctx context.Context, tx *sql.Tx, q string, args ...any) (map[intake.Status][]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[intake.Status][]string{}
	for rows.Next() {
		var (
			id     string
			status intake.Status
		)
		if err := rows.Scan(&id, &status); err != nil {
			return nil, err
		}
		out[status] = append(out[status], id)
	}
	return out, rows.Err()
}
