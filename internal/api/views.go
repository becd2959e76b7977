package api

import (
	"fmt"
	"math"
	"time"

	"github.com/intake-dev/intake"
)

// jobLinks are the URLs a client follows from a job.
type jobLinks struct {
	Self       string `json:"self" doc:"The job's status."`
	Result     string `json:"result" doc:"The job's result (200 once completed)."`
	Cancel     string `json:"cancel" doc:"POST here to cancel the job."`
	Changes    string `json:"changes" doc:"What changed since the job's previous job."`
	Deliveries string `json:"deliveries" doc:"The job's webhook delivery log; POST to .../redeliver to deliver again."`
}

func linksFor(id string) jobLinks {
	return jobLinks{
		Self:       "/api/v1/jobs/status/" + id,
		Result:     "/api/v1/jobs/result/" + id,
		Cancel:     "/api/v1/jobs/" + id + "/cancel",
		Changes:    "/api/v1/jobs/" + id + "/changes",
		Deliveries: "/api/v1/jobs/" + id + "/deliveries",
	}
}

// progressView is how far a job has got.
type progressView struct {
	Total     *int    `json:"total" nullable:"true" doc:"Documents the job will collect; null until the source has planned it (or when the source cannot know)."`
	Collected int     `json:"collected" doc:"Documents collected so far."`
	Percent   float64 `json:"percent" doc:"collected / total × 100, one decimal; 100 once completed, 0 while the total is unknown."`
}

// jobView is a job as the API shows it. The source config is left out: it
// may hold credentials (a database source's DSN, an API token).
type jobView struct {
	JobID       string        `json:"job_id" format:"uuid"`
	SourceType  string        `json:"source_type" example:"filings"`
	Status      intake.Status `json:"status" enum:"pending,scheduled,processing,completed,failed,cancelled" doc:"pending: claimable now; scheduled: waiting for a retry time; processing; completed; failed; cancelled."`
	Progress    progressView  `json:"progress"`
	Runs        int           `json:"runs" doc:"Claims so far; each run collects one batch."`
	Attempts    int           `json:"attempts" doc:"Failed runs since the last successful one."`
	LastError   string        `json:"last_error,omitempty" doc:"Error of the last failed run."`
	CreatedAt   time.Time     `json:"created_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
	AvailableAt time.Time     `json:"available_at" doc:"When a scheduled job becomes due; otherwise when it last became pending."`
	StartedAt   *time.Time    `json:"started_at,omitempty" doc:"First claim."`
	CompletedAt *time.Time    `json:"completed_at,omitempty" doc:"When the job reached a terminal status."`
	// ScheduleID, PreviousJobID and Notify come from the schedule that
	// created the job or the trigger.
	ScheduleID    string            `json:"schedule_id,omitempty" format:"uuid" doc:"The schedule that created the job."`
	PreviousJobID string            `json:"previous_job_id,omitempty" format:"uuid" doc:"The schedule's job this one's documents are compared with."`
	Notify        *notifyView       `json:"notify,omitempty" doc:"Where the job's events are delivered; the secret is shown by name only."`
	Changes       *changeCountsView `json:"changes,omitempty" doc:"Only in GET /api/v1/jobs/status/{job_id}, for a completed job with a previous job: its documents counted against the previous job's."`
	Links         jobLinks          `json:"links"`
	RunHistory    []runView         `json:"run_history,omitempty" doc:"Only in GET /api/v1/jobs/status/{job_id}: the job's runs in order (the latest 100; absent before the first claim), an audit trail of which worker collected which documents, when, and how each run ended."`
}

func newJobView(j *intake.Job) jobView {
	v := jobView{
		JobID:       j.ID,
		SourceType:  j.SourceType,
		Status:      j.Status,
		Progress:    newProgress(j),
		Runs:        j.Runs,
		Attempts:    j.Attempts,
		LastError:   j.LastError,
		CreatedAt:   j.CreatedAt,
		UpdatedAt:   j.UpdatedAt,
		AvailableAt: j.AvailableAt,
		StartedAt:   timePtr(j.StartedAt),
		CompletedAt: timePtr(j.CompletedAt),
		Links:       linksFor(j.ID),

		ScheduleID:    j.ScheduleID,
		PreviousJobID: j.PreviousJobID,
		Notify:        newNotifyView(j.Notify),
	}
	return v
}

func newProgress(j *intake.Job) progressView {
	p := progressView{Collected: j.Collected}
	if j.Total == intake.TotalUnknown {
		if j.Status == intake.StatusCompleted {
			p.Percent = 100
		}
		return p
	}
	total := j.Total
	p.Total = &total
	switch {
	case j.Status == intake.StatusCompleted || (total > 0 && j.Collected >= total):
		p.Percent = 100
	case total > 0:
		p.Percent = math.Floor(float64(j.Collected)*1000/float64(total)) / 10
	}
	return p
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// documentLinks are the URLs of a document.
type documentLinks struct {
	Content string `json:"content" doc:"The document's bytes (bearer key required)."`
}

// documentView is a document's metadata as the API shows it.
type documentView struct {
	Seq          int           `json:"seq" minimum:"1"`
	Name         string        `json:"name" example:"MGT-7_2019.txt"`
	DocumentType string        `json:"document_type" example:"MGT-7"`
	ContentType  string        `json:"content_type" example:"text/plain; charset=utf-8"`
	SizeBytes    int64         `json:"size_bytes"`
	SHA256       string        `json:"sha256" doc:"Lowercase hex SHA-256 of the content."`
	CollectedAt  time.Time     `json:"collected_at"`
	Identity     string        `json:"identity,omitempty" example:"SRN:R12345678" doc:"The document's stable identity within its source, by which a schedule's jobs are compared; absent when the source has none."`
	Change       intake.Change `json:"change,omitempty" enum:"new,changed,unchanged,removed" doc:"How the document compares with the previous job's document of the same identity; absent for a job without a previous job. removed marks a previous job's document in the removed list of /changes."`
	Links        documentLinks `json:"links"`
}

func newDocumentView(d *intake.Document) documentView {
	return documentView{
		Seq:          d.Seq,
		Name:         d.Name,
		DocumentType: d.DocumentType,
		ContentType:  d.ContentType,
		SizeBytes:    d.SizeBytes,
		SHA256:       d.SHA256,
		CollectedAt:  d.CollectedAt,
		Identity:     d.Identity,
		Change:       d.Change,
		Links:        documentLinks{Content: fmt.Sprintf("/api/v1/jobs/%s/documents/%d/content", d.JobID, d.Seq)},
	}
}
