package webhook

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/intake-dev/intake"
)

// Payload is the JSON body of every delivery.
type Payload struct {
	Type      intake.Event `json:"type"`
	Timestamp string       `json:"timestamp"`
	Data      Data         `json:"data"`
}

// Data describes the job an event is about.
type Data struct {
	JobID         string               `json:"job_id"`
	ScheduleID    string               `json:"schedule_id,omitempty"`
	PreviousJobID string               `json:"previous_job_id,omitempty"`
	Status        intake.Status        `json:"status"`
	SourceType    string               `json:"source_type"`
	Collected     int                  `json:"collected"`
	Total         int                  `json:"total"`
	LastError     string               `json:"last_error,omitempty"`
	Changes       *intake.ChangeCounts `json:"changes,omitempty"`
	Links         Links                `json:"links"`
}

// Links are the API paths of the job and its changes.
type Links struct {
	Job     string `json:"job"`
	Changes string `json:"changes"`
}

// MessageID is the webhook-id of a job's event: the same for every attempt,
// so that receivers can deduplicate.
func MessageID(jobID string, e intake.Event) string {
	return "msg_" + strings.ReplaceAll(jobID, "-", "") + "_" + strings.ReplaceAll(string(e), ".", "_")
}

// Body returns the body of event e of job at the attempt's time. changes
// is reported for a job with a previous job only.
func Body(job *intake.Job, e intake.Event, changes *intake.ChangeCounts, at time.Time) ([]byte, error) {
	if job.PreviousJobID == "" {
		changes = nil
	}
	b, err := json.Marshal(Payload{
		Type:      e,
		Timestamp: at.UTC().Format(time.RFC3339),
		Data: Data{
			JobID:         job.ID,
			ScheduleID:    job.ScheduleID,
			PreviousJobID: job.PreviousJobID,
			Status:        job.Status,
			SourceType:    job.SourceType,
			Collected:     job.Collected,
			Total:         job.Total,
			LastError:     job.LastError,
			Changes:       changes,
			Links: Links{
				Job:     "/api/v1/jobs/status/" + job.ID,
				Changes: "/api/v1/jobs/" + job.ID + "/changes",
			},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("encode webhook body: %w", err)
	}
	return b, nil
}

// Events returns the events a job's notification delivers: job.completed
// or job.failed by its status, and job.changed besides job.completed when
// the job found changes since its previous job, filtered by what its
// Notify wants. changes is nil when the job has no previous job.
func Events(job *intake.Job, changes *intake.ChangeCounts) []intake.Event {
	var all []intake.Event
	switch job.Status {
	case intake.StatusCompleted:
		all = append(all, intake.EventJobCompleted)
		if job.PreviousJobID != "" && changes != nil && changes.Any() {
			all = append(all, intake.EventJobChanged)
		}
	case intake.StatusFailed:
		all = append(all, intake.EventJobFailed)
	}
	out := all[:0]
	for _, e := range all {
		if job.Notify.Wants(e) {
			out = append(out, e)
		}
	}
	return out
}
