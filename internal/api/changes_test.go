package api_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

// doc is a document a test job collects.
type doc struct {
	identity string
	change   intake.Change
	body     string
}

// createJob records a job in the store directly, as a schedule's tick does.
func (b *bundle) createJob(t *testing.T, job *intake.Job) *intake.Job {
	t.Helper()
	job.Tenant, job.SourceType, job.Config = intake.DefaultTenant, "filings", []byte(validConfig)
	jobs, err := b.store.CreateJobs(t.Context(), []*intake.Job{job})
	if err != nil {
		t.Fatal(err)
	}
	return jobs[0]
}

// collect runs a job to completion in one run that records docs, with the
// identities and changes given, as the worker does.
func (b *bundle) collect(t *testing.T, id string, docs []doc) {
	t.Helper()
	ctx := t.Context()
	owner := "run-" + strings.ToLower(rand.Text())
	if _, err := b.store.Claim(ctx, intake.ClaimParams{Owner: owner, LeaseTTL: time.Minute, JobID: id}); err != nil {
		t.Fatal(err)
	}
	if err := b.store.Plan(ctx, id, owner, len(docs), nil); err != nil {
		t.Fatal(err)
	}
	for i, d := range docs {
		seq := i + 1
		key := intake.DocumentBlobKey(id, seq, owner)
		info, err := b.blobs.Put(ctx, key, strings.NewReader(d.body), "text/plain")
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(d.body))
		err = b.store.RecordDocument(ctx, owner, &intake.Document{
			JobID: id, Seq: seq, Name: d.identity + ".txt", DocumentType: "note", ContentType: "text/plain",
			SizeBytes: info.Size, SHA256: hex.EncodeToString(sum[:]), BlobKey: key, Identity: d.identity, Change: d.change,
		}, []byte{byte(seq)})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := b.store.FinishRun(ctx, id, owner, true); err != nil {
		t.Fatal(err)
	}
}

// changesJSON is GET /api/v1/jobs/{job_id}/changes.
type changesJSON struct {
	JobID         string        `json:"job_id"`
	PreviousJobID string        `json:"previous_job_id"`
	Counts        *countsJSON   `json:"counts"`
	Documents     []changedJSON `json:"documents"`
	NextCursor    string        `json:"next_cursor"`
	Removed       []changedJSON `json:"removed"`
	NextRemoved   string        `json:"next_removed_cursor"`
}

type countsJSON struct {
	New, Changed, Unchanged, Removed int
}

type changedJSON struct {
	Seq      int    `json:"seq"`
	Identity string `json:"identity"`
	Change   string `json:"change"`
	Links    struct {
		Content string `json:"content"`
	} `json:"links"`
}

// changeFixture is a schedule's two jobs: prev collected a, b and c; next
// found a unchanged, b changed, d and e new, and c removed.
func changeFixture(t *testing.T, b *bundle) (prev, next *intake.Job) {
	t.Helper()
	prev = b.createJob(t, &intake.Job{})
	b.collect(t, prev.ID, []doc{{"a", "", "A"}, {"b", "", "B"}, {"c", "", "C"}})
	notify := &intake.Notify{URL: "https://hooks.example.com/x", Secret: "ACME_HOOK"}
	next = b.createJob(t, &intake.Job{PreviousJobID: prev.ID, Notify: notify})
	b.collect(t, next.ID, []doc{
		{"a", intake.ChangeUnchanged, "A"}, {"b", intake.ChangeChanged, "B2"},
		{"d", intake.ChangeNew, "D"}, {"e", intake.ChangeNew, "E"},
	})
	return prev, next
}

// TestJobChanges pages through what changed between a schedule's two jobs,
// and checks the answer for a job that has no previous job.
func TestJobChanges(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	prev, next := changeFixture(t, b)

	var first changesJSON
	r := b.do(t, request{path: "/api/v1/jobs/" + prev.ID + "/changes"})
	r.decode(t, &first)
	if r.status != http.StatusOK || first.JobID != prev.ID || first.PreviousJobID != "" || first.Counts != nil ||
		first.Documents == nil || len(first.Documents) != 0 || first.Removed == nil || len(first.Removed) != 0 {
		t.Errorf("job without a previous job: %d %s", r.status, r.body)
	}

	var docs, removed []string
	cursor, removedCursor := "", ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		var c changesJSON
		r := b.do(t, request{path: "/api/v1/jobs/" + next.ID + "/changes?limit=1&cursor=" + cursor + "&removed_cursor=" + removedCursor})
		if r.status != http.StatusOK {
			t.Fatalf("changes: %d %s", r.status, r.body)
		}
		r.decode(t, &c)
		if c.PreviousJobID != prev.ID || c.Counts == nil || *c.Counts != (countsJSON{New: 2, Changed: 1, Unchanged: 1, Removed: 1}) {
			t.Fatalf("changes: %s", r.body)
		}
		for _, d := range c.Documents {
			docs = append(docs, d.Identity+":"+d.Change)
		}
		for _, d := range c.Removed {
			removed = append(removed, d.Identity+":"+d.Change)
			if !strings.HasPrefix(d.Links.Content, "/api/v1/jobs/"+prev.ID+"/documents/") {
				t.Errorf("removed document links to %s, want the previous job's", d.Links.Content)
			}
		}
		if c.NextCursor == "" && c.NextRemoved == "" {
			break
		}
		cursor, removedCursor = c.NextCursor, c.NextRemoved
		if c.NextRemoved == "" {
			removedCursor = "999"
		}
	}
	if got := strings.Join(docs, " "); got != "b:changed d:new e:new" {
		t.Errorf("documents %s", got)
	}
	if got := strings.Join(removed, " "); got != "c:removed" {
		t.Errorf("removed %s", got)
	}

	b.do(t, request{path: "/api/v1/jobs/" + intake.NewID() + "/changes"}).wantProblem(t, http.StatusNotFound)
	b.do(t, request{path: "/api/v1/jobs/not-a-uuid/changes"}).wantProblem(t, http.StatusNotFound)
	b.do(t, request{path: "/api/v1/jobs/" + next.ID + "/changes?cursor=x"}).wantProblem(t, http.StatusUnprocessableEntity)
	b.do(t, request{path: "/api/v1/jobs/" + next.ID + "/changes?removed_cursor=-1"}).wantProblem(t, http.StatusUnprocessableEntity)
}

// TestJobViewChanges checks that a completed job with a previous job shows
// its counts, schedule links and notify in its status and result, and
// that lists leave the counts out.
func TestJobViewChanges(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	prev, next := changeFixture(t, b)
	var view struct {
		PreviousJobID string      `json:"previous_job_id"`
		Changes       *countsJSON `json:"changes"`
		Notify        *struct {
			URL    string `json:"url"`
			Secret string `json:"secret"`
		} `json:"notify"`
		Links struct {
			Changes string `json:"changes"`
		} `json:"links"`
	}
	r := b.do(t, request{path: "/api/v1/jobs/status/" + next.ID})
	r.decode(t, &view)
	want := countsJSON{New: 2, Changed: 1, Unchanged: 1, Removed: 1}
	if view.PreviousJobID != prev.ID || view.Changes == nil || *view.Changes != want ||
		view.Notify == nil || view.Notify.Secret != "ACME_HOOK" || view.Links.Changes != "/api/v1/jobs/"+next.ID+"/changes" {
		t.Errorf("status: %s", r.body)
	}
	if r := b.do(t, request{path: "/api/v1/jobs/status/" + prev.ID}); strings.Contains(string(r.body), `"changes":{`) {
		t.Errorf("a job without a previous job has counts: %s", r.body)
	}
	var result struct {
		Summary struct {
			Changes *countsJSON `json:"changes"`
		} `json:"summary"`
		Documents []changedJSON `json:"documents"`
	}
	b.do(t, request{path: "/api/v1/jobs/result/" + next.ID}).decode(t, &result)
	if result.Summary.Changes == nil || *result.Summary.Changes != want || len(result.Documents) != 4 || result.Documents[1].Change != "changed" {
		t.Errorf("result: %+v", result)
	}
	if r := b.do(t, request{path: "/api/v1/jobs"}); r.status != http.StatusOK || strings.Contains(string(r.body), `"changes":{`) {
		t.Errorf("list: %d %s", r.status, r.body)
	}
}

// TestDeliveries pages through a job's delivery log and redelivers.
func TestDeliveries(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	prev, next := changeFixture(t, b)
	for i := range 3 {
		d := &intake.Delivery{JobID: next.ID, MessageID: "msg_x_job_completed", Event: intake.EventJobCompleted,
			URL: "https://hooks.example.com/x", Attempt: i + 1, StatusCode: 500 + i, Error: "server error", DurationMS: 3}
		if err := b.store.RecordDelivery(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	var attempts []int
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		var page struct {
			JobID      string `json:"job_id"`
			Deliveries []struct {
				Attempt    int    `json:"attempt"`
				StatusCode int    `json:"status_code"`
				OK         bool   `json:"ok"`
				MessageID  string `json:"message_id"`
			} `json:"deliveries"`
			NextCursor string `json:"next_cursor"`
		}
		r := b.do(t, request{path: "/api/v1/jobs/" + next.ID + "/deliveries?limit=2&cursor=" + cursor})
		if r.status != http.StatusOK {
			t.Fatalf("deliveries: %d %s", r.status, r.body)
		}
		if r.decode(t, &page); page.JobID != next.ID || len(page.Deliveries) == 0 {
			t.Fatalf("deliveries: %s", r.body)
		}
		for _, d := range page.Deliveries {
			attempts = append(attempts, d.Attempt)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(attempts) != 3 || attempts[0] != 1 || attempts[2] != 3 {
		t.Errorf("attempts %v, want 1 2 3", attempts)
	}
	var none struct {
		Deliveries []any `json:"deliveries"`
	}
	r := b.do(t, request{path: "/api/v1/jobs/" + prev.ID + "/deliveries"})
	if r.status != http.StatusOK {
		t.Fatalf("no deliveries: %d %s", r.status, r.body)
	}
	if r.decode(t, &none); none.Deliveries == nil || len(none.Deliveries) != 0 {
		t.Errorf("no deliveries: %s", r.body)
	}
	b.do(t, request{path: "/api/v1/jobs/" + intake.NewID() + "/deliveries"}).wantProblem(t, http.StatusNotFound)
	b.do(t, request{path: "/api/v1/jobs/" + next.ID + "/deliveries?cursor=zz"}).wantProblem(t, http.StatusUnprocessableEntity)

	redeliver := func(id string) response {
		return b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/" + id + "/redeliver"})
	}
	if r := redeliver(next.ID); r.status != http.StatusAccepted || jsonField(t, r.body, "job_id") != next.ID {
		t.Errorf("redeliver: %d %s", r.status, r.body)
	}
	redeliver(prev.ID).wantProblem(t, http.StatusConflict) // no notify
	pending := b.createJob(t, &intake.Job{Notify: &intake.Notify{URL: "https://hooks.example.com/x"}})
	redeliver(pending.ID).wantProblem(t, http.StatusConflict)
	redeliver(intake.NewID()).wantProblem(t, http.StatusNotFound)
	redeliver("nope").wantProblem(t, http.StatusNotFound)
}

// TestJobActionRoutes checks the routes that share one mux pattern with
// GET /api/v1/jobs/{job_id}/changes and .../deliveries: unknown actions,
// other methods and the status and result routes they must not shadow.
func TestJobActionRoutes(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	id := b.trigger(t)
	tests := []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/api/v1/jobs/" + id + "/changes", http.StatusOK},
		{http.MethodGet, "/api/v1/jobs/" + id + "/deliveries", http.StatusOK},
		{http.MethodGet, "/api/v1/jobs/" + id + "/history", http.StatusNotFound},
		{http.MethodPost, "/api/v1/jobs/" + id + "/changes", http.StatusMethodNotAllowed},
		{http.MethodGet, "/api/v1/jobs/status/" + id, http.StatusOK},
		{http.MethodGet, "/api/v1/jobs/result/" + id, http.StatusConflict},
		{http.MethodGet, "/api/v1/jobs/status/changes", http.StatusNotFound},
	}
	for _, tt := range tests {
		r := b.do(t, request{method: tt.method, path: tt.path})
		if tt.want >= 400 {
			r.wantProblem(t, tt.want)
		} else if r.status != tt.want {
			t.Errorf("%s %s: %d %s", tt.method, tt.path, r.status, r.body)
		}
	}
	if b.do(t, request{path: "/api/v1/jobs/" + id + "/changes", noKey: true}).status != http.StatusUnauthorized {
		t.Error("changes without a key")
	}
	if got := b.counter(t, "intake_http_requests_total", map[string]string{"route": "/api/v1/jobs/{job_id}/{action}", "code": "200"}); got != 2 {
		t.Errorf("%v requests counted under the shared route, want 2", got)
	}
}
