package sqlitestore

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
	ListJobsByStatusQuery = listJobsByStatus
	RunOutcomesQuery      = runOutcomesQuery
	CompletionQuery       = completionQuery
)
