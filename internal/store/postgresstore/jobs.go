package postgresstore

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
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
	created_at, updated_at, started_at, completed_at, schedule_id, previous_job_id, notify, notify_due_at,
	notify_attempts`

// jColumns is columns qualified with the alias j.
var jColumns = "j." + strings.Join(strings.Split(strings.Join(strings.Fields(columns), " "), ", "), ", j.")

// scanJob reads one row of columns (or jColumns).
func scanJob(row pgx.Row) (*intake.Job, error) {
	var (
		j                                    intake.Job
		config                               []byte
		leaseOwner, scheduleID, previousID   pgtype.Text
		notify                               []byte
		availableAt, createdAt, updatedAt    time.Time
		leaseExpires, startedAt, completedAt pgtype.Timestamptz
		notifyDueAt                          pgtype.Timestamptz
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
	j.NotifyDueAt = fromNull(notifyDueAt)
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

// identity is a job's idempotency identity: its tenant and key.
type identity struct{ tenant, key string }

// CreateJobs inserts jobs in one statement, or, when some carry an
// idempotency key, in one transaction: all of them or none. A job whose
// (Tenant, IdempotencyKey) exists is returned instead of inserted.
func (s *Driver) CreateJobs(ctx context.Context, _ time.Time, jobs []*intake.Job) ([]*intake.Job, error) {
	var (
		text  [10][]string // id, tenant, source_type, config, idempotency_key, request_hash, status, schedule_id, previous_job_id, notify
		times [3][]time.Time
		total []int
		keyed = map[identity]int{} // a key's index in jobs
	)
	for i, j := range jobs {
		if j.IdempotencyKey != "" {
			keyed[identity{j.Tenant, j.IdempotencyKey}] = i
		}
		notify, err := encodeNotify(j.Notify)
		if err != nil {
			return nil, err
		}
		for c, v := range []string{j.ID, j.Tenant, j.SourceType, string(j.Config), j.IdempotencyKey, j.RequestHash,
			string(j.Status), j.ScheduleID, j.PreviousJobID, notify} {
			text[c] = append(text[c], v)
		}
		for c, v := range []time.Time{j.AvailableAt, j.CreatedAt, j.UpdatedAt} {
			times[c] = append(times[c], v)
		}
		total = append(total, j.Total)
	}
	out := slices.Clone(jobs)
	err := s.inTx(ctx, len(keyed) > 0, func(q querier) error {
		rows, err := q.Query(ctx, `INSERT INTO jobs (id, tenant, source_type, config, idempotency_key, request_hash,
				status, total, available_at, created_at, updated_at, schedule_id, previous_job_id, notify)
			SELECT id, tenant, source_type, config, idempotency_key, request_hash, status, total, available_at,
				created_at, updated_at, nullif(schedule_id, '')::uuid, nullif(previous_job_id, '')::uuid,
				nullif(notify, '')::jsonb
			FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::text[], $7::text[],
				$8::integer[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[], $12::text[], $13::text[],
				$14::text[])
				AS u (id, tenant, source_type, config, idempotency_key, request_hash, status, total, available_at,
					created_at, updated_at, schedule_id, previous_job_id, notify)
			ON CONFLICT (tenant, idempotency_key) WHERE idempotency_key <> '' DO NOTHING
			RETURNING id`,
			text[0], text[1], text[2], text[3], text[4], text[5], text[6], total, times[0], times[1], times[2],
			text[7], text[8], text[9])
		if err != nil {
			return err
		}
		inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if len(inserted) == len(jobs) {
			return nil
		}
		// Some keys existed: return those jobs in place of the new ones.
		done := make(map[string]bool, len(inserted))
		for _, id := range inserted {
			done[id] = true
		}
		var tenants, keys []string
		for id, i := range keyed {
			if !done[jobs[i].ID] {
				tenants, keys = append(tenants, id.tenant), append(keys, id.key)
			}
		}
		existing, err := queryJobs(ctx, q, `SELECT `+columns+` FROM jobs
			WHERE (tenant, idempotency_key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, tenants, keys)
		if err != nil {
			return err
		}
		if len(existing) != len(tenants) {
			// A job that was not inserted for a conflict that has since
			// disappeared cannot happen: jobs are never deleted.
			return intake.Errorf(intake.EINTERNAL, "%d idempotency keys conflicted but %d jobs hold them",
				len(tenants), len(existing))
		}
		for _, e := range existing {
			out[keyed[identity{e.Tenant, e.IdempotencyKey}]] = e
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// querier runs queries: the pool, or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// queryJobs runs a query that selects columns and reads every row.
func queryJobs(ctx context.Context, q querier, query string, args ...any) ([]*intake.Job, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*intake.Job, error) { return scanJob(row) })
}

// inTx runs fn in a transaction when tx is true, and otherwise on the pool
// (each statement is then a transaction of its own).
func (s *Driver) inTx(ctx context.Context, tx bool, fn func(q querier) error) error {
	if !tx {
		return fn(s.pool)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(tx) })
}

// GetJob returns a job by ID, nil when there is none.
func (s *Driver) GetJob(ctx context.Context, id string) (*intake.Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM jobs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return j, err
}

// The ListJobs queries: newest first, before an ID. Without one they start
// before afterAll, which sorts after every UUIDv7.
const (
	listJobs         = `SELECT ` + columns + ` FROM jobs WHERE id < $1 ORDER BY id DESC LIMIT $2`
	listJobsByStatus = `SELECT ` + columns + ` FROM jobs WHERE status = $3 AND id < $1 ORDER BY id DESC LIMIT $2`
	afterAll         = "ffffffff-ffff-ffff-ffff-ffffffffffff"
)

// ListJobs returns up to limit jobs with an ID below before, newest first.
func (s *Driver) ListJobs(ctx context.Context, status intake.Status, before string, limit int) ([]*intake.Job, error) {
	if before == "" {
		before = afterAll
	}
	q, args := listJobs, []any{before, limit}
	if status != "" {
		q, args = listJobsByStatus, append(args, string(status))
	}
	return queryJobs(ctx, s.pool, q, args...)
}

// Cancel cancels a job that is not terminal, releasing any lease, in one
// transaction: it locks the job and closes the open run of a processing
// one, then cancels it.
func (s *Driver) Cancel(ctx context.Context, now time.Time, id string) (*intake.Job, error) {
	var j *intake.Job
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
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return j, err
}

// statsQuery reads the jobs by status and the documents from the counts
// that the triggers of migration 00004 keep, summed over their shards,
// and finds the oldest pending job through jobs_pending: a few dozen rows
// and one index search however many jobs there are.
const statsQuery = `WITH c AS (SELECT key AS status, sum(n)::bigint AS n FROM counts WHERE name = 'jobs' GROUP BY key)
		SELECT
			(SELECT coalesce(array_agg(status ORDER BY status), '{}') FROM c),
			(SELECT coalesce(array_agg(n ORDER BY status), '{}') FROM c),
			(SELECT min(available_at) FROM jobs WHERE status = 'pending'),
			(SELECT coalesce(sum(n), 0)::bigint FROM counts WHERE name = 'documents'),
			(SELECT coalesce(sum(total), 0)::bigint FROM counts WHERE name = 'documents')`

// Stats counts jobs by status and reports the oldest pending job and the
// recorded documents, in one round trip of one snapshot.
func (s *Driver) Stats(ctx context.Context) (*intake.Stats, error) {
	var (
		st       = &intake.Stats{}
		statuses []string
		counts   []int64
		oldest   pgtype.Timestamptz
	)
	err := s.pool.QueryRow(ctx, statsQuery).
		Scan(&statuses, &counts, &oldest, &st.Documents, &st.Bytes)
	if err != nil {
		return nil, err
	}
	st.Jobs = make(map[intake.Status]int64, len(statuses))
	for i, status := range statuses {
		st.Jobs[intake.Status(status)] = counts[i]
	}
	st.OldestPending = fromNull(oldest)
	return st, nil
}
