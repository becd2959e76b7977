package webhook

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

func TestMessageID(t *testing.T) {
	t.Parallel()
	got := MessageID("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", intake.EventJobCompleted)
	if want := "msg_0193a1b2c3d47e5f8a9b0c1d2e3f4a5b_job_completed"; got != want {
		t.Fatalf("MessageID = %s, want %s", got, want)
	}
}

func TestBody(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 12, 30, 0, 123, time.FixedZone("X", 3600))
	counts := &intake.ChangeCounts{New: 1, Changed: 2, Unchanged: 3, Removed: 4}
	tests := []struct {
		name    string
		job     intake.Job
		event   intake.Event
		changes *intake.ChangeCounts
		want    string
	}{
		{"completed with a previous job",
			intake.Job{ID: "j2", ScheduleID: "s1", PreviousJobID: "j1", Status: intake.StatusCompleted, SourceType: "api", Collected: 7, Total: 7},
			intake.EventJobChanged, counts,
			`{"type":"job.changed","timestamp":"2026-12-01T11:30:00Z","data":{"job_id":"j2","schedule_id":"s1","previous_job_id":"j1","status":"completed","source_type":"api","collected":7,"total":7,"changes":{"new":1,"changed":2,"unchanged":3,"removed":4},"links":{"job":"/api/v1/jobs/status/j2","changes":"/api/v1/jobs/j2/changes"}}}`},
		{"failed without a schedule",
			intake.Job{ID: "j3", Status: intake.StatusFailed, SourceType: "filings", Collected: 1, Total: -1, LastError: "boom"},
			intake.EventJobFailed, counts,
			`{"type":"job.failed","timestamp":"2026-12-01T11:30:00Z","data":{"job_id":"j3","status":"failed","source_type":"filings","collected":1,"total":-1,"last_error":"boom","links":{"job":"/api/v1/jobs/status/j3","changes":"/api/v1/jobs/j3/changes"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Body(&tt.job, tt.event, tt.changes, at)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("Body =\n%s\nwant\n%s", got, tt.want)
			}
			var p Payload
			if err := json.Unmarshal(got, &p); err != nil || p.Type != tt.event {
				t.Fatalf("round trip: %+v, %v", p, err)
			}
		})
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	changed := &intake.ChangeCounts{Removed: 1}
	same := &intake.ChangeCounts{Unchanged: 5}
	all := &intake.Notify{URL: "https://h.example"}
	only := func(es ...intake.Event) *intake.Notify { return &intake.Notify{URL: "https://h.example", Events: es} }
	tests := []struct {
		name    string
		status  intake.Status
		prev    string
		notify  *intake.Notify
		changes *intake.ChangeCounts
		want    []intake.Event
	}{
		{"completed", intake.StatusCompleted, "", all, nil, []intake.Event{intake.EventJobCompleted}},
		{"completed with changes", intake.StatusCompleted, "p", all, changed, []intake.Event{intake.EventJobCompleted, intake.EventJobChanged}},
		{"completed unchanged", intake.StatusCompleted, "p", all, same, []intake.Event{intake.EventJobCompleted}},
		{"changes without a previous job", intake.StatusCompleted, "", all, changed, []intake.Event{intake.EventJobCompleted}},
		{"failed", intake.StatusFailed, "p", all, changed, []intake.Event{intake.EventJobFailed}},
		{"only changed wanted", intake.StatusCompleted, "p", only(intake.EventJobChanged), changed, []intake.Event{intake.EventJobChanged}},
		{"failed not wanted", intake.StatusFailed, "", only(intake.EventJobCompleted), nil, []intake.Event{}},
		{"cancelled", intake.StatusCancelled, "", all, nil, []intake.Event{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := &intake.Job{Status: tt.status, PreviousJobID: tt.prev, Notify: tt.notify}
			if got := Events(job, tt.changes); !slices.Equal(got, tt.want) {
				t.Fatalf("Events = %v, want %v", got, tt.want)
			}
		})
	}
}
