// Package driver defines the interface a job store backend implements:
// the queries and commands of intake.Store and nothing around them.
// store.Store, the portable type that callers hold, validates every
// argument, reads the clock, pages and encodes cursors, and turns a
// driver's errors into intake errors through its Classify, so that every
// backend answers alike. storetest runs the conformance suite on a Driver
// through store.Store.
//
// A Driver reports what happened rather than deciding what it means:
// "no such job" is a nil result, "the lease is gone" a false one, and
// errors are its database's own, unchanged. A driver may return an
// *intake.Error for an outcome only it can tell (MongoDB's "the job kept
// changing"); the portable layer keeps such codes.
package driver

import (
	"context"
	"time"

	"github.com/intake-dev/intake"
)

// Driver is a job store backend. Arguments have been validated: IDs are
// UUIDs, limits are positive and at most one more than
// intake.MaxPageSize, times are UTC at millisecond precision, and now is
// the store's clock. Its methods are safe for concurrent use.
type Driver interface {
	// CreateJobs inserts complete new jobs (ID, status, times set to now)
	// whose (Tenant, IdempotencyKey) pairs are distinct, all of them or
	// none. For a job whose key another job already holds it returns that
	// job in its place; the result has one job per input, in order.
	CreateJobs(ctx context.Context, now time.Time, jobs []*intake.Job) ([]*intake.Job, error)
	// GetJob returns the job, or nil when there is none.
	GetJob(ctx context.Context, id string) (*intake.Job, error)
	// ListJobs returns up to limit jobs with an ID below before (no bound
	// when before is empty), newest first; only jobs of status when it is
	// set.
	ListJobs(ctx context.Context, status intake.Status, before string, limit int) ([]*intake.Job, error)
	// Cancel cancels the job when it is pending, scheduled or processing,
	// ending a processing job's open run as RunCancelled in the same atomic
	// step, and returns it; nil when the job is missing or terminal.
	Cancel(ctx context.Context, now time.Time, id string) (*intake.Job, error)
	// Stats counts jobs by status (statuses without jobs may be absent),
	// finds the oldest pending job, and counts and sums the documents. It
	// runs on every scrape of /metrics, so it must not read every job.
	Stats(ctx context.Context) (*intake.Stats, error)

	// Claim moves a pending job to processing under a lease until
	// now+p.LeaseTTL and opens its run record (p.Worker is set), as
	// intake.Store's Claim says; nil when no job is claimable.
	Claim(ctx context.Context, now time.Time, p intake.ClaimParams) (*intake.Job, error)

	// The fenced calls report held = false, and change nothing, unless the
	// job is processing under owner.

	// Heartbeat extends the lease to now+ttl.
	Heartbeat(ctx context.Context, now time.Time, jobID, owner string, ttl time.Duration) (held bool, err error)
	// Plan records the total and the checkpoint, and sets Planned.
	Plan(ctx context.Context, now time.Time, jobID, owner string, total int, checkpoint []byte) (held bool, err error)
	// StartBatch records the batch on the open run.
	StartBatch(ctx context.Context, jobID, owner string, batch int) (held bool, err error)
	// RecordDocument stores doc (ID and CollectedAt set) and the checkpoint
	// and sets Collected to doc.Seq, in one atomic step, when doc.Seq is
	// Collected+1. It returns the job's Collected before the call: the
	// document was recorded if and only if that is doc.Seq-1.
	RecordDocument(ctx context.Context, now time.Time, owner string, doc *intake.Document, checkpoint []byte) (held bool, collected int, err error)
	// RecordDocuments stores recs (at least one; consecutive documents of
	// one job, IDs and CollectedAt set) in order, each with its checkpoint,
	// as RecordDocument stores one, stopping at the first it cannot
	// record: the lease is gone, its Seq is not Collected+1, or an error.
	// It returns how many it recorded (the first n of recs), held = false
	// when it stopped because the lease was gone, and otherwise, when it
	// stopped short, the job's Collected that made the next one not next.
	// A driver with transactions records all of them or none, with one
	// commit.
	RecordDocuments(ctx context.Context, now time.Time, owner string, recs []intake.DocumentRecord) (recorded int, held bool, collected int, err error)
	// FinishRun, Reschedule and Fail release the job and end its run
	// record, as intake.Store says. The update that makes a job with
	// Notify completed or failed sets its NotifyDueAt to now.
	FinishRun(ctx context.Context, now time.Time, jobID, owner string, done bool) (held bool, err error)
	// FinishRuns ends each run as FinishRun would, after recording its Plan
	// when it has one (Planned, Total and Checkpoint, as Plan would) in the
	// same atomic step, and reports for each whether the caller held the
	// job. The runs (1 to intake.MaxPageSize) are distinct pairs of job ID
	// and owner, and their plans valid. A driver ends them in one atomic
	// step where it can; one that ends them one after another returns, with
	// an error, held for the runs it finished before it (the rest may or may
	// not have ended).
	FinishRuns(ctx context.Context, now time.Time, runs []intake.FinishParams) (held []bool, err error)
	Reschedule(ctx context.Context, now time.Time, jobID, owner string, at time.Time, lastErr string, countAttempt bool) (held bool, err error)
	Fail(ctx context.Context, now time.Time, jobID, owner, lastErr string) (held bool, err error)

	// Maintain promotes the scheduled jobs due at now and expires the
	// leases lapsed by now, recording expiredErr as the jobs' LastError and
	// their runs' error, as intake.Store's Maintain says; a job with
	// Notify that fails gets NotifyDueAt now in the same update. The order
	// of the IDs it returns does not matter.
	Maintain(ctx context.Context, now time.Time, maxAttempts int, expiredErr string) (*intake.MaintainResult, error)

	// ListRuns returns up to limit run records of a job with Number
	// greater than after, in Number order.
	ListRuns(ctx context.Context, jobID string, after, limit int) ([]*intake.Run, error)
	// RunStats summarises the ended runs and the completed jobs. The SQL
	// drivers answer from counters kept by triggers when p holds the
	// bounds they count into (telemetry's RunDurationBuckets and
	// CompletionBuckets), and scan for any other bounds.
	RunStats(ctx context.Context, p intake.RunStatsParams) (*intake.RunStats, error)

	// GetDocument returns document seq of a job, or nil when there is none.
	GetDocument(ctx context.Context, jobID string, seq int) (*intake.Document, error)
	// ListDocuments returns up to limit documents of a job with Seq
	// greater than after (0 <= after < intake.MaxSeq), in Seq order.
	ListDocuments(ctx context.Context, jobID string, after, limit int) ([]*intake.Document, error)
	// ReferencedBlobKeys returns the subset of keys (at least one) that
	// some document references.
	ReferencedBlobKeys(ctx context.Context, keys []string) (map[string]bool, error)

	// Schedules. CreateSchedule inserts a complete new schedule (ID,
	// Version 1, times set). UpdateSchedule replaces the definition of the
	// schedule whose ID and Version are s's (everything but Tenant,
	// LastFireAt, LastJobID and CreatedAt) with Version+1 and UpdatedAt
	// now, and returns it; nil when no schedule has that ID and Version.
	// DeleteSchedule reports whether it deleted one.
	CreateSchedule(ctx context.Context, s *intake.Schedule) error
	// GetSchedule returns the schedule, or nil when there is none.
	GetSchedule(ctx context.Context, id string) (*intake.Schedule, error)
	// ListSchedules returns up to limit schedules with an ID below before
	// (no bound when before is empty), newest first.
	ListSchedules(ctx context.Context, before string, limit int) ([]*intake.Schedule, error)
	UpdateSchedule(ctx context.Context, now time.Time, s *intake.Schedule) (*intake.Schedule, error)
	DeleteSchedule(ctx context.Context, id string) (bool, error)
	// DueSchedules returns up to limit schedules that are not paused with
	// NextFireAt at or before until, by NextFireAt then ID.
	DueSchedules(ctx context.Context, until time.Time, limit int) ([]*intake.Schedule, error)
	// ScheduleJobs counts the schedule's jobs that are not terminal, finds
	// its completed job with the latest CompletedAt (then ID), and finds
	// the job of tenant whose idempotency key is tickKey (TickJobID, ""
	// when none) through the unique (tenant, idempotency key) index. It
	// reads tickKey's job in the same snapshot as the count, or after it,
	// never before: a job the count includes is then always found.
	ScheduleJobs(ctx context.Context, scheduleID, tenant, tickKey string) (*intake.ScheduleJobs, error)
	// AdvanceSchedule sets NextFireAt to next, LastFireAt to from and,
	// when jobID is set, LastJobID, with Version+1 and UpdatedAt now, when
	// NextFireAt is from; it reports whether it did.
	AdvanceSchedule(ctx context.Context, now time.Time, id string, from, next time.Time, jobID string) (bool, error)
	// ScheduleHealth returns every schedule's latest job completion, in ID
	// order.
	ScheduleHealth(ctx context.Context) ([]intake.ScheduleHealth, error)

	// Change detection. FindDocument returns the document of a job with a
	// (non-empty) identity and the highest Seq, or nil. ChangeCounts counts
	// a job's documents by Change and the documents of previousJobID (none
	// when it is empty) with an identity that no document of the job has;
	// ListRemoved returns up to limit of those with Seq greater than after,
	// in Seq order.
	FindDocument(ctx context.Context, jobID, identity string) (*intake.Document, error)
	ChangeCounts(ctx context.Context, jobID, previousJobID string) (*intake.ChangeCounts, error)
	ListRemoved(ctx context.Context, jobID, previousJobID string, after, limit int) ([]*intake.Document, error)

	// The outbox. ClaimNotifications moves the NotifyDueAt of up to limit
	// jobs whose NotifyDueAt is at or before now to until, earliest due
	// first, and returns them; no other call claims the same job until
	// then. SettleNotification, when the job's NotifyDueAt is until,
	// clears NotifyDueAt and NotifyAttempts (next zero) or sets NotifyDueAt
	// to next with NotifyAttempts+1, and reports whether it did.
	// Redeliver sets NotifyDueAt to now and NotifyAttempts to 0 on a
	// completed or failed job with Notify and returns it; nil otherwise.
	ClaimNotifications(ctx context.Context, now, until time.Time, limit int) ([]*intake.Job, error)
	SettleNotification(ctx context.Context, now time.Time, jobID string, until, next time.Time) (bool, error)
	Redeliver(ctx context.Context, now time.Time, jobID string) (*intake.Job, error)
	// RecordDelivery inserts a complete delivery (ID set) of an existing
	// job; it reports false, inserting nothing, when the job is missing.
	// ListDeliveries returns up to limit deliveries of a job with an ID
	// above after (no bound when after is empty), in ID order.
	RecordDelivery(ctx context.Context, d *intake.Delivery) (bool, error)
	ListDeliveries(ctx context.Context, jobID, after string, limit int) ([]*intake.Delivery, error)

	// Migrate and SchemaStatus are intake.Migrator's.
	Migrate(ctx context.Context) error
	SchemaStatus(ctx context.Context) (current, want int64, err error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the driver's resources; store.Store calls it once.
	Close() error

	// Classify returns the intake error code of an error that a method of
	// the driver returned, and, for EUNAVAILABLE, how long a retry should
	// wait (zero: DefaultRetryAfter). It sees every such error once, so a
	// driver may act on it: PostgreSQL resets its pool when the connection
	// was lost.
	Classify(err error) (code string, retryAfter time.Duration)
}

// DefaultRetryAfter is the RetryAfter of an EUNAVAILABLE error whose
// driver named none: about as long as a server restart or a failover takes
// to begin accepting connections.
const DefaultRetryAfter = 5 * time.Second
