package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/intake-dev/intake"
)

// jobColumns lists the columns scanJob reads, in order.
const jobColumns = `id, tenant, source_type, config, status, planned, total, collected, runs, attempts,
	available_at, lease_owner, lease_expires_at, checkpoint, last_error, idempotency_key, request_hash,
	created_at, updated_at, started_at, completed_at`

// scanJob reads one row of jobColumns.
func scanJob(row interface{ Scan(...any) error }) (*intake.Job, error) {
	var (
		j                                    intake.Job
		config                               string
		availableAt, createdAt, updatedAt    int64
		leaseOwner                           sql.NullString
		leaseExpires, startedAt, completedAt sql.NullInt64
	)
	err := row.Scan(&j.ID, &j.Tenant, &j.SourceType, &config, &j.Status, &j.Planned, &j.Total, &j.Collected,
		&j.Runs, &j.Attempts, &availableAt, &leaseOwner, &leaseExpires, &j.Checkpoint, &j.LastError,
		&j.IdempotencyKey, &j.RequestHash, &createdAt, &updatedAt, &startedAt, &completedAt)
	if err != nil {
		return nil, err
	}
	j.Config = json.RawMessage(config)
	j.AvailableAt = fromMS(availableAt)
	j.LeaseOwner = leaseOwner.String
	j.LeaseExpiresAt = fromNullMS(leaseExpires)
	j.CreatedAt, j.UpdatedAt = fromMS(createdAt), fromMS(updatedAt)
	j.StartedAt, j.CompletedAt = fromNullMS(startedAt), fromNullMS(completedAt)
	return &j, nil
}

// CreateJobs inserts jobs in one transaction: all of them or none. A job
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
	out := make([]*intake.Job, 0, len(jobs))
	if len(jobs) == 0 {
		return out, nil
	}
	now := s.now()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, in := range jobs {
			j := &intake.Job{
				ID:             intake.NewID(),
				Tenant:         in.Tenant,
				SourceType:     in.SourceType,
				Config:         in.Config,
				Status:         intake.StatusPending,
				Total:          intake.TotalUnknown,
				AvailableAt:    now,
				IdempotencyKey: in.IdempotencyKey,
				RequestHash:    in.RequestHash,
				CreatedAt:      now,
				UpdatedAt:      now,
			}
			if j.Tenant == "" {
				j.Tenant = intake.DefaultTenant
			}
			if len(j.Config) == 0 {
				j.Config = json.RawMessage(`{}`)
			}
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
			_, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, tenant, source_type, config, status, total,
					available_at, idempotency_key, request_hash, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				j.ID, j.Tenant, j.SourceType, string(j.Config), j.Status, j.Total,
				ms(now), j.IdempotencyKey, j.RequestHash, ms(now), ms(now))
			if err != nil {
				return err
			}
			out = append(out, j)
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap(err, "create jobs")
	}
	return out, nil
}

// GetJob returns a job by ID, or an ENOTFOUND error.
func (s *Store) GetJob(ctx context.Context, id string) (*intake.Job, error) {
	j, err := scanJob(s.reader.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, intake.Errorf(intake.ENOTFOUND, "job %s not found", id)
	}
	if err != nil {
		return nil, s.wrap(err, "get job %s", id)
	}
	return j, nil
}

// The ListJobs queries: newest first, after a cursor ID. Without a cursor
// they start after afterAll, which sorts after every UUID.
const (
	listJobs         = `SELECT ` + jobColumns + ` FROM jobs WHERE id < ?1 ORDER BY id DESC LIMIT ?2`
	listJobsByStatus = `SELECT ` + jobColumns + ` FROM jobs WHERE status = ?3 AND id < ?1 ORDER BY id DESC LIMIT ?2`
	afterAll         = "~"
)

// ListJobs returns jobs newest first (by ID, which sorts by creation time).
// The cursor is the base64url-encoded ID of the last job of a page.
func (s *Store) ListJobs(ctx context.Context, f intake.JobFilter) (*intake.JobPage, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, intake.Errorf(intake.EINVALID, "list jobs: unknown status %q", f.Status)
	}
	limit := pageSize(f.Limit)
	after := afterAll
	if f.Cursor != "" {
		var err error
		if after, err = decodeCursor(f.Cursor); err != nil {
			return nil, err
		}
	}
	// One more row than the page tells whether another page exists.
	q, args := listJobs, []any{after, limit + 1}
	if f.Status != "" {
		q, args = listJobsByStatus, append(args, f.Status)
	}
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.wrap(err, "list jobs")
	}
	defer rows.Close()
	page := &intake.JobPage{Jobs: make([]*intake.Job, 0, limit)}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, s.wrap(err, "list jobs")
		}
		page.Jobs = append(page.Jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "list jobs")
	}
	if len(page.Jobs) > limit {
		page.Jobs = page.Jobs[:limit]
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(page.Jobs[limit-1].ID))
	}
	return page, nil
}

// pageSize applies the MaxPageSize cap; a limit of zero or less means the cap.
func pageSize(limit int) int {
	if limit <= 0 || limit > intake.MaxPageSize {
		return intake.MaxPageSize
	}
	return limit
}

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !intake.ValidID(string(b)) {
		return "", intake.Errorf(intake.EINVALID, "list jobs: invalid cursor")
	}
	return string(b), nil
}

// Cancel cancels a job that is not terminal, releasing any lease.
func (s *Store) Cancel(ctx context.Context, id string) (*intake.Job, error) {
	now := ms(s.now())
	var j *intake.Job
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := closeRunsOf(ctx, tx, intake.RunCancelled, "cancelled", now, `id = ?4`, id); err != nil {
			return err
		}
		var err error
		j, err = scanJob(tx.QueryRowContext(ctx, `UPDATE jobs
			SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, completed_at = ?1, updated_at = ?1
			WHERE id = ?2 AND status IN ('pending', 'scheduled', 'processing')
			RETURNING `+jobColumns, now, id))
		return err
	})
	if err == nil {
		return j, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, s.wrap(err, "cancel job %s", id)
	}
	cur, err := s.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	return nil, intake.Errorf(intake.ECONFLICT, "job %s is %s and cannot be cancelled", id, cur.Status)
}

// Stats counts jobs by status and reports the oldest pending job and the
// recorded documents.
func (s *Store) Stats(ctx context.Context) (*intake.Stats, error) {
	st := &intake.Stats{Jobs: make(map[intake.Status]int64, len(intake.Statuses))}
	for _, status := range intake.Statuses {
		st.Jobs[status] = 0
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT status, count(*) FROM jobs GROUP BY status`)
	if err != nil {
		return nil, s.wrap(err, "job stats")
	}
	defer rows.Close()
	for rows.Next() {
		var (
			status intake.Status
			n      int64
		)
		if err := rows.Scan(&status, &n); err != nil {
			return nil, s.wrap(err, "job stats")
		}
		st.Jobs[status] = n
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap(err, "job stats")
	}
	var oldest sql.NullInt64
	err = s.reader.QueryRowContext(ctx, `SELECT
			(SELECT min(available_at) FROM jobs WHERE status = 'pending'),
			(SELECT count(*) FROM documents),
			(SELECT coalesce(sum(size_bytes), 0) FROM documents)`).
		Scan(&oldest, &st.Documents, &st.Bytes)
	if err != nil {
		return nil, s.wrap(err, "job stats")
	}
	st.OldestPending = fromNullMS(oldest)
	return st, nil
}

// leaseUntil returns the lease expiry for a TTL from now, in milliseconds.
func leaseUntil(now time.Time, ttl time.Duration) int64 {
	return ms(now.Add(ttl))
}
