package mongostore

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/intake-dev/intake"
)

// statusStaged is the status of a job in a batch that has not committed
// yet. It is not an intake.Status: staged jobs are invisible to readers.
const statusStaged = "staged"

// jobDoc is a job in the jobs collection. Optional fields are absent when
// unset.
type jobDoc struct {
	ID             string    `bson:"_id"`
	Tenant         string    `bson:"tenant"`
	SourceType     string    `bson:"source_type"`
	Config         string    `bson:"config"` // the request's JSON text
	Status         string    `bson:"status"`
	Planned        bool      `bson:"planned"`
	Total          int64     `bson:"total"`
	Collected      int64     `bson:"collected"`
	Bytes          int64     `bson:"bytes"` // the sum of the documents' sizes
	Runs           int64     `bson:"runs"`
	Attempts       int64     `bson:"attempts"`
	AvailableAt    time.Time `bson:"available_at"`
	LeaseOwner     string    `bson:"lease_owner,omitempty"`
	LeaseExpiresAt time.Time `bson:"lease_expires_at,omitempty"`
	Checkpoint     []byte    `bson:"checkpoint,omitempty"`
	LastError      string    `bson:"last_error"`
	IdempotencyKey string    `bson:"idempotency_key,omitempty"`
	RequestHash    string    `bson:"request_hash"`
	// Idem is unique: idemKey(tenant, key), or "job:<_id>" without a key.
	Idem        string    `bson:"idem"`
	CreatedAt   time.Time `bson:"created_at"`
	UpdatedAt   time.Time `bson:"updated_at"`
	StartedAt   time.Time `bson:"started_at,omitempty"`
	CompletedAt time.Time `bson:"completed_at,omitempty"`
	// Batch is the ID of the batch's leader while the job is staged.
	Batch string `bson:"batch,omitempty"`
	// LastDoc is the metadata of document Collected: the commit record of
	// RecordDocument.
	LastDoc *docDoc `bson:"last_doc,omitempty"`
	// OpenRun is the record of the run that holds the job while it is
	// processing; RunLog holds the records of its ended runs in order.
	OpenRun *runDoc  `bson:"open_run,omitempty"`
	RunLog  []runDoc `bson:"run_log,omitempty"`
	// ScheduleID and PreviousJobID link a job of a schedule to the
	// schedule and to the job it compares its documents with.
	ScheduleID    string `bson:"schedule_id,omitempty"`
	PreviousJobID string `bson:"previous_job_id,omitempty"`
	// Notify is where the job's events go; NotifyDueAt, present only while
	// a notification is owed, is when it is next due (see outbox.go).
	Notify         *notifyDoc `bson:"notify,omitempty"`
	NotifyDueAt    time.Time  `bson:"notify_due_at,omitempty"`
	NotifyAttempts int64      `bson:"notify_attempts,omitempty"`
}

// notifyDoc is an intake.Notify: a job's or a schedule's notify.
type notifyDoc struct {
	URL    string   `bson:"url"`
	Events []string `bson:"events,omitempty"`
	Secret string   `bson:"secret,omitempty"`
}

// newNotifyDoc returns the stored form of n, nil for nil.
func newNotifyDoc(n *intake.Notify) *notifyDoc {
	if n == nil {
		return nil
	}
	d := &notifyDoc{URL: n.URL, Secret: n.Secret}
	for _, e := range n.Events {
		d.Events = append(d.Events, string(e))
	}
	return d
}

// notify returns the intake form of d, nil for nil.
func (d *notifyDoc) notify() *intake.Notify {
	if d == nil {
		return nil
	}
	n := &intake.Notify{URL: d.URL, Secret: d.Secret}
	for _, e := range d.Events {
		n.Events = append(n.Events, intake.Event(e))
	}
	return n
}

// runDoc is a run record: a job's open_run, or an element of its run_log.
type runDoc struct {
	// Number is set when the run ends; an open run's number is the job's
	// runs.
	Number     int64     `bson:"number"`
	Worker     string    `bson:"worker"`
	LeaseOwner string    `bson:"lease_owner"`
	StartedAt  time.Time `bson:"started_at"`
	EndedAt    time.Time `bson:"ended_at,omitempty"`
	Batch      int64     `bson:"batch"`
	// Collected counts the run's documents: RecordDocument increments it
	// in the update that commits each document.
	Collected int64  `bson:"collected"`
	Outcome   string `bson:"outcome"`
	Error     string `bson:"error,omitempty"`
}

// run returns the intake form of a record of job jobID.
func (r *runDoc) run(jobID string) *intake.Run {
	return &intake.Run{
		JobID:      jobID,
		Number:     int(r.Number),
		Worker:     r.Worker,
		LeaseOwner: r.LeaseOwner,
		StartedAt:  utc(r.StartedAt),
		EndedAt:    utc(r.EndedAt),
		Batch:      int(r.Batch),
		Collected:  int(r.Collected),
		Outcome:    intake.RunOutcome(r.Outcome),
		Error:      r.Error,
	}
}

// docDoc is a document's metadata in the documents collection, and a job's
// last_doc.
type docDoc struct {
	ID           string    `bson:"_id"`
	JobID        string    `bson:"job_id"`
	Seq          int64     `bson:"seq"`
	Name         string    `bson:"name"`
	DocumentType string    `bson:"document_type"`
	ContentType  string    `bson:"content_type"`
	SizeBytes    int64     `bson:"size_bytes"`
	SHA256       string    `bson:"sha256"`
	BlobKey      string    `bson:"blob_key"`
	CollectedAt  time.Time `bson:"collected_at"`
	// Identity and Change are absent when empty.
	Identity string `bson:"identity,omitempty"`
	Change   string `bson:"change,omitempty"`
}

// idemKey returns the idem value of a job with an idempotency key. The
// tenant's length makes it unambiguous; it starts with a digit, so it never
// equals a keyless job's "job:<_id>".
func idemKey(tenant, key string) string {
	return strconv.Itoa(len(tenant)) + ":" + tenant + ":" + key
}

// idemNone returns the idem value of a job without an idempotency key.
func idemNone(id string) string { return "job:" + id }

// newJobDoc returns the document of a new job.
func newJobDoc(j *intake.Job) *jobDoc {
	d := &jobDoc{
		ID:             j.ID,
		Tenant:         j.Tenant,
		SourceType:     j.SourceType,
		Config:         string(j.Config),
		Status:         string(j.Status),
		Total:          int64(j.Total),
		AvailableAt:    j.AvailableAt,
		IdempotencyKey: j.IdempotencyKey,
		RequestHash:    j.RequestHash,
		CreatedAt:      j.CreatedAt,
		UpdatedAt:      j.UpdatedAt,
		ScheduleID:     j.ScheduleID,
		PreviousJobID:  j.PreviousJobID,
		Notify:         newNotifyDoc(j.Notify),
	}
	if d.IdempotencyKey != "" {
		d.Idem = idemKey(d.Tenant, d.IdempotencyKey)
	} else {
		d.Idem = idemNone(d.ID)
	}
	return d
}

// job converts the document to an intake.Job.
func (d *jobDoc) job() *intake.Job {
	j := &intake.Job{
		ID:             d.ID,
		Tenant:         d.Tenant,
		SourceType:     d.SourceType,
		Config:         json.RawMessage(d.Config),
		Status:         intake.Status(d.Status),
		Planned:        d.Planned,
		Total:          int(d.Total),
		Collected:      int(d.Collected),
		Runs:           int(d.Runs),
		Attempts:       int(d.Attempts),
		AvailableAt:    utc(d.AvailableAt),
		LeaseOwner:     d.LeaseOwner,
		LeaseExpiresAt: utc(d.LeaseExpiresAt),
		Checkpoint:     d.Checkpoint,
		LastError:      d.LastError,
		IdempotencyKey: d.IdempotencyKey,
		RequestHash:    d.RequestHash,
		CreatedAt:      utc(d.CreatedAt),
		UpdatedAt:      utc(d.UpdatedAt),
		StartedAt:      utc(d.StartedAt),
		CompletedAt:    utc(d.CompletedAt),
		ScheduleID:     d.ScheduleID,
		PreviousJobID:  d.PreviousJobID,
		Notify:         d.Notify.notify(),
		NotifyDueAt:    utc(d.NotifyDueAt),
		NotifyAttempts: int(d.NotifyAttempts),
	}
	if j.Status == statusStaged { // a staged job is reported as it will be
		j.Status = intake.StatusPending
	}
	return j
}

// newDocDoc returns the stored form of a document.
func newDocDoc(d *intake.Document) *docDoc {
	return &docDoc{
		ID:           d.ID,
		JobID:        d.JobID,
		Seq:          int64(d.Seq),
		Name:         d.Name,
		DocumentType: d.DocumentType,
		ContentType:  d.ContentType,
		SizeBytes:    d.SizeBytes,
		SHA256:       d.SHA256,
		BlobKey:      d.BlobKey,
		CollectedAt:  d.CollectedAt,
		Identity:     d.Identity,
		Change:       string(d.Change),
	}
}

// document converts the stored form to an intake.Document.
func (d *docDoc) document() *intake.Document {
	return &intake.Document{
		ID:           d.ID,
		JobID:        d.JobID,
		Seq:          int(d.Seq),
		Name:         d.Name,
		DocumentType: d.DocumentType,
		ContentType:  d.ContentType,
		SizeBytes:    d.SizeBytes,
		SHA256:       d.SHA256,
		BlobKey:      d.BlobKey,
		CollectedAt:  utc(d.CollectedAt),
		Identity:     d.Identity,
		Change:       intake.Change(d.Change),
	}
}

// utc returns t in UTC, keeping the zero time zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}
