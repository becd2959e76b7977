package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/intake-dev/intake"
)

// Schedules, change detection and the outbox. Every statement here is
// backed by an index of migration 00003: schedules_due, jobs_schedule,
// jobs_notify_due, documents_identity and deliveries_job.

// encodeNotify returns the JSON text of a Notify, nil (NULL) for none.
func encodeNotify(n *intake.Notify) (any, error) {
	if n == nil {
		return nil, nil
	}
	//nolint:gosec // Secret names the environment variable that holds the secret, not the secret.
	b, err := json.Marshal(n)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// decodeNotify reads a Notify column.
func decodeNotify(v sql.NullString) (*intake.Notify, error) {
	if !v.Valid {
		return nil, nil
	}
	n := &intake.Notify{}
	if err := json.Unmarshal([]byte(v.String), n); err != nil {
		return nil, err
	}
	return n, nil
}

// scheduleColumns lists the columns scanSchedule reads, in order.
const scheduleColumns = `id, tenant, name, source_type, config, cron, interval_ns, time_zone, jitter_ns, paused,
	misfire, overlap, notify, next_fire_at, last_fire_at, last_job_id, version, created_at, updated_at`

// scanSchedule reads one row of scheduleColumns.
func scanSchedule(row scanner) (*intake.Schedule, error) {
	var (
		s                              intake.Schedule
		config                         string
		interval, jitter               int64
		notify                         sql.NullString
		nextFire, createdAt, updatedAt int64
		lastFire                       sql.NullInt64
	)
	err := row.Scan(&s.ID, &s.Tenant, &s.Name, &s.SourceType, &config, &s.Cron, &interval, &s.TimeZone, &jitter,
		&s.Paused, &s.Misfire, &s.Overlap, &notify, &nextFire, &lastFire, &s.LastJobID, &s.Version,
		&createdAt, &updatedAt)
	if err != nil {
		return nil, err
	}
	if s.Notify, err = decodeNotify(notify); err != nil {
		return nil, err
	}
	s.Config = json.RawMessage(config)
	s.Interval, s.Jitter = intake.Duration(interval), intake.Duration(jitter)
	s.NextFireAt, s.LastFireAt = fromMS(nextFire), fromNullMS(lastFire)
	s.CreatedAt, s.UpdatedAt = fromMS(createdAt), fromMS(updatedAt)
	return &s, nil
}

// CreateSchedule inserts a new schedule.
func (s *Driver) CreateSchedule(ctx context.Context, sch *intake.Schedule) error {
	notify, err := encodeNotify(sch.Notify)
	if err != nil {
		return err
	}
	_, err = s.writer.ExecContext(ctx, `INSERT INTO schedules (id, tenant, name, source_type, config, cron,
			interval_ns, time_zone, jitter_ns, paused, misfire, overlap, notify, next_fire_at, version,
			created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		sch.ID, sch.Tenant, sch.Name, sch.SourceType, string(sch.Config), sch.Cron, int64(sch.Interval),
		sch.TimeZone, int64(sch.Jitter), sch.Paused, string(sch.Misfire), string(sch.Overlap), notify,
		ms(sch.NextFireAt), sch.Version, ms(sch.CreatedAt), ms(sch.UpdatedAt))
	return err
}

// GetSchedule returns a schedule by ID, nil when there is none.
func (s *Driver) GetSchedule(ctx context.Context, id string) (*intake.Schedule, error) {
	sch, err := scanSchedule(s.reader.QueryRowContext(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return sch, err
}

// ListSchedules returns up to limit schedules with an ID below before,
// newest first.
func (s *Driver) ListSchedules(ctx context.Context, before string, limit int) ([]*intake.Schedule, error) {
	if before == "" {
		before = afterAll
	}
	return queryAll(ctx, s.reader, scanSchedule, `SELECT `+scheduleColumns+` FROM schedules
		WHERE id < ? ORDER BY id DESC LIMIT ?`, before, limit)
}

// UpdateSchedule replaces the definition of the schedule with sch's ID
// and Version.
func (s *Driver) UpdateSchedule(ctx context.Context, now time.Time, sch *intake.Schedule) (*intake.Schedule, error) {
	notify, err := encodeNotify(sch.Notify)
	if err != nil {
		return nil, err
	}
	out, err := scanSchedule(s.writer.QueryRowContext(ctx, `UPDATE schedules SET name = ?, source_type = ?,
			config = ?, cron = ?, interval_ns = ?, time_zone = ?, jitter_ns = ?, paused = ?, misfire = ?,
			overlap = ?, notify = ?, next_fire_at = ?, version = version + 1, updated_at = ?
		WHERE id = ? AND version = ?
		RETURNING `+scheduleColumns,
		sch.Name, sch.SourceType, string(sch.Config), sch.Cron, int64(sch.Interval), sch.TimeZone,
		int64(sch.Jitter), sch.Paused, string(sch.Misfire), string(sch.Overlap), notify, ms(sch.NextFireAt),
		ms(now), sch.ID, sch.Version))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return out, err
}

// DeleteSchedule deletes a schedule and reports whether there was one.
func (s *Driver) DeleteSchedule(ctx context.Context, id string) (bool, error) {
	res, err := s.writer.ExecContext(ctx, `DELETE FROM schedules WHERE id = ?`, id)
	if err != nil {
		return false, err
	}
	return affected(res)
}

// DueSchedules returns the schedules that are not paused and due by until,
// through the partial index schedules_due.
func (s *Driver) DueSchedules(ctx context.Context, until time.Time, limit int) ([]*intake.Schedule, error) {
	return queryAll(ctx, s.reader, scanSchedule, `SELECT `+scheduleColumns+` FROM schedules
		WHERE NOT paused AND next_fire_at <= ? ORDER BY next_fire_at, id LIMIT ?`, ms(until), limit)
}

// scheduleJobsQuery counts a schedule's active jobs and finds its latest
// completed one, both through jobs_schedule, and the job of the tick's
// idempotency key through jobs_idempotency; one statement reads all three
// in one snapshot.
const scheduleJobsQuery = `SELECT
		(SELECT count(*) FROM jobs WHERE schedule_id = ?1 AND status IN ('pending', 'scheduled', 'processing')),
		(SELECT id FROM jobs WHERE schedule_id = ?1 AND status = 'completed'
			ORDER BY completed_at DESC, id DESC LIMIT 1),
		(SELECT id FROM jobs WHERE tenant = ?2 AND idempotency_key = ?3 AND idempotency_key <> '')`

// ScheduleJobs counts a schedule's active jobs and finds its latest
// completed one and the job of its tick's key.
func (s *Driver) ScheduleJobs(ctx context.Context, scheduleID, tenant, tickKey string) (*intake.ScheduleJobs, error) {
	var (
		sj         intake.ScheduleJobs
		last, tick sql.NullString
	)
	err := s.reader.QueryRowContext(ctx, scheduleJobsQuery, scheduleID, tenant, tickKey).Scan(&sj.Active, &last, &tick)
	if err != nil {
		return nil, err
	}
	sj.LastCompletedID, sj.TickJobID = last.String, tick.String
	return &sj, nil
}

// AdvanceSchedule moves a schedule from tick from to next when its
// NextFireAt is still from.
func (s *Driver) AdvanceSchedule(ctx context.Context, now time.Time, id string, from, next time.Time, jobID string) (bool, error) {
	res, err := s.writer.ExecContext(ctx, `UPDATE schedules SET next_fire_at = ?1, last_fire_at = ?2,
			last_job_id = CASE WHEN ?3 <> '' THEN ?3 ELSE last_job_id END, version = version + 1, updated_at = ?4
		WHERE id = ?5 AND next_fire_at = ?2`, ms(next), ms(from), jobID, ms(now), id)
	if err != nil {
		return false, err
	}
	return affected(res)
}

// scheduleHealthQuery finds every schedule's latest completion, each
// through jobs_schedule.
const scheduleHealthQuery = `SELECT s.id, (SELECT max(completed_at) FROM jobs
		WHERE schedule_id = s.id AND status = 'completed')
	FROM schedules s ORDER BY s.id`

// ScheduleHealth returns every schedule's latest completion.
func (s *Driver) ScheduleHealth(ctx context.Context) ([]intake.ScheduleHealth, error) {
	return queryAll(ctx, s.reader, func(row scanner) (intake.ScheduleHealth, error) {
		var (
			h    intake.ScheduleHealth
			last sql.NullInt64
		)
		err := row.Scan(&h.ScheduleID, &last)
		h.LastCompletedAt = fromNullMS(last)
		return h, err
	}, scheduleHealthQuery)
}

// FindDocument returns a job's document with the identity and the highest
// seq, nil when there is none.
func (s *Driver) FindDocument(ctx context.Context, jobID, identity string) (*intake.Document, error) {
	d, err := scanDoc(s.reader.QueryRowContext(ctx, `SELECT `+docColumns+` FROM documents
		WHERE job_id = ? AND identity = ? ORDER BY seq DESC LIMIT 1`, jobID, identity))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return d, err
}

// removed is the condition on the previous job's documents p (?1 the job,
// ?2 the previous job) that the job did not collect.
const removed = `p.job_id = ?2 AND p.identity <> '' AND NOT EXISTS (
	SELECT 1 FROM documents d WHERE d.job_id = ?1 AND d.identity = p.identity)`

// ChangeCounts counts a job's documents by change and the previous job's
// documents it did not collect.
func (s *Driver) ChangeCounts(ctx context.Context, jobID, previousJobID string) (*intake.ChangeCounts, error) {
	c := &intake.ChangeCounts{}
	err := s.reader.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM documents WHERE job_id = ?1 AND change = 'new'),
			(SELECT count(*) FROM documents WHERE job_id = ?1 AND change = 'changed'),
			(SELECT count(*) FROM documents WHERE job_id = ?1 AND change = 'unchanged'),
			(SELECT count(*) FROM documents p WHERE `+removed+`)`, jobID, previousJobID).
		Scan(&c.New, &c.Changed, &c.Unchanged, &c.Removed)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ListRemoved returns a page of the previous job's documents that the job
// did not collect, in seq order.
func (s *Driver) ListRemoved(ctx context.Context, jobID, previousJobID string, after, limit int) ([]*intake.Document, error) {
	return queryAll(ctx, s.reader, scanDoc, `SELECT `+prefixed("p.", docColumns)+` FROM documents p
		WHERE `+removed+` AND p.seq > ?3 ORDER BY p.seq LIMIT ?4`, jobID, previousJobID, after, limit)
}

// claimNotificationsQuery moves the due time of the due notifications to
// the claim's end, finding them through jobs_notify_due.
const claimNotificationsQuery = `UPDATE jobs SET notify_due_at = ?2
	WHERE id IN (SELECT id FROM jobs WHERE notify_due_at <= ?1 ORDER BY notify_due_at, id LIMIT ?3)
	RETURNING ` + jobColumns

// ClaimNotifications moves the due time of up to limit due notifications
// to until, under SQLite's write lock, and returns their jobs.
func (s *Driver) ClaimNotifications(ctx context.Context, now, until time.Time, limit int) ([]*intake.Job, error) {
	return queryAll(ctx, s.writer, scanJob, claimNotificationsQuery, ms(now), ms(until), limit)
}

// SettleNotification ends the claim held until until.
func (s *Driver) SettleNotification(ctx context.Context, _ time.Time, jobID string, until, next time.Time) (bool, error) {
	q := `UPDATE jobs SET notify_due_at = NULL, notify_attempts = 0 WHERE id = ?1 AND notify_due_at = ?2`
	args := []any{jobID, ms(until)}
	if !next.IsZero() {
		q = `UPDATE jobs SET notify_due_at = ?3, notify_attempts = notify_attempts + 1
			WHERE id = ?1 AND notify_due_at = ?2`
		args = append(args, ms(next))
	}
	res, err := s.writer.ExecContext(ctx, q, args...)
	if err != nil {
		return false, err
	}
	return affected(res)
}

// Redeliver makes the notification of a completed or failed job with
// Notify due now.
func (s *Driver) Redeliver(ctx context.Context, now time.Time, jobID string) (*intake.Job, error) {
	j, err := scanJob(s.writer.QueryRowContext(ctx, `UPDATE jobs SET notify_due_at = ?1, notify_attempts = 0
		WHERE id = ?2 AND status IN ('completed', 'failed') AND notify IS NOT NULL
		RETURNING `+jobColumns, ms(now), jobID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return j, err
}

// deliveryColumns lists the columns scanDelivery reads, in order.
const deliveryColumns = `id, job_id, message_id, event, url, attempt, status_code, ok, error, duration_ms, attempted_at`

func scanDelivery(row scanner) (*intake.Delivery, error) {
	var (
		d  intake.Delivery
		at int64
	)
	err := row.Scan(&d.ID, &d.JobID, &d.MessageID, &d.Event, &d.URL, &d.Attempt, &d.StatusCode, &d.OK, &d.Error,
		&d.DurationMS, &at)
	d.AttemptedAt = fromMS(at)
	return &d, err
}

// RecordDelivery inserts a delivery of an existing job.
func (s *Driver) RecordDelivery(ctx context.Context, d *intake.Delivery) (bool, error) {
	res, err := s.writer.ExecContext(ctx, `INSERT INTO deliveries (`+deliveryColumns+`)
		SELECT ?, id, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM jobs WHERE id = ?`,
		d.ID, d.MessageID, string(d.Event), d.URL, d.Attempt, d.StatusCode, d.OK, d.Error, d.DurationMS,
		ms(d.AttemptedAt), d.JobID)
	if err != nil {
		return false, err
	}
	return affected(res)
}

// ListDeliveries returns a page of a job's deliveries in ID order.
func (s *Driver) ListDeliveries(ctx context.Context, jobID, after string, limit int) ([]*intake.Delivery, error) {
	return queryAll(ctx, s.reader, scanDelivery, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?`, jobID, after, limit)
}
