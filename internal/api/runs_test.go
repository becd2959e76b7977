package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

// runHistoryView is the run history of a status response.
type runHistoryView struct {
	RunHistory []struct {
		Number          int        `json:"number"`
		Worker          string     `json:"worker"`
		LeaseOwner      string     `json:"lease_owner"`
		StartedAt       time.Time  `json:"started_at"`
		EndedAt         *time.Time `json:"ended_at"`
		DurationSeconds *float64   `json:"duration_seconds"`
		Batch           int        `json:"batch"`
		Collected       int        `json:"collected"`
		Outcome         string     `json:"outcome"`
		Error           string     `json:"error"`
	} `json:"run_history"`
}

func (b *bundle) runHistory(t *testing.T, id string) runHistoryView {
	t.Helper()
	r := b.do(t, request{path: "/api/v1/jobs/status/" + id})
	if r.status != http.StatusOK {
		t.Fatalf("status: %d %s", r.status, r.body)
	}
	var v runHistoryView
	r.decode(t, &v)
	return v
}

func TestStatusRunHistory(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	id := b.trigger(t)
	if h := b.runHistory(t, id); len(h.RunHistory) != 0 {
		t.Fatalf("run history before the first claim: %+v", h.RunHistory)
	}

	// An open run shows as running, without an end.
	if _, err := b.store.Claim(t.Context(), intake.ClaimParams{Owner: "w1", LeaseTTL: time.Minute, JobID: id, Worker: "pod-1"}); err != nil {
		t.Fatal(err)
	}
	h := b.runHistory(t, id)
	if len(h.RunHistory) != 1 {
		t.Fatalf("run history of a claimed job: %+v", h.RunHistory)
	}
	if r := h.RunHistory[0]; r.Number != 1 || r.Worker != "pod-1" || r.LeaseOwner != "w1" || r.Outcome != "running" ||
		r.EndedAt != nil || r.DurationSeconds != nil || r.StartedAt.IsZero() {
		t.Errorf("open run = %+v", r)
	}
	if err := b.store.Reschedule(t.Context(), id, "w1", time.Now(), "source answered 503", false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Maintain(t.Context(), 5); err != nil {
		t.Fatal(err)
	}

	b.complete(t, id)
	v := b.status(t, id)
	h = b.runHistory(t, id)
	if len(h.RunHistory) != v.Runs || v.Runs < 3 {
		t.Fatalf("%d runs in the history of a job with %d runs", len(h.RunHistory), v.Runs)
	}
	collected := 0
	for i, r := range h.RunHistory {
		if r.Number != i+1 || r.EndedAt == nil || r.DurationSeconds == nil || r.Worker == "" {
			t.Errorf("run %d = %+v", i+1, r)
		}
		collected += r.Collected
	}
	if first := h.RunHistory[0]; first.Outcome != "rescheduled" || first.Error != "source answered 503" {
		t.Errorf("first run = %+v, want rescheduled with its error", first)
	}
	last := h.RunHistory[len(h.RunHistory)-1]
	if last.Outcome != "completed" || !strings.HasPrefix(last.LeaseOwner, "run-") {
		t.Errorf("last run = %+v, want completed", last)
	}
	if v.Progress.Total == nil || collected != *v.Progress.Total {
		t.Errorf("the runs collected %d documents, the job %v", collected, v.Progress.Total)
	}
	// The list does not carry run histories.
	r := b.do(t, request{path: "/api/v1/jobs"})
	if strings.Contains(string(r.body), "run_history") {
		t.Errorf("GET /api/v1/jobs carries run histories: %s", r.body)
	}
}
