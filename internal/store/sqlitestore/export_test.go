package sqlitestore

// The statements of schedules and the outbox whose plans the tests check.
var (
	ScheduleJobsQuery       = scheduleJobsQuery
	ScheduleHealthQuery     = scheduleHealthQuery
	ClaimNotificationsQuery = claimNotificationsQuery
)
