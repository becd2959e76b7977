package postgresstore

import (
	"context"
	"fmt"

	"github.com/intake-dev/intake"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// Pool returns the driver's pool, for tests that look into the database.
func (s *Driver) Pool() *pgxpool.Pool { return s.pool }

// Schema returns the schema that holds the driver's tables.
func (s *Driver) Schema() string { return s.schema }

// ClaimNextQuery is the statement that claims the oldest pending job.
var ClaimNextQuery = claimNext + jColumns

// The statements of schedules and the outbox whose plans the tests check.
var (
	ScheduleJobsQuery       = scheduleJobsQuery
	ScheduleHealthQuery     = scheduleHealthQuery
	ClaimNotificationsQuery = claimNotificationsQuery
)

// The statements behind the queue gauges of /metrics and the job list
// whose plans TestScalePlans checks.
var (
	StatsQuery            = statsQuery
	RunCountersQuery      = runCountersQuery
	ListJobsByStatusQuery = listJobsByStatus
)

// MigrateTo creates the schema and applies the migrations up to version,
// for tests of a migration over the data of an older schema.
func (s *Driver) MigrateTo(ctx context.Context, version int64) error {
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+s.schema); err != nil {
		return err
	}
	p, err := s.newProvider(db)
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// statsScanQuery is what Stats returned before migration 00004: the same
// columns from a count of every job and document.
const statsScanQuery = `WITH c AS (SELECT status, count(*) AS n FROM jobs GROUP BY status)
		SELECT
			(SELECT coalesce(array_agg(status ORDER BY status), '{}') FROM c),
			(SELECT coalesce(array_agg(n ORDER BY status), '{}') FROM c),
			(SELECT min(available_at) FROM jobs WHERE status = 'pending'),
			(SELECT count(*) FROM documents),
			(SELECT coalesce(sum(size_bytes), 0)::bigint FROM documents)`

// ScanStats is Stats from a count of every job and document, to check the
// counts against.
func (s *Driver) ScanStats(ctx context.Context) (*intake.Stats, error) {
	var (
		st       = &intake.Stats{}
		statuses []string
		counts   []int64
		oldest   pgtype.Timestamptz
	)
	err := s.pool.QueryRow(ctx, statsScanQuery).Scan(&statuses, &counts, &oldest, &st.Documents, &st.Bytes)
	if err != nil {
		return nil, fmt.Errorf("scan stats: %w", err)
	}
	st.Jobs = make(map[intake.Status]int64, len(statuses))
	for i, status := range statuses {
		st.Jobs[intake.Status(status)] = counts[i]
	}
	st.OldestPending = fromNull(oldest)
	return st, nil
}

// ScanRunStats is RunStats from a scan of every run and job, whatever the
// bounds, to check the counters against.
func (s *Driver) ScanRunStats(ctx context.Context, p intake.RunStatsParams) (*intake.RunStats, error) {
	return s.scanRunStats(ctx, p)
}
