package api_test

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/api"
)

// cinRE is a CIN as filings.NewCompany makes them: L, 5 digits, 2 letters,
// a year 1980–2020, 3 letters, 6 digits.
var cinRE = regexp.MustCompile(`^L[0-9]{5}[A-Z]{2}(19[89][0-9]|20[01][0-9]|2020)[A-Z]{3}[0-9]{6}$`)

func TestCreateJob(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	r := b.do(t, request{method: http.MethodPost, path: "/create-job", body: `{"num_jobs": 3}`})
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("create-job: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	var out struct {
		Message string `json:"message"`
		Jobs    []struct {
			JobID       string `json:"jobId"`
			CIN         string `json:"cin"`
			CompanyName string `json:"companyName"`
		} `json:"jobs"`
		TotalJobs int `json:"totalJobs"`
	}
	r.decode(t, &out)
	if out.TotalJobs != 3 || len(out.Jobs) != 3 || out.Message == "" {
		t.Fatalf("response: %s", r.body)
	}
	var ids []string
	for _, j := range out.Jobs {
		if !cinRE.MatchString(j.CIN) || strings.TrimSpace(j.CompanyName) == "" {
			t.Errorf("job %+v: CIN or name malformed", j)
		}
		stored, err := b.store.GetJob(t.Context(), j.JobID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.SourceType != "filings" || stored.Status != intake.StatusPending || !strings.Contains(string(stored.Config), j.CIN) {
			t.Errorf("stored job %+v does not match %+v", stored, j)
		}
		ids = append(ids, j.JobID)
	}
	if calls := b.creates.calls(); !slices.Equal(calls, []int{3}) {
		t.Fatalf("CreateJobs calls %v, want one call with 3 jobs", calls)
	}
	if got := b.disp.notified(); !slices.Equal(got, ids) {
		t.Fatalf("notified %v, want %v", got, ids)
	}
	if got := b.counter(t, "intake_jobs_created_total", map[string]string{"source_type": "filings"}); got != 3 {
		t.Fatalf("intake_jobs_created_total = %v, want 3", got)
	}
	if got := b.counter(t, "intake_create_job_batch_size", nil); got != 1 {
		t.Fatalf("batch size observations = %v, want 1", got)
	}
}

func TestCreateJobErrors(t *testing.T) {
	t.Parallel()
	b := newBundle(t, func(c *api.Config, _ *api.Deps) { c.MaxBodyBytes = 1024 })
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"zero", `{"num_jobs": 0}`, http.StatusBadRequest},
		{"eleven", `{"num_jobs": 11}`, http.StatusBadRequest},
		{"negative", `{"num_jobs": -1}`, http.StatusBadRequest},
		{"fraction", `{"num_jobs": 2.5}`, http.StatusBadRequest},
		{"float literal", `{"num_jobs": 3.0}`, http.StatusBadRequest},
		{"string", `{"num_jobs": "3"}`, http.StatusBadRequest},
		{"missing", `{}`, http.StatusBadRequest},
		{"null", `{"num_jobs": null}`, http.StatusBadRequest},
		{"empty body", ``, http.StatusBadRequest},
		{"not JSON", `num_jobs=3`, http.StatusBadRequest},
		{"array", `[3]`, http.StatusBadRequest},
		{"huge", `{"num_jobs": 100000000000000000000000}`, http.StatusBadRequest},
		{"too large", `{"num_jobs": 3, "pad": "` + strings.Repeat("x", 2000) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := b.do(t, request{method: http.MethodPost, path: "/create-job", body: tt.body})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			var out map[string]any
			r.decode(t, &out)
			if msg, ok := out["error"].(string); !ok || msg == "" || len(out) != 1 {
				t.Fatalf(`body %s, want {"error": "..."}`, r.body)
			}
		})
	}
	t.Run("no job was created", func(t *testing.T) {
		// Runs after the parallel subtests above.
		page, err := b.store.ListJobs(t.Context(), intake.JobFilter{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Jobs) != 0 {
			t.Fatalf("%d jobs created by refused requests", len(page.Jobs))
		}
	})
}

// TestCreateJobInvalidDemoJob checks that a demo job its source refuses is
// an internal error that stores nothing, in /create-job's error shape.
func TestCreateJobInvalidDemoJob(t *testing.T) {
	t.Parallel()
	b := newBundle(t, func(_ *api.Config, d *api.Deps) {
		d.NewDemoJob = func() (api.DemoJob, error) {
			return api.DemoJob{SourceType: "filings", Config: []byte(`{"cin": "X"}`), CIN: "X"}, nil
		}
	})
	r := b.do(t, request{method: http.MethodPost, path: "/create-job", body: `{"num_jobs": 2}`})
	var out map[string]string
	r.decode(t, &out)
	if r.status != http.StatusInternalServerError || out["error"] == "" {
		t.Fatalf("status %d, body %s; want 500 with an error", r.status, r.body)
	}
	if calls := b.creates.calls(); len(calls) != 0 {
		t.Fatalf("CreateJobs called %v", calls)
	}
}

// TestCreateJobAtomic checks that a failing store leaves no job behind and
// that the failure keeps /create-job's error shape.
func TestCreateJobAtomic(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.creates.failWith(intake.WrapError(intake.EUNAVAILABLE, errBoom, "job store unavailable"))
	r := b.do(t, request{method: http.MethodPost, path: "/create-job", body: `{"num_jobs": 5}`})
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q: %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	var out map[string]string
	r.decode(t, &out)
	if out["error"] == "" || strings.Contains(string(r.body), "s3cr3t") {
		t.Fatalf("body %s", r.body)
	}
	page, err := b.store.ListJobs(t.Context(), intake.JobFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != 0 || len(b.disp.notified()) != 0 {
		t.Fatalf("%d jobs stored, %d notified after a failed create", len(page.Jobs), len(b.disp.notified()))
	}
	if got := b.counter(t, "intake_jobs_create_failures_total", map[string]string{"reason": "store"}); got != 1 {
		t.Fatalf("store failures = %v, want 1", got)
	}
}
