package intake

import (
	"context"
	"time"
)

// Store is the job store: the source of truth for jobs and document
// metadata. internal/store implements it over one driver per database
// (sqlitestore, postgresstore, mongostore), each of which passes the
// conformance suite in internal/store/storetest.
//
// Every worker mutation (Heartbeat, Plan, StartBatch, RecordDocument,
// RecordDocuments, FinishRun, Reschedule, Fail) is fenced by the lease
// owner: it succeeds only while the job is processing under that owner,
// and returns ErrLeaseLost otherwise.
// Stores read time from the clock they were opened with, so tests can move it.
type Store interface {
	// CreateJobs inserts jobs atomically: all of them or none. IDs,
	// timestamps, status (pending), Total (TotalUnknown) and AvailableAt
	// are set by the store. A job whose (Tenant, IdempotencyKey) already
	// exists is not inserted; the existing job is returned in its place, so
	// callers can compare RequestHash. The result has one job per input, in
	// order.
	CreateJobs(ctx context.Context, jobs []*Job) ([]*Job, error)
	// GetJob returns a job by ID, or an ENOTFOUND error.
	GetJob(ctx context.Context, id string) (*Job, error)
	// ListJobs returns jobs newest first, one page at a time.
	ListJobs(ctx context.Context, f JobFilter) (*JobPage, error)
	// Cancel cancels a job that is not terminal and returns it. A
	// processing job loses its lease, so its worker stops at its next
	// fenced call, and its open run record ends as RunCancelled in the same
	// atomic step. Cancelling a terminal job is an ECONFLICT error.
	Cancel(ctx context.Context, id string) (*Job, error)

	// Claim atomically moves one pending job to processing under a new
	// lease (Runs+1, StartedAt set on the first claim) and returns it. With
	// JobID set only that job is claimed; otherwise the pending job with the
	// oldest AvailableAt (then ID). It returns ErrNoJob when there is none.
	// The same atomic step opens the run's record (Number = the new Runs,
	// Worker, LeaseOwner, StartedAt, Outcome RunRunning).
	Claim(ctx context.Context, p ClaimParams) (*Job, error)
	// Heartbeat extends the lease of a processing job by ttl.
	Heartbeat(ctx context.Context, jobID, owner string, ttl time.Duration) error
	// Plan records the source's plan (Total and the initial checkpoint) and
	// sets Planned. A run that collects nothing may leave its plan to the
	// step that ends it instead (FinishParams.Plan of BatchFinisher).
	Plan(ctx context.Context, jobID, owner string, total int, checkpoint []byte) error
	// StartBatch records on the open run the number of documents it sets
	// out to collect (a negative batch is an EINVALID error).
	StartBatch(ctx context.Context, jobID, owner string, batch int) error
	// RecordDocument stores a document's metadata and the source checkpoint
	// after it in one atomic step, and sets Collected to doc.Seq. doc.Seq
	// must be Collected+1; anything else is an ECONFLICT error. The store
	// sets doc.ID when it is empty.
	RecordDocument(ctx context.Context, owner string, doc *Document, checkpoint []byte) error
	// RecordDocuments records several documents of one job in Seq order,
	// each with the source checkpoint after it, as that many RecordDocument
	// calls would, and returns how many it recorded: the first n of recs.
	// The first Seq must be Collected+1 (ECONFLICT otherwise) and each
	// next one more; recs that are not one job's consecutive documents,
	// or hold a document RecordDocument would refuse, are an EINVALID
	// error and nothing is recorded. SQL stores record all of them or none
	// in one transaction (one commit). A store without multi-document
	// transactions (MongoDB) records them one by one, so after an error
	// the first n are recorded, Collected is the last of them, and the
	// rest are not. The store sets the documents' IDs as RecordDocument
	// does. No recs record nothing.
	RecordDocuments(ctx context.Context, owner string, recs []DocumentRecord) (int, error)
	// FinishRun ends a successful run: the job becomes completed when done
	// is true (Total is then set to Collected if it was unknown), pending
	// otherwise. Attempts and LastError are reset and the lease released.
	// The run record ends as RunCompleted when done; otherwise as
	// RunBatchDone, or RunDrained when the run recorded fewer documents
	// than the batch it gave StartBatch (the worker stopped early). Stores
	// that end many runs in one round trip implement BatchFinisher.
	FinishRun(ctx context.Context, jobID, owner string, done bool) error
	// Reschedule ends a run that should be retried: the job becomes
	// scheduled until at, the lease is released, LastError is set, and
	// Attempts is incremented when countAttempt is true. The run record
	// ends as RunRescheduled with lastErr.
	Reschedule(ctx context.Context, jobID, owner string, at time.Time, lastErr string, countAttempt bool) error
	// Fail ends a run for good: the job becomes failed with lastErr, and
	// the run record ends as RunFailed with it.
	Fail(ctx context.Context, jobID, owner, lastErr string) error

	// Maintain promotes due scheduled jobs to pending, and processing jobs
	// whose lease expired to pending with Attempts+1 (or to failed when that
	// reaches maxAttempts), ending their run records as RunLeaseExpired in
	// the same atomic step. It is idempotent and safe to run concurrently
	// from several replicas. It returns the IDs of the jobs it made
	// pending so that dispatch can announce them.
	Maintain(ctx context.Context, maxAttempts int) (*MaintainResult, error)
	// Stats counts jobs by status and reports queue health, for metrics.
	Stats(ctx context.Context) (*Stats, error)

	// ListRuns returns the run records of a job in Number order, a page at
	// a time; the cursor is the last Number seen. A job that does not
	// exist has none. Records of runs that ended have their Collected
	// (documents recorded by the run), EndedAt, Outcome and Error set.
	ListRuns(ctx context.Context, jobID string, after, limit int) ([]*Run, error)
	// RunStats summarises every ended run record and every completed job
	// into the histogram buckets of p, for metrics that do not depend on
	// scraping the workers. The SQL stores keep these histograms as
	// counters in the buckets of the /metrics run collector and answer
	// those bounds in a few rows; other bounds cost a scan of every run.
	RunStats(ctx context.Context, p RunStatsParams) (*RunStats, error)

	// GetDocument returns the document of a job by sequence number; a seq
	// outside 1..MaxSeq is ENOTFOUND.
	GetDocument(ctx context.Context, jobID string, seq int) (*Document, error)
	// ListDocuments returns a job's documents in Seq order, a page at a
	// time; the cursor is the last Seq seen, and one at or beyond MaxSeq
	// gives an empty page.
	ListDocuments(ctx context.Context, jobID string, after, limit int) ([]*Document, error)
	// ReferencedBlobKeys returns the subset of keys that some document
	// references, so that the orphan sweep can delete the rest.
	ReferencedBlobKeys(ctx context.Context, keys []string) (map[string]bool, error)

	// Schedules. CreateSchedule inserts s (ID, Version 1, CreatedAt and
	// UpdatedAt set by the store; NextFireAt set by the caller) and returns
	// it. UpdateSchedule replaces the schedule whose ID and Version match
	// s's, with Version+1, and returns it: ENOTFOUND when there is no such
	// schedule, ECONFLICT when its Version differs. DeleteSchedule removes
	// it (ENOTFOUND when missing); its jobs stay.
	CreateSchedule(ctx context.Context, s *Schedule) (*Schedule, error)
	GetSchedule(ctx context.Context, id string) (*Schedule, error)
	ListSchedules(ctx context.Context, f ScheduleFilter) (*SchedulePage, error)
	UpdateSchedule(ctx context.Context, s *Schedule) (*Schedule, error)
	DeleteSchedule(ctx context.Context, id string) error
	// DueSchedules returns up to limit schedules that are not paused and
	// whose NextFireAt is at or before until, earliest first.
	DueSchedules(ctx context.Context, until time.Time, limit int) ([]*Schedule, error)
	// ScheduleJobs reports, for s's tick tick, the schedule's jobs that are
	// not terminal, its last completed job and the job already created for
	// tick (found by its idempotency key ScheduleTickKey(s.ID, tick) in
	// s.Tenant). It looks the tick's job up no earlier than it counts the
	// active jobs, so that a job it does not report as the tick's is not
	// counted as active either.
	ScheduleJobs(ctx context.Context, s *Schedule, tick time.Time) (*ScheduleJobs, error)
	// AdvanceSchedule moves the schedule from tick from (its NextFireAt) to
	// next, setting LastFireAt to from and, when jobID is set, LastJobID;
	// it reports false, and changes nothing, when NextFireAt is no longer
	// from (another replica advanced it, or a client changed it).
	AdvanceSchedule(ctx context.Context, id string, from, next time.Time, jobID string) (bool, error)
	// ScheduleHealth reports every schedule's last completion.
	ScheduleHealth(ctx context.Context) ([]ScheduleHealth, error)

	// Change detection. FindDocument returns the document of a job with
	// the identity, the one with the highest Seq when several; ENOTFOUND
	// when there is none. ChangeCounts counts a job's documents by Change
	// and the documents of its PreviousJobID that it did not collect.
	// ListRemoved returns a page of those, in Seq order after after.
	FindDocument(ctx context.Context, jobID, identity string) (*Document, error)
	ChangeCounts(ctx context.Context, jobID string) (*ChangeCounts, error)
	ListRemoved(ctx context.Context, jobID string, after, limit int) ([]*Document, error)

	// The outbox (see NotifyClaim). ClaimNotifications claims up to limit
	// jobs whose NotifyDueAt is at or before the store's now, moving it to
	// now+ttl (the claim's Until) so that no other replica claims them
	// before then. SettleNotification
	// ends a claim: next zero means delivered (NotifyDueAt and
	// NotifyAttempts cleared), otherwise due again at next with
	// NotifyAttempts+1; it reports false, changing nothing, when the claim
	// is no longer held (NotifyDueAt is not until). Redeliver makes a
	// terminal job's notification due now: ENOTFOUND for a missing job,
	// ECONFLICT for one that is not terminal or has no Notify.
	ClaimNotifications(ctx context.Context, ttl time.Duration, limit int) ([]*NotifyClaim, error)
	SettleNotification(ctx context.Context, jobID string, until, next time.Time) (bool, error)
	Redeliver(ctx context.Context, jobID string) (*Job, error)
	// RecordDelivery logs an attempt (ID set by the store); ListDeliveries
	// returns a job's log oldest first, up to limit after the ID after.
	RecordDelivery(ctx context.Context, d *Delivery) error
	ListDeliveries(ctx context.Context, jobID, after string, limit int) ([]*Delivery, error)

	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// Migrator is implemented by stores with a schema: Migrate brings it up to
// date and SchemaStatus reports whether the binary can run on it.
type Migrator interface {
	// Migrate applies pending migrations. Concurrent calls are safe.
	Migrate(ctx context.Context) error
	// SchemaStatus returns the schema version in the database and the
	// version this binary expects.
	SchemaStatus(ctx context.Context) (current, want int64, err error)
}

// ClaimParams says who claims, for how long, and optionally which job.
type ClaimParams struct {
	// Owner is a unique token for this run; it fences every later mutation.
	Owner string
	// LeaseTTL is how long the lease lasts without a heartbeat.
	LeaseTTL time.Duration
	// JobID, when set, restricts the claim to that job.
	JobID string
	// Worker identifies the claiming worker process in the run record
	// (INTAKE_WORKER_ID: the host or pod name); Owner when empty.
	Worker string
}

// JobFilter selects a page of jobs.
type JobFilter struct {
	// Status restricts the list to one status when set.
	Status Status
	// Cursor is the NextCursor of the previous page; empty for the first.
	Cursor string
	// Limit is the page size; stores cap it at MaxPageSize.
	Limit int
}

// MaxPageSize caps every list page.
const MaxPageSize = 500

// JobPage is one page of a job list.
type JobPage struct {
	Jobs []*Job
	// NextCursor is empty on the last page.
	NextCursor string
}

// MaintainResult reports what one maintenance pass changed.
type MaintainResult struct {
	// Promoted lists scheduled jobs that became pending.
	Promoted []string
	// Expired lists processing jobs whose lease expired and that became
	// pending again.
	Expired []string
	// ExpiredFailed lists processing jobs whose lease expired on their
	// last attempt and that failed.
	ExpiredFailed []string
}

// Stats is a snapshot of the queue for metrics.
type Stats struct {
	// Jobs counts jobs by status; every status is present.
	Jobs map[Status]int64
	// OldestPending is the AvailableAt of the oldest pending job, zero when
	// none is pending.
	OldestPending time.Time
	// Documents counts recorded documents and Bytes their total size.
	Documents int64
	Bytes     int64
}
