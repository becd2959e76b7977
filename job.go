package intake

import (
	"encoding/json"
	"time"
)

// Status is the lifecycle state of a job.
//
// Only StatusPending means "claimable now": a job waiting for a retry is
// StatusScheduled, and the maintenance loop promotes it to pending when it is
// due. That keeps "pending jobs" a static query that autoscalers (KEDA) can
// count exactly.
type Status string

// The job statuses.
const (
	StatusPending    Status = "pending"
	StatusScheduled  Status = "scheduled"
	StatusProcessing Status = "processing"
	StatusCompleted  Status = "completed"
	StatusFailed     Status = "failed"
	StatusCancelled  Status = "cancelled"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{
	StatusPending, StatusScheduled, StatusProcessing,
	StatusCompleted, StatusFailed, StatusCancelled,
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Terminal reports whether a job in status s will never run again.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// DefaultTenant is the tenant of jobs created without one.
const DefaultTenant = "default"

// TotalUnknown is the value of Job.Total before a source has planned the job,
// and after planning for sources that cannot know their size in advance.
const TotalUnknown = -1

// Job is one request for data: which source to collect from, how far
// collection has got, and who holds it right now.
type Job struct {
	// ID is a UUIDv7 string: unique, and sortable by creation time.
	ID string `json:"id"`
	// Tenant owns the job. It is DefaultTenant until tenants are isolated.
	Tenant string `json:"tenant"`
	// SourceType names the Source that collects the job's documents.
	SourceType string `json:"source_type"`
	// Config is the source-specific configuration, validated by the Source.
	Config json.RawMessage `json:"config"`
	// Status is the job's lifecycle state.
	Status Status `json:"status"`
	// Planned reports whether the source has planned the job (set Total and
	// the initial checkpoint). It is false until the first run plans it.
	Planned bool `json:"planned"`
	// Total is the number of documents the job will collect, or TotalUnknown.
	Total int `json:"total"`
	// Collected is the number of documents recorded so far; documents are
	// numbered 1..Collected.
	Collected int `json:"collected"`
	// Runs counts the claims of the job (one batch per run).
	Runs int `json:"runs"`
	// Attempts counts failed runs since the last successful one; a job fails
	// for good when it reaches the configured maximum.
	Attempts int `json:"attempts"`
	// AvailableAt is when a scheduled job becomes due; for other statuses it
	// is when the job last became pending.
	AvailableAt time.Time `json:"available_at"`
	// LeaseOwner identifies the run that holds the job while it is
	// processing; every worker mutation is fenced by it.
	LeaseOwner string `json:"lease_owner,omitempty"`
	// LeaseExpiresAt is when the lease lapses unless it is renewed.
	LeaseExpiresAt time.Time `json:"lease_expires_at,omitzero"`
	// Checkpoint is the source's opaque resume state, saved with each
	// document under the lease fence.
	Checkpoint []byte `json:"-"`
	// LastError is the error of the last failed run, if any.
	LastError string `json:"last_error,omitempty"`
	// IdempotencyKey is the client's Idempotency-Key header, if any; it is
	// unique per tenant.
	IdempotencyKey string `json:"-"`
	// RequestHash fingerprints the request that created the job, so that a
	// reused idempotency key with a different body can be refused.
	RequestHash string `json:"-"`
	// CreatedAt, UpdatedAt, StartedAt and CompletedAt are the job's
	// timestamps; StartedAt is set by the first claim and CompletedAt when
	// the job reaches a terminal status.
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	CompletedAt time.Time `json:"completed_at,omitzero"`
	// ScheduleID is the schedule that created the job, if any, and
	// PreviousJobID that schedule's last completed job when this one was
	// created: the worker compares each document with it.
	ScheduleID    string `json:"schedule_id,omitempty"`
	PreviousJobID string `json:"previous_job_id,omitempty"`
	// Notify is where the job's events are delivered, if anywhere.
	Notify *Notify `json:"notify,omitempty"`
	// NotifyDueAt is when the job's notification is next due (or when the
	// claim of a delivery in progress lapses); zero when nothing is owed.
	// NotifyAttempts counts the failed attempts since it became due.
	NotifyDueAt    time.Time `json:"-"`
	NotifyAttempts int       `json:"-"`
}

// Remaining returns the number of documents left to collect, or -1 when the
// total is unknown.
func (j *Job) Remaining() int {
	if j.Total == TotalUnknown {
		return -1
	}
	return max(0, j.Total-j.Collected)
}

// Document is the metadata of one collected document; its bytes live in the
// blob store under BlobKey.
type Document struct {
	ID           string    `json:"id"`
	JobID        string    `json:"job_id"`
	Seq          int       `json:"seq"`
	Name         string    `json:"name"`
	DocumentType string    `json:"document_type"`
	ContentType  string    `json:"content_type"`
	SizeBytes    int64     `json:"size_bytes"`
	SHA256       string    `json:"sha256"`
	BlobKey      string    `json:"blob_key"`
	CollectedAt  time.Time `json:"collected_at"`
	// Identity is the document's stable identity within its source (a
	// filing's SRN, a URL and page, a file path, a key range), which a job
	// of a schedule matches against its previous job; "" when the source
	// has none.
	Identity string `json:"identity,omitempty"`
	// Change is how the document compares with the previous job's document
	// of the same Identity; "" for a job without a previous job.
	Change Change `json:"change,omitempty"`
}

// DocumentRecord is a document to record with Store.RecordDocuments and
// the source checkpoint after it.
type DocumentRecord struct {
	Document   *Document
	Checkpoint []byte
}

// Change is how a document compares with its previous collection.
type Change string

// The changes. ChangeRemoved is never a Document's: it describes a
// document of the previous job whose Identity the job did not collect.
const (
	ChangeNew       Change = "new"
	ChangeChanged   Change = "changed"
	ChangeUnchanged Change = "unchanged"
	ChangeRemoved   Change = "removed"
)

// ChangeCounts counts a job's documents by Change against its previous
// job; Removed counts the previous job's documents whose Identity the job
// did not collect.
type ChangeCounts struct {
	New       int `json:"new"`
	Changed   int `json:"changed"`
	Unchanged int `json:"unchanged"`
	Removed   int `json:"removed"`
}

// Any reports whether anything was new, changed or removed.
func (c ChangeCounts) Any() bool { return c.New+c.Changed+c.Removed > 0 }
