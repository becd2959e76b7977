package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/intake-dev/intake"
)

// The statements of schedules and the outbox whose plans the tests check.
var (
	ScheduleJobsQuery       = scheduleJobsQuery
	ScheduleHealthQuery     = scheduleHealthQuery
	ClaimNotificationsQuery = claimNotificationsQuery
)

// The statements behind the queue gauges of /metrics and the job list
// whose plans TestScalePlans checks.
var (
	StatsCountsQuery      = statsCountsQuery
	StatsRestQuery        = statsRestQuery
	RunCountersQuery      = runCountersQuery
	ListJobsByStatusQuery = listJobsByStatus
)

// Writer returns the driver's writing connection, for tests that change
// the database behind the store's back (with its foreign keys enforced).
func (s *Driver) Writer() *sql.DB { return s.writer }

// MigrateTo applies the migrations up to version, for tests of a
// migration over the data of an older schema.
func (s *Driver) MigrateTo(ctx context.Context, version int64) error {
	db, err := sql.Open("sqlite", dsn(s.path, false))
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := s.newProvider(db)
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// ScanStats is Stats from a count of every job and document, as before
// migration 00004, to check the counts against.
func (s *Driver) ScanStats(ctx context.Context) (*intake.Stats, error) {
	counts, err := queryAll(ctx, s.reader, scanCount, `SELECT status, count(*) FROM jobs GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("scan stats: %w", err)
	}
	st := &intake.Stats{Jobs: make(map[intake.Status]int64, len(counts))}
	for _, c := range counts {
		st.Jobs[c.status] = c.n
	}
	var oldest sql.NullInt64
	err = s.reader.QueryRowContext(ctx, `SELECT (SELECT min(available_at) FROM jobs WHERE status = 'pending'),
			(SELECT count(*) FROM documents), (SELECT coalesce(sum(size_bytes), 0) FROM documents)`).
		Scan(&oldest, &st.Documents, &st.Bytes)
	if err != nil {
		return nil, fmt.Errorf("scan stats: %w", err)
	}
	st.OldestPending = fromNullMS(oldest)
	return st, nil
}

// ScanRunStats is RunStats from a scan of every run and job, whatever the
// bounds, to check the counters against.
func (s *Driver) ScanRunStats(ctx context.Context, p intake.RunStatsParams) (*intake.RunStats, error) {
	return s.scanRunStats(ctx, p)
}
