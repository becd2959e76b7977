package postgresstore

import "github.com/jackc/pgx/v5/pgxpool"

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
	ListJobsByStatusQuery = listJobsByStatus
	RunOutcomesQuery      = runOutcomesQuery
	CompletionQuery       = completionQuery
)
