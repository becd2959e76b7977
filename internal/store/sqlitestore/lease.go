package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/intake-dev/intake"
)

// fence is the condition every worker mutation adds: the job is processing
// under the caller's lease. Its parameters are the job ID and the owner.
const fence = `id = ? AND status = 'processing' AND lease_owner = ?`

// Claim moves one pending job to processing under a new lease with an
// UPDATE … RETURNING statement, which SQLite runs under its write lock, and
// opens the run's record in the same transaction.
func (s *Driver) Claim(ctx context.Context, now time.Time, p intake.ClaimParams) (*intake.Job, error) {
	target := `(SELECT id FROM jobs WHERE status = 'pending' ORDER BY available_at, id LIMIT 1)`
	args := []any{p.Owner, ms(now.Add(p.LeaseTTL)), ms(now)}
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
		return nil, nil
	}
	return j, err
}

// ClaimMany claims up to n pending jobs, oldest first, and opens their run
// records in one transaction, so that a batch costs one commit rather than
// one a job. Its UPDATE … RETURNING has no order; the caller expects the
// claim order. It returns intake.ErrNoJob when no job is pending.
func (s *Driver) ClaimMany(ctx context.Context, now time.Time, p intake.ClaimParams, n int) ([]*intake.Job, error) {
	var jobs []*intake.Job
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		jobs, err = queryAll(ctx, tx, scanJob, `UPDATE jobs
			SET status = 'processing', lease_owner = ?1, lease_expires_at = ?2, runs = runs + 1,
				started_at = coalesce(started_at, ?3), updated_at = ?3
			WHERE id IN (SELECT id FROM jobs WHERE status = 'pending' ORDER BY available_at, id LIMIT ?4)
			RETURNING `+jobColumns, p.Owner, ms(now.Add(p.LeaseTTL)), ms(now), n)
		if err != nil {
			return err
		}
		for _, j := range jobs {
			if err := openRun(ctx, tx, j, p, ms(now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return nil, intake.ErrNoJob
	}
	slices.SortFunc(jobs, func(a, b *intake.Job) int {
		if c := a.AvailableAt.Compare(b.AvailableAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return jobs, nil
}

// fenced runs a worker mutation whose WHERE clause ends with the fence
// (args end with the job ID and the owner) and reports whether it changed
// a row.
func (s *Driver) fenced(ctx context.Context, query string, args ...any) (bool, error) {
	res, err := s.writer.ExecContext(ctx, query, args...)
	if err != nil {
		return false, err
	}
	return affected(res)
}

// Heartbeat extends the lease of a processing job by ttl from now.
func (s *Driver) Heartbeat(ctx context.Context, now time.Time, jobID, owner string, ttl time.Duration) (bool, error) {
	return s.fenced(ctx, `UPDATE jobs SET lease_expires_at = ?, updated_at = ? WHERE `+fence,
		ms(now.Add(ttl)), ms(now), jobID, owner)
}

// Plan records the source's total and initial checkpoint.
func (s *Driver) Plan(ctx context.Context, now time.Time, jobID, owner string, total int, checkpoint []byte) (bool, error) {
	return s.fenced(ctx, `UPDATE jobs SET planned = 1, total = ?, checkpoint = ?, updated_at = ? WHERE `+fence,
		total, checkpoint, ms(now), jobID, owner)
}

// RecordDocument stores a document and the checkpoint after it, and
// advances Collected, in one transaction under the fence.
func (s *Driver) RecordDocument(ctx context.Context, now time.Time, owner string, doc *intake.Document, checkpoint []byte) (held bool, collected int, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET collected = ?1, checkpoint = ?2, updated_at = ?3
			WHERE collected = ?1 - 1 AND `+fence, doc.Seq, checkpoint, ms(now), doc.JobID, owner)
		if err != nil {
			return err
		}
		if ok, err := affected(res); err != nil || !ok {
			if err != nil {
				return err
			}
			// Not recorded: the lease is gone, or seq is not the next one.
			err := tx.QueryRowContext(ctx, `SELECT collected FROM jobs WHERE `+fence, doc.JobID, owner).Scan(&collected)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			held = err == nil
			return err
		}
		held, collected = true, doc.Seq-1
		return insertDocuments(ctx, tx, []intake.DocumentRecord{{Document: doc}})
	})
	if err != nil {
		return false, 0, err
	}
	return held, collected, nil
}

// RecordDocuments stores documents and the checkpoint after the last, and
// advances Collected to the last, in one transaction under the fence: all
// of them or none, with one commit.
func (s *Driver) RecordDocuments(ctx context.Context, now time.Time, owner string, recs []intake.DocumentRecord) (recorded int, held bool, collected int, err error) {
	first, last := recs[0].Document, recs[len(recs)-1]
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET collected = ?1, checkpoint = ?2, updated_at = ?3
			WHERE collected = ?4 AND `+fence, last.Document.Seq, last.Checkpoint, ms(now), first.Seq-1, first.JobID, owner)
		if err != nil {
			return err
		}
		if ok, err := affected(res); err != nil || !ok {
			if err != nil {
				return err
			}
			// Not recorded: the lease is gone, or seq is not the next one.
			err := tx.QueryRowContext(ctx, `SELECT collected FROM jobs WHERE `+fence, first.JobID, owner).Scan(&collected)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			held = err == nil
			return err
		}
		if err := insertDocuments(ctx, tx, recs); err != nil {
			return err
		}
		recorded, held = len(recs), true
		return nil
	})
	if err != nil {
		return 0, false, 0, err
	}
	return recorded, held, collected, nil
}

// insertRows is the most documents one INSERT of insertDocuments holds:
// 12 parameters each, well below SQLite's limit of 32,766.
const insertRows = 100

// insertDocuments inserts the documents of recs, insertRows at a time.
func insertDocuments(ctx context.Context, tx *sql.Tx, recs []intake.DocumentRecord) error {
	for chunk := range slices.Chunk(recs, insertRows) {
		args := make([]any, 0, 12*len(chunk))
		for _, rec := range chunk {
			d := rec.Document
			args = append(args, d.ID, d.JobID, d.Seq, d.Name, d.DocumentType, d.ContentType, d.SizeBytes,
				d.SHA256, d.BlobKey, ms(d.CollectedAt), d.Identity, string(d.Change))
		}
		//nolint:gosec // the concatenation repeats a constant row of placeholders; values are parameters.
		_, err := tx.ExecContext(ctx, `INSERT INTO documents (id, job_id, seq, name, document_type,
				content_type, size_bytes, sha256, blob_key, collected_at, identity, change)
			VALUES `+strings.TrimSuffix(strings.Repeat(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?), `, len(chunk)), ", "), args...)
		if err != nil {
			return err
		}
	}
	return nil
}

// notifyDue is the assignment that makes the notification of a job with
// Notify due at ?1, in the update that ends the job.
const notifyDue = `notify_due_at = CASE WHEN notify IS NOT NULL THEN ?1 ELSE notify_due_at END`

// finishRun returns the fenced job update of FinishRun, whose parameters
// are the time, the job ID and the owner, and the outcome its run ends with
// (empty: batch_done or drained, decided by closeRun).
func finishRun(done bool) (string, intake.RunOutcome) {
	q := `UPDATE jobs SET status = 'pending', available_at = ?1,`
	if done {
		q = `UPDATE jobs SET status = 'completed', completed_at = ?1,
			total = CASE WHEN total = -1 THEN collected ELSE total END, ` + notifyDue + `,`
	}
	q += ` attempts = 0, last_error = '', lease_owner = NULL, lease_expires_at = NULL, updated_at = ?1
		WHERE id = ?2 AND status = 'processing' AND lease_owner = ?3`
	if done {
		return q, intake.RunCompleted
	}
	return q, ""
}

// FinishRun ends a successful run: completed when done, pending otherwise.
func (s *Driver) FinishRun(ctx context.Context, now time.Time, jobID, owner string, done bool) (bool, error) {
	q, outcome := finishRun(done)
	return s.release(ctx, now, jobID, owner, outcome, "", q, ms(now), jobID, owner)
}

// planRun is Plan's update, for a run whose plan FinishRuns records.
const planRun = `UPDATE jobs SET planned = 1, total = ?, checkpoint = ?, updated_at = ? WHERE ` + fence

// FinishRuns ends many successful runs, each fenced by its own lease, in
// one transaction: a run's plan, its job's update and its record's close,
// run after run, under one commit.
func (s *Driver) FinishRuns(ctx context.Context, now time.Time, runs []intake.FinishParams) ([]bool, error) {
	held := make([]bool, len(runs))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for i, p := range runs {
			if p.Plan != nil {
				res, err := tx.ExecContext(ctx, planRun, p.Plan.Total, p.Plan.Checkpoint, ms(now), p.JobID, p.Owner)
				if err != nil {
					return err
				}
				if ok, err := affected(res); err != nil || !ok {
					if err != nil {
						return err
					}
					continue // the lease is gone
				}
			}
			q, outcome := finishRun(p.Done)
			ok, err := releaseTx(ctx, tx, now, p.JobID, p.Owner, outcome, "", q, ms(now), p.JobID, p.Owner)
			if err != nil {
				return err
			}
			held[i] = ok
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return held, nil
}

// Reschedule ends a run that should be retried at a later time.
func (s *Driver) Reschedule(ctx context.Context, now time.Time, jobID, owner string, at time.Time, lastErr string, countAttempt bool) (bool, error) {
	inc := 0
	if countAttempt {
		inc = 1
	}
	return s.release(ctx, now, jobID, owner, intake.RunRescheduled, lastErr, `UPDATE jobs
		SET status = 'scheduled', available_at = ?, attempts = attempts + ?, last_error = ?,
			lease_owner = NULL, lease_expires_at = NULL, updated_at = ?
		WHERE `+fence, ms(at), inc, lastErr, ms(now), jobID, owner)
}

// Fail ends a run for good.
func (s *Driver) Fail(ctx context.Context, now time.Time, jobID, owner, lastErr string) (bool, error) {
	return s.release(ctx, now, jobID, owner, intake.RunFailed, lastErr, `UPDATE jobs
		SET status = 'failed', last_error = ?2, completed_at = ?1, updated_at = ?1, `+notifyDue+`,
			lease_owner = NULL, lease_expires_at = NULL
		WHERE id = ?3 AND status = 'processing' AND lease_owner = ?4`, ms(now), lastErr, jobID, owner)
}

// Maintain promotes due scheduled jobs and expires lapsed leases in one
// transaction. Concurrent calls serialise on SQLite's write lock, and each
// UPDATE re-checks its condition, so every job changes once.
func (s *Driver) Maintain(ctx context.Context, now time.Time, maxAttempts int, expiredErr string) (*intake.MaintainResult, error) {
	at := ms(now)
	r := &intake.MaintainResult{}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		promoted, err := queryAll(ctx, tx, scanIDStatus, `UPDATE jobs SET status = 'pending', updated_at = ?1
			WHERE status = 'scheduled' AND available_at <= ?1
			RETURNING id, status`, at)
		if err != nil {
			return err
		}
		err = closeRunsOf(ctx, tx, intake.RunLeaseExpired, expiredErr, at, `lease_expires_at <= ?4`, at)
		if err != nil {
			return err
		}
		expired, err := queryAll(ctx, tx, scanIDStatus, `UPDATE jobs SET
				status = CASE WHEN attempts + 1 >= ?2 THEN 'failed' ELSE 'pending' END,
				completed_at = CASE WHEN attempts + 1 >= ?2 THEN ?1 ELSE completed_at END,
				available_at = CASE WHEN attempts + 1 >= ?2 THEN available_at ELSE ?1 END,
				notify_due_at = CASE WHEN attempts + 1 >= ?2 AND notify IS NOT NULL THEN ?1 ELSE notify_due_at END,
				attempts = attempts + 1, last_error = ?3,
				lease_owner = NULL, lease_expires_at = NULL, updated_at = ?1
			WHERE status = 'processing' AND lease_expires_at <= ?1
			RETURNING id, status`, at, maxAttempts, expiredErr)
		if err != nil {
			return err
		}
		for _, p := range promoted {
			r.Promoted = append(r.Promoted, p.id)
		}
		for _, e := range expired {
			if e.status == intake.StatusFailed {
				r.ExpiredFailed = append(r.ExpiredFailed, e.id)
			} else {
				r.Expired = append(r.Expired, e.id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// idStatus is a row of (id, status).
type idStatus struct {
	id     string
	status intake.Status
}

func scanIDStatus(row scanner) (idStatus, error) {
	var v idStatus
	return v, row.Scan(&v.id, &v.status)
}
