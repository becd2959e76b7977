package postgresstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/intake-dev/intake"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// columns lists the columns scanJob reads, in order. Statements that join
// another relation to jobs alias jobs as j and return jColumns.
const columns = `id, tenant, source_type, config, status, planned, total, collected, runs, attempts,
	available_at, lease_owner, lease_expires_at, checkpoint, last_error, idempotency_key, request_hash,
	created_at, updated_at, started_at, completed_at`

// jColumns is columns qualified with the alias j.
var jColumns = "j." + strings.Join(strings.Split(strings.Join(strings.Fields(columns), " "), ", "), ", j.")

// scanJob reads one row of columns (or jColumns).
func scanJob(row pgx.Row) (*intake.Job, error) {
	var (
		j                                    intake.Job
		config                               []byte
		leaseOwner                           pgtype.Text
		availableAt, createdAt, updatedAt    time.Time
		leaseExpires, startedAt, completedAt pgtype.Timestamptz
	)
	err := row.Scan(&j.ID, &j.Tenant, &j.SourceType, &config, &j.Status, &j.Planned, &j.Total, &j.Collected,
		&j.Runs, &j.Attempts, &availableAt, &leaseOwner, &leaseExpires, &j.Checkpoint, &j.LastError,
		&j.IdempotencyKey, &j.RequestHash, &createdAt, &updatedAt, &startedAt, &completedAt)
	if err != nil {
		return nil, err
	}
	j.Config = json.RawMessage(config)
	j.AvailableAt = availableAt.UTC()
	j.LeaseOwner = leaseOwner.String
	j.LeaseExpiresAt = fromNull(leaseExpires)
	j.CreatedAt, j.UpdatedAt = createdAt.UTC(), updatedAt.UTC()
	j.StartedAt, j.CompletedAt = fromNull(startedAt), fromNull(completedAt)
	return &j, nil
}

// fromNull returns the time of a nullable timestamptz in UTC, zero for NULL.
func fromNull(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// collectJobs reads every row of rows with scanJob.
func collectJobs(rows pgx.Rows) ([]*intake.Job, error) {
	defer rows.Close()
	var out []*intake.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// identity is a job's idempotency identity: its tenant and key.
type identity struct{ tenant, key string }

// CreateJobs inserts jobs in one statement, or, when some carry an
// idempotency key, in one transaction: all of them or none. A job whose
// (Tenant, IdempotencyKey) exists, in the table or earlier in the batch, is
// returned instead of inserted.
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
	out := make([]*intake.Job, len(jobs))
	if len(jobs) == 0 {
		return out, nil
	}
	now := s.now()
	var (
		fresh  []*intake.Job                // the jobs to insert
		first  = map[identity]int{}         // the index in out of a key's first job
		dupOf  = map[int]int{}              // out index → index of the same key's first job
		keyed  []identity                   // the keys of fresh, for finding existing jobs
		cols   [6][]string                  // id, tenant, source_type, config, idempotency_key, request_hash
		lookup = map[identity]*intake.Job{} // key → the job returned for it
	)
	for i, in := range jobs {
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
			id := identity{j.Tenant, j.IdempotencyKey}
			if f, ok := first[id]; ok {
				dupOf[i] = f
				continue
			}
			first[id] = i
			keyed = append(keyed, id)
			lookup[id] = j
		}
		out[i] = j
		fresh = append(fresh, j)
		for c, v := range []string{j.ID, j.Tenant, j.SourceType, string(j.Config), j.IdempotencyKey, j.RequestHash} {
			cols[c] = append(cols[c], v)
		}
	}

	err := s.inTx(ctx, len(keyed) > 0, func(q querier) error {
		rows, err := q.Query(ctx, `INSERT INTO jobs (id, tenant, source_type, config, idempotency_key, request_hash,
				status, total, available_at, created_at, updated_at)
			SELECT id, tenant, source_type, config, idempotency_key, request_hash, 'pending', -1, $7, $7, $7
			FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::text[])
				AS t (id, tenant, source_type, config, idempotency_key, request_hash)
			ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key <> '' DO NOTHING
			RETURNING id`,
			cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], now)
		if err != nil {
			return err
		}
		inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if len(inserted) == len(fresh) {
			return nil
		}
		// Some keys existed: return those jobs in place of the new ones.
		done := make(map[string]bool, len(inserted))
		for _, id := range inserted {
			done[id] = true
		}
		var tenants, keys []string
		for _, id := range keyed {
			if !done[lookup[id].ID] {
				tenants, keys = append(tenants, id.tenant), append(keys, id.key)
			}
		}
		existing, err := queryJobs(ctx, q, `SELECT `+columns+` FROM jobs
			WHERE (tenant, idempotency_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, tenants, keys)
		if err != nil {
			return err
		}
		for _, e := range existing {
			lookup[identity{e.Tenant, e.IdempotencyKey}] = e
		}
		if len(existing) != len(tenants) {
			// A job that was not inserted for a conflict that has since
			// disappeared cannot happen: jobs are never deleted.
			return intake.Errorf(intake.EINTERNAL, "%d idempotency keys conflicted but %d jobs hold them",
				len(tenants), len(existing))
		}
		return nil
	})
	if err != nil {
		return nil, s.wrap(err, "create jobs")
	}
	for i, j := range out {
		if j != nil && j.IdempotencyKey != "" {
			out[i] = lookup[identity{j.Tenant, j.IdempotencyKey}]
		}
	}
	for i, f := range dupOf {
		out[i] = out[f]
	}
	return out, nil
}

// querier runs queries: the pool, or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// queryJobs runs a query that selects jobColumns and reads every row.
func queryJobs(ctx context.Context, q querier, query string, args ...any) ([]*intake.Job, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return collectJobs(rows)
}

// inTx runs fn in a transaction when tx is true, and otherwise on the pool
// (each statement is then a transaction of its own).
func (s *Store) inTx(ctx context.Context, tx bool, fn func(q querier) error) error {
	if !tx {
		return fn(s.pool)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(tx) })
}

// GetJob returns a job by ID, or an ENOTFOUND error.
func (s *Store) GetJob(ctx context.Context, id string) (*intake.Job, error) {
	if !intake.ValidID(id) {
		return nil, intake.Errorf(intake.ENOTFOUND, "job %s not found", id)
	}
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM jobs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, intake.Errorf(intake.ENOTFOUND, "job %s not found", id)
	}
	if err != nil {
		return nil, s.wrap(err, "get job %s", id)
	}
	return j, nil
}

// The ListJobs queries: newest first, before a cursor ID. Without a cursor
// they start before afterAll, which sorts after every UUIDv7.
const (
	listJobs         = `SELECT ` + columns + ` FROM jobs WHERE id < $1 ORDER BY id DESC LIMIT $2`
	listJobsByStatus = `SELECT ` + columns + ` FROM jobs WHERE status = $3 AND id < $1 ORDER BY id DESC LIMIT $2`
	afterAll         = "ffffffff-ffff-ffff-ffff-ffffffffffff"
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
		q, args = listJobsByStatus, append(args, string(f.Status))
	}
	jobs, err := queryJobs(ctx, s.pool, q, args...)
	if err != nil {
		return nil, s.wrap(err, "list jobs")
	}
	page := &intake.JobPage{Jobs: jobs}
	if page.Jobs == nil {
		page.Jobs = []*intake.Job{}
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
	if !intake.ValidID(id) {
		return nil, intake.Errorf(intake.ENOTFOUND, "job %s not found", id)
	}
	// One transaction: lock the job and close the open run of a processing
	// one, then cancel it.
	var j *intake.Job
	now := s.now()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `WITH cur AS (
				SELECT id, lease_owner, collected FROM jobs WHERE id = $2 AND status = 'processing' FOR UPDATE
			)
			UPDATE job_runs AS r SET ended_at = $1, error = 'cancelled', outcome = 'cancelled',
				collected = cur.collected - r.collected_before
			FROM cur WHERE r.job_id = cur.id AND r.lease_owner = cur.lease_owner AND r.outcome = 'running'`, now, id)
		if err != nil {
			return err
		}
		j, err = scanJob(tx.QueryRow(ctx, `UPDATE jobs
			SET status = 'cancelled', lease_owner = NULL, lease_expires_at = NULL, completed_at = $1, updated_at = $1
			WHERE id = $2 AND status IN ('pending', 'scheduled', 'processing')
			RETURNING `+columns, now, id))
		return err
	})
	if err == nil {
		return j, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, s.wrap(err, "cancel job %s", id)
	}
	cur, err := s.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	return nil, intake.Errorf(intake.ECONFLICT, "job %s is %s and cannot be cancelled", id, cur.Status)
}

// Stats counts jobs by status and reports the oldest pending job and the
// recorded documents, in one round trip.
func (s *Store) Stats(ctx context.Context) (*intake.Stats, error) {
	st := &intake.Stats{Jobs: make(map[intake.Status]int64, len(intake.Statuses))}
	for _, status := range intake.Statuses {
		st.Jobs[status] = 0
	}
	var (
		statuses []string
		counts   []int64
		oldest   pgtype.Timestamptz
	)
	err := s.pool.QueryRow(ctx, `WITH c AS (SELECT status, count(*) AS n FROM jobs GROUP BY status)
		SELECT
			(SELECT coalesce(array_agg(status ORDER BY status), '{}') FROM c),
			(SELECT coalesce(array_agg(n ORDER BY status), '{}') FROM c),
			(SELECT min(available_at) FROM jobs WHERE status = 'pending'),
			(SELECT count(*) FROM documents),
			(SELECT coalesce(sum(size_bytes), 0)::bigint FROM documents)`).
		Scan(&statuses, &counts, &oldest, &st.Documents, &st.Bytes)
	if err != nil {
		return nil, s.wrap(err, "job stats")
	}
	for i, status := range statuses {
		st.Jobs[intake.Status(status)] = counts[i]
	}
	st.OldestPending = fromNull(oldest)
	return st, nil
}
