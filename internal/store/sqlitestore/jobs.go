package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/intake-dev/intake"
)

// jobColumns lists the columns scanJob reads, in order.
const jobColumns = `id, tenant, source_type, config, status, planned, total, collected, runs, attempts,
	available_at, lease_owner, lease_expires_at, checkpoint, last_error, idempotency_key, request_hash,
	created_at, updated_at, started_at, completed_at, schedule_id, previous_job_id, notify, notify_due_at,
	notify_attempts`

// scanJob reads one row of jobColumns.
func scanJob(row scanner) (*intake.Job, error) {
	var (
		j                                    intake.Job
		config                               string
		availableAt, createdAt, updatedAt    int64
		leaseOwner, scheduleID, previousID   sql.NullString
		notify                               sql.NullString
		leaseExpires, startedAt, completedAt sql.NullInt64
		notifyDueAt                          sql.NullInt64
	)
	err := row.Scan(&j.ID, &j.Tenant, &j.SourceType, &config, &j.Status, &j.Planned, &j.Total, &j.Collected,
		&j.Runs, &j.Attempts, &availableAt, &leaseOwner, &leaseExpires, &j.Checkpoint, &j.LastError,
		&j.IdempotencyKey, &j.RequestHash, &createdAt, &updatedAt, &startedAt, &completedAt,
		&scheduleID, &previousID, &notify, &notifyDueAt, &j.NotifyAttempts)
	if err != nil {
		return nil, err
	}
	if j.Notify, err = decodeNotify(notify); err != nil {
		return nil, err
	}
	j.ScheduleID, j.PreviousJobID = scheduleID.String, previousID.String
	j.NotifyDueAt = fromNullMS(notifyDueAt)
	j.Config = json.RawMessage(config)
	j.AvailableAt = fromMS(availableAt)
	j.LeaseOwner = leaseOwner.String
	j.LeaseExpiresAt = fromNullMS(leaseExpires)
	j.CreatedAt, j.UpdatedAt = fromMS(createdAt), fromMS(updatedAt)
	j.StartedAt, j.CompletedAt = fromNullMS(startedAt), fromNullMS(completedAt)
	return &j, nil
}

// CreateJobs inserts jobs in one transaction, looking up each
// idempotency key first.
func (s *Driver) CreateJobs(ctx context.Context, _ time.Time, jobs []*intake.Job) ([]*intake.Job, error) {
	out := make([]*intake.Job, 0, len(jobs))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, j := range jobs {
			if j.IdempotencyKey != "" {
				existing, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs
					WHERE tenant = ? AND idempotency_key = ?`, j.Tenant, j.IdempotencyKey))
				if err == nil {
					out = append(out, existing)
					continue
				}
				if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
			}
			notify, err := encodeNotify(j.Notify)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO jobs (id, tenant, source_type, config, status, total,
					available_at, idempotency_key, request_hash, created_at, updated_at,
					schedule_id, previous_job_id, notify)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, nullif(?, ''), nullif(?, ''), ?)`,
				j.ID, j.Tenant, j.SourceType, string(j.Config), j.Status, j.Total,
				ms(j.AvailableAt), j.IdempotencyKey, j.RequestHash, ms(j.CreatedAt), ms(j.UpdatedAt),
				j.ScheduleID, j.PreviousJobID, notify)
			if err != nil {
				return err
			}
			out = append(out, j)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetJob returns a job by ID, nil when there is none.
func (s *Driver) GetJob(ctx context.Context, id string) (*intake.Job, error) {
	j, err := scanJob(s.reader.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return j, err
}

// The ListJobs queries: newest first, before an ID. Without one they start
// before afterAll, which sorts after every UUID.
const (
	listJobs         = `SELECT ` + jobColumns + ` FROM jobs WHERE id < ?1 ORDER BY id DESC LIMIT ?2`
	listJobsByStatus = `SELECT ` + jobColumns + ` FROM jobs WHERE status = ?3 AND id < ?1 ORDER BY id DESC LIMIT ?2`
	afterAll         = "~"
)

// ListJobs returns up to limit jobs with an ID below before, newest first.
func (s *Driver) ListJobs(ctx context.Context, status intake.Status, before string, limit int) ([]*intake.Job, error) {
	if before == "" {
		before = afterAll
	}
	q, args := listJobs, []any{before, limit}
	if status != "" {
		q, args = listJobsByStatus, append(args, status)
	}
	return queryAll(ctx, s.reader, scanJob, q, args...)
}

// Cancel cancels a job that is not terminal, releasing any lease, and
// closes a processing job's run in the same transaction.
func (s *Driver) Cancel(ctx context.Context, now time.Time, id string) (*intake.Job, error) {
	var j *intake.Job
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := closeRunsOf(ctx, tx, intake.RunCancelled, "cancelled", ms(now), `id = ?4`, id); err != nil {
			return err
		}
		var err error
		j, err = scanJob(tx.QueryRowContext(ctx, `UPDATE jobs
			SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, completed_at = ?1, updated_at = ?1
			WHERE id = ?2 AND status IN ('pending', 'scheduled', 'processing')
			RETURNING `+jobColumns, ms(now), id))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return j, err
}

// The Stats queries: jobs by status and the documents from the counts
// that the triggers of migration 00004 keep, and the oldest pending job
// through jobs_claim: a few rows and one index search however many jobs
// there are.
const (
	statsCountsQuery = `SELECT key, n FROM counts WHERE name = 'jobs'`
	statsRestQuery   = `SELECT
			(SELECT min(available_at) FROM jobs WHERE status = 'pending'),
			coalesce((SELECT n FROM counts WHERE name = 'documents'), 0),
			coalesce((SELECT total FROM counts WHERE name = 'documents'), 0)`
)

// Stats counts jobs by status and reports the oldest pending job and the
// recorded documents.
func (s *Driver) Stats(ctx context.Context) (*intake.Stats, error) {
	counts, err := queryAll(ctx, s.reader, scanCount, statsCountsQuery)
	if err != nil {
		return nil, err
	}
	st := &intake.Stats{Jobs: make(map[intake.Status]int64, len(counts))}
	for _, c := range counts {
		st.Jobs[c.status] = c.n
	}
	var oldest sql.NullInt64
	err = s.reader.QueryRowContext(ctx, statsRestQuery).
		Scan(&oldest, &st.Documents, &st.Bytes)
	if err != nil {
		return nil, err
	}
	st.OldestPending = fromNullMS(oldest)
	return st, nil
}

// statusCount is a row of (status, count).
type statusCount struct {
	status intake.Status
	n      int64
}

func scanCount(row scanner) (statusCount, error) {
	var c statusCount
	return c, row.Scan(&c.status, &c.n)
}
