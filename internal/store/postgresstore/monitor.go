package postgresstore

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/intake-dev/intake"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Schedules, change detection and the outbox. Every statement here is
// backed by an index of migration 00003: schedules_due,
// jobs_schedule, jobs_notify_due, documents_identity and deliveries_job.
// Partial indexes on "x IS NOT NULL" serve any comparison on x, which
// implies it, whatever the parameters.

// encodeNotify returns the JSON text of a Notify, "" for none (which the
// statements turn into NULL).
func encodeNotify(n *intake.Notify) (string, error) {
	if n == nil {
		return "", nil
	}
	//nolint:gosec // Secret names the environment variable that holds the secret, not the secret.
	b, err := json.Marshal(n)
	return string(b), err
}

// decodeNotify reads a Notify column; NULL is nil.
func decodeNotify(b []byte) (*intake.Notify, error) {
	if b == nil {
		return nil, nil
	}
	n := &intake.Notify{}
	if err := json.Unmarshal(b, n); err != nil {
		return nil, err
	}
	return n, nil
}

// scheduleColumns lists the columns scanSchedule reads, in order.
const scheduleColumns = `id::text, tenant, name, source_type, config, cron, interval_ns, time_zone, jitter_ns, paused,
	misfire, overlap, notify, next_fire_at, last_fire_at, last_job_id, version, created_at, updated_at`

// scanSchedule reads one row of scheduleColumns.
func scanSchedule(row pgx.Row) (*intake.Schedule, error) {
	var (
		s                  intake.Schedule
		config, notify     []byte
		interval, jitter   int64
		lastFire           pgtype.Timestamptz
		createdAt, updated time.Time
		nextFire           time.Time
		misfire, overlap   string
	)
	err := row.Scan(&s.ID, &s.Tenant, &s.Name, &s.SourceType, &config, &s.Cron, &interval, &s.TimeZone, &jitter,
		&s.Paused, &misfire, &overlap, &notify, &nextFire, &lastFire, &s.LastJobID, &s.Version, &createdAt, &updated)
	if err != nil {
		return nil, err
	}
	if s.Notify, err = decodeNotify(notify); err != nil {
		return nil, err
	}
	s.Config = json.RawMessage(config)
	s.Misfire, s.Overlap = intake.MisfirePolicy(misfire), intake.OverlapPolicy(overlap)
	s.Interval, s.Jitter = intake.Duration(interval), intake.Duration(jitter)
	s.NextFireAt, s.LastFireAt = nextFire.UTC(), fromNull(lastFire)
	s.CreatedAt, s.UpdatedAt = createdAt.UTC(), updated.UTC()
	return &s, nil
}

// queryOne runs a query that returns at most one row of scan's columns;
// nil when it returns none.
func queryOne[T any](ctx context.Context, s *Driver, scan func(pgx.Row) (*T, error), query string, args ...any) (*T, error) {
	v, err := scan(s.pool.QueryRow(ctx, query, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return v, err
}

// queryRows runs a query and reads every row with scan.
func queryRows[T any](ctx context.Context, s *Driver, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
}

// CreateSchedule inserts a new schedule.
func (s *Driver) CreateSchedule(ctx context.Context, sch *intake.Schedule) error {
	notify, err := encodeNotify(sch.Notify)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO schedules (id, tenant, name, source_type, config, cron, interval_ns,
			time_zone, jitter_ns, paused, misfire, overlap, notify, next_fire_at, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5::text::jsonb, $6, $7, $8, $9, $10, $11, $12, nullif($13::text, '')::jsonb, $14,
			$15, $16, $17)`,
		sch.ID, sch.Tenant, sch.Name, sch.SourceType, string(sch.Config), sch.Cron, int64(sch.Interval),
		sch.TimeZone, int64(sch.Jitter), sch.Paused, string(sch.Misfire), string(sch.Overlap), notify,
		sch.NextFireAt, sch.Version, sch.CreatedAt, sch.UpdatedAt)
	return err
}

// GetSchedule returns a schedule by ID, nil when there is none.
func (s *Driver) GetSchedule(ctx context.Context, id string) (*intake.Schedule, error) {
	return queryOne(ctx, s, scanSchedule, `SELECT `+scheduleColumns+` FROM schedules WHERE id = $1`, id)
}

// ListSchedules returns up to limit schedules with an ID below before,
// newest first.
func (s *Driver) ListSchedules(ctx context.Context, before string, limit int) ([]*intake.Schedule, error) {
	if before == "" {
		before = afterAll
	}
	return queryRows(ctx, s, scanSchedule, `SELECT `+scheduleColumns+` FROM schedules
		WHERE id < $1 ORDER BY id DESC LIMIT $2`, before, limit)
}

// UpdateSchedule replaces the definition of the schedule with sch's ID
// and Version.
func (s *Driver) UpdateSchedule(ctx context.Context, now time.Time, sch *intake.Schedule) (*intake.Schedule, error) {
	notify, err := encodeNotify(sch.Notify)
	if err != nil {
		return nil, err
	}
	return queryOne(ctx, s, scanSchedule, `UPDATE schedules SET name = $3, source_type = $4, config = $5::text::jsonb,
			cron = $6, interval_ns = $7, time_zone = $8, jitter_ns = $9, paused = $10, misfire = $11, overlap = $12,
			notify = nullif($13::text, '')::jsonb, next_fire_at = $14, version = version + 1, updated_at = $15
		WHERE id = $1 AND version = $2
		RETURNING `+scheduleColumns,
		sch.ID, sch.Version, sch.Name, sch.SourceType, string(sch.Config), sch.Cron, int64(sch.Interval),
		sch.TimeZone, int64(sch.Jitter), sch.Paused, string(sch.Misfire), string(sch.Overlap), notify,
		sch.NextFireAt, now)
}

// DeleteSchedule deletes a schedule and reports whether there was one.
func (s *Driver) DeleteSchedule(ctx context.Context, id string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM schedules WHERE id = $1`, id)
	return tag.RowsAffected() > 0, err
}

// DueSchedules returns the schedules that are not paused and due by until,
// through the partial index schedules_due.
func (s *Driver) DueSchedules(ctx context.Context, until time.Time, limit int) ([]*intake.Schedule, error) {
	return queryRows(ctx, s, scanSchedule, `SELECT `+scheduleColumns+` FROM schedules
		WHERE NOT paused AND next_fire_at <= $1 ORDER BY next_fire_at, id LIMIT $2`, until, limit)
}

// scheduleJobsQuery counts a schedule's active jobs and finds its latest
// completed one, both through jobs_schedule, and the job of the tick's
// idempotency key through jobs_idempotency; one statement reads all three
// in one snapshot.
const scheduleJobsQuery = `SELECT
		(SELECT count(*) FROM jobs WHERE schedule_id = $1 AND status IN ('pending', 'scheduled', 'processing')),
		(SELECT id::text FROM jobs WHERE schedule_id = $1 AND status = 'completed'
			ORDER BY completed_at DESC, id DESC LIMIT 1),
		(SELECT id::text FROM jobs WHERE tenant = $2 AND idempotency_key = $3 AND idempotency_key <> '')`

// ScheduleJobs counts a schedule's active jobs and finds its latest
// completed one and the job of its tick's key.
func (s *Driver) ScheduleJobs(ctx context.Context, scheduleID, tenant, tickKey string) (*intake.ScheduleJobs, error) {
	var (
		sj         intake.ScheduleJobs
		last, tick pgtype.Text
	)
	if err := s.pool.QueryRow(ctx, scheduleJobsQuery, scheduleID, tenant, tickKey).Scan(&sj.Active, &last, &tick); err != nil {
		return nil, err
	}
	sj.LastCompletedID, sj.TickJobID = last.String, tick.String
	return &sj, nil
}

// AdvanceSchedule moves a schedule from tick from to next when its
// NextFireAt is still from.
func (s *Driver) AdvanceSchedule(ctx context.Context, now time.Time, id string, from, next time.Time, jobID string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE schedules SET next_fire_at = $3, last_fire_at = $2,
			last_job_id = CASE WHEN $4::text <> '' THEN $4::text ELSE last_job_id END,
			version = version + 1, updated_at = $5
		WHERE id = $1 AND next_fire_at = $2`, id, from, next, jobID, now)
	return tag.RowsAffected() > 0, err
}

// scheduleHealthQuery finds every schedule's latest completion, each
// through jobs_schedule.
const scheduleHealthQuery = `SELECT s.id::text, (SELECT max(completed_at) FROM jobs
		WHERE schedule_id = s.id AND status = 'completed')
	FROM schedules s ORDER BY s.id`

// ScheduleHealth returns every schedule's latest completion.
func (s *Driver) ScheduleHealth(ctx context.Context) ([]intake.ScheduleHealth, error) {
	return queryRows(ctx, s, func(row pgx.Row) (intake.ScheduleHealth, error) {
		var (
			h    intake.ScheduleHealth
			last pgtype.Timestamptz
		)
		err := row.Scan(&h.ScheduleID, &last)
		h.LastCompletedAt = fromNull(last)
		return h, err
	}, scheduleHealthQuery)
}

// FindDocument returns a job's document with the identity and the highest
// seq, nil when there is none.
func (s *Driver) FindDocument(ctx context.Context, jobID, identity string) (*intake.Document, error) {
	return queryOne(ctx, s, scanDoc, `SELECT `+docColumns+` FROM documents
		WHERE job_id = $1 AND identity = $2 ORDER BY seq DESC LIMIT 1`, jobID, identity)
}

// removed is the condition on the previous job's documents p ($1 the job,
// $2 the previous job) that the job did not collect.
const removed = `p.job_id = $2 AND p.identity <> '' AND NOT EXISTS (
	SELECT 1 FROM documents d WHERE d.job_id = $1 AND d.identity = p.identity)`

// ChangeCounts counts a job's documents by change and the previous job's
// documents it did not collect.
func (s *Driver) ChangeCounts(ctx context.Context, jobID, previousJobID string) (*intake.ChangeCounts, error) {
	var prev any // NULL when there is no previous job
	if previousJobID != "" {
		prev = previousJobID
	}
	c := &intake.ChangeCounts{}
	err := s.pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE change = 'new'),
			count(*) FILTER (WHERE change = 'changed'),
			count(*) FILTER (WHERE change = 'unchanged'),
			(SELECT count(*) FROM documents p WHERE `+removed+`)
		FROM documents WHERE job_id = $1`, jobID, prev).
		Scan(&c.New, &c.Changed, &c.Unchanged, &c.Removed)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// pDocColumns is docColumns qualified with the alias p.
var pDocColumns = "p." + strings.Join(strings.Split(strings.Join(strings.Fields(docColumns), " "), ", "), ", p.")

// ListRemoved returns a page of the previous job's documents that the job
// did not collect, in seq order.
func (s *Driver) ListRemoved(ctx context.Context, jobID, previousJobID string, after, limit int) ([]*intake.Document, error) {
	return queryRows(ctx, s, scanDoc, `SELECT `+pDocColumns+` FROM documents p
		WHERE `+removed+` AND p.seq > $3 ORDER BY p.seq LIMIT $4`, jobID, previousJobID, after, limit)
}

// claimNotificationsQuery claims due notifications in one statement: the
// subquery walks jobs_notify_due and locks the rows no other claimer
// holds (SKIP LOCKED), re-checking a row that another claimer changed
// meanwhile, and the UPDATE moves their due time to the claim's end. The
// subquery's IDs are collected into an array (id = ANY(ARRAY(…)), the
// same set as id IN (…)) so that the UPDATE finds them by primary key
// whatever the plan: with IN, a generic plan, which cannot see the limit,
// hash-joins the subquery with a sequential scan of jobs.
const claimNotificationsQuery = `UPDATE jobs SET notify_due_at = $2
	WHERE id = ANY(ARRAY(
		SELECT id FROM jobs WHERE notify_due_at <= $1
		ORDER BY notify_due_at, id
		LIMIT $3
		FOR UPDATE SKIP LOCKED
	))
	RETURNING ` + columns

// ClaimNotifications moves the due time of up to limit due notifications
// to until and returns their jobs.
func (s *Driver) ClaimNotifications(ctx context.Context, now, until time.Time, limit int) ([]*intake.Job, error) {
	return queryJobs(ctx, s.pool, claimNotificationsQuery, now, until, limit)
}

// SettleNotification ends the claim held until until.
func (s *Driver) SettleNotification(ctx context.Context, _ time.Time, jobID string, until, next time.Time) (bool, error) {
	q := `UPDATE jobs SET notify_due_at = NULL, notify_attempts = 0 WHERE id = $1 AND notify_due_at = $2`
	args := []any{jobID, until}
	if !next.IsZero() {
		q = `UPDATE jobs SET notify_due_at = $3, notify_attempts = notify_attempts + 1
			WHERE id = $1 AND notify_due_at = $2`
		args = append(args, next)
	}
	tag, err := s.pool.Exec(ctx, q, args...)
	return tag.RowsAffected() > 0, err
}

// Redeliver makes the notification of a completed or failed job with
// Notify due now.
func (s *Driver) Redeliver(ctx context.Context, now time.Time, jobID string) (*intake.Job, error) {
	return queryOne(ctx, s, scanJob, `UPDATE jobs SET notify_due_at = $1, notify_attempts = 0
		WHERE id = $2 AND status IN ('completed', 'failed') AND notify IS NOT NULL
		RETURNING `+columns, now, jobID)
}

// deliveryColumns lists the columns scanDelivery reads, in order.
const deliveryColumns = `id::text, job_id::text, message_id, event, url, attempt, status_code, ok, error, duration_ms,
	attempted_at`

func scanDelivery(row pgx.Row) (*intake.Delivery, error) {
	var d intake.Delivery
	err := row.Scan(&d.ID, &d.JobID, &d.MessageID, &d.Event, &d.URL, &d.Attempt, &d.StatusCode, &d.OK, &d.Error,
		&d.DurationMS, &d.AttemptedAt)
	d.AttemptedAt = d.AttemptedAt.UTC()
	return &d, err
}

// RecordDelivery inserts a delivery of an existing job.
func (s *Driver) RecordDelivery(ctx context.Context, d *intake.Delivery) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO deliveries (id, job_id, message_id, event, url, attempt,
			status_code, ok, error, duration_ms, attempted_at)
		SELECT $1, id, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM jobs WHERE id = $2`,
		d.ID, d.JobID, d.MessageID, string(d.Event), d.URL, d.Attempt, d.StatusCode, d.OK, d.Error, d.DurationMS,
		d.AttemptedAt)
	return tag.RowsAffected() > 0, err
}

// noID sorts before every UUID.
const noID = "00000000-0000-0000-0000-000000000000"

// ListDeliveries returns a page of a job's deliveries in ID order.
func (s *Driver) ListDeliveries(ctx context.Context, jobID, after string, limit int) ([]*intake.Delivery, error) {
	if after == "" {
		after = noID
	}
	return queryRows(ctx, s, scanDelivery, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE job_id = $1 AND id > $2 ORDER BY id LIMIT $3`, jobID, after, limit)
}
