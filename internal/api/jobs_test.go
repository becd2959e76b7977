package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/api"
)

func TestTrigger(t *testing.T) {
	t.Parallel()
	b := newBundle(t, func(c *api.Config, _ *api.Deps) { c.MaxBodyBytes = 4096 })
	tests := []struct {
		name       string
		body       string
		wantStatus int
		// wantLocations are field-error locations the problem must name.
		wantLocations []string
	}{
		{"valid", `{"source_type": "filings", "config": ` + validConfig + `}`, http.StatusAccepted, nil},
		{"unknown source type", `{"source_type": "ftp", "config": {}}`, http.StatusUnprocessableEntity, []string{"body.source_type"}},
		{"invalid cin", `{"source_type": "filings", "config": {"cin": "X123", "company_name": "Acme"}}`, http.StatusUnprocessableEntity, []string{"body.config.cin"}},
		{"missing company name", `{"source_type": "filings", "config": {"cin": "L17110MH1973PLC019786"}}`, http.StatusUnprocessableEntity, []string{"body.config.company_name"}},
		{"config not an object", `{"source_type": "filings", "config": "cin"}`, http.StatusUnprocessableEntity, []string{"body.config"}},
		{"missing config", `{"source_type": "filings"}`, http.StatusUnprocessableEntity, nil},
		{"empty source type", `{"source_type": "", "config": {}}`, http.StatusUnprocessableEntity, []string{"body.source_type"}},
		{"unknown field", `{"source_type": "filings", "config": ` + validConfig + `, "priority": 1}`, http.StatusUnprocessableEntity, nil},
		{"malformed JSON", `{"source_type": `, http.StatusBadRequest, nil},
		{"body too large", `{"source_type": "filings", "config": {"pad": "` + strings.Repeat("x", 5000) + `"}}`, http.StatusRequestEntityTooLarge, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/trigger", body: tt.body})
			if tt.wantStatus == http.StatusAccepted {
				if r.status != http.StatusAccepted {
					t.Fatalf("status %d, want 202; body %s", r.status, r.body)
				}
				var out struct {
					JobID  string `json:"job_id"`
					Status string `json:"status"`
					Links  struct {
						Self string `json:"self"`
					} `json:"links"`
				}
				r.decode(t, &out)
				if !intake.ValidID(out.JobID) || out.Status != "pending" {
					t.Fatalf("got %+v", out)
				}
				if loc := r.header.Get("Location"); loc != "/api/v1/jobs/status/"+out.JobID || out.Links.Self != loc {
					t.Fatalf("Location %q, links.self %q", loc, out.Links.Self)
				}
				if !slices.Contains(b.disp.notified(), out.JobID) {
					t.Fatalf("dispatcher not notified of %s", out.JobID)
				}
				return
			}
			p := r.wantProblem(t, tt.wantStatus)
			for _, want := range tt.wantLocations {
				found := false
				for _, e := range p.Errors {
					found = found || e.Location == want
				}
				if !found {
					t.Errorf("no field error at %s in %s", want, r.body)
				}
			}
		})
	}
}

func TestTriggerIdempotency(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	post := func(key, body string) response {
		return b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/trigger", body: body,
			header: map[string]string{"Idempotency-Key": key}})
	}
	idOf := func(r response) string {
		t.Helper()
		if r.status != http.StatusAccepted {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var out struct {
			JobID string `json:"job_id"`
		}
		r.decode(t, &out)
		return out.JobID
	}
	body := `{"source_type": "filings", "config": {"cin": "L17110MH1973PLC019786", "company_name": "Reliance Industries Limited"}}`
	// The same config with its keys in another order and other spacing.
	reordered := `{"config":{"company_name":"Reliance Industries Limited","cin":"L17110MH1973PLC019786"},"source_type":"filings"}`
	other := `{"source_type": "filings", "config": {"cin": "U72200KA2005PTC035000", "company_name": "Other Private Limited"}}`

	first := idOf(post("order-42", body))
	if again := idOf(post("order-42", body)); again != first {
		t.Fatalf("replay created %s, want %s", again, first)
	}
	if again := idOf(post("order-42", reordered)); again != first {
		t.Fatalf("replay with reordered keys created %s, want %s", again, first)
	}
	p := post("order-42", other).wantProblem(t, http.StatusUnprocessableEntity)
	if !strings.Contains(p.Detail, "Idempotency-Key") {
		t.Fatalf("detail %q does not name the header", p.Detail)
	}
	if fresh := idOf(post("order-43", body)); fresh == first {
		t.Fatal("a new key returned the old job")
	}
	if got := b.counter(t, "intake_jobs_create_failures_total", map[string]string{"reason": "conflict"}); got != 1 {
		t.Fatalf("conflict failures = %v, want 1", got)
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	id := b.trigger(t)

	v := b.status(t, id)
	if v.JobID != id || v.Status != "pending" || v.Runs != 0 || v.Progress.Total != nil || v.Progress.Percent != 0 {
		t.Fatalf("new job: %+v", v)
	}
	if _, err := runBatch(t.Context(), b.store, b.blobs, b.sources, id); err != nil {
		t.Fatal(err)
	}
	v = b.status(t, id)
	if v.Status != "pending" || v.Runs != 1 || v.Progress.Total == nil || v.Progress.Collected == 0 {
		t.Fatalf("after one run: %+v", v)
	}
	total := *v.Progress.Total
	wantPct := float64(v.Progress.Collected*1000/total) / 10
	if v.Progress.Percent != wantPct || v.Progress.Collected != intake.BatchSize(total, 0, intake.DefaultBatchFraction, 0) {
		t.Fatalf("progress %+v, want %v %%", v.Progress, wantPct)
	}
	b.complete(t, id)
	if v = b.status(t, id); v.Status != "completed" || v.Progress.Percent != 100 || v.Progress.Collected != total {
		t.Fatalf("completed: %+v", v)
	}

	for _, path := range []string{
		"/api/v1/jobs/status/" + intake.NewID(), // well-formed, unknown
		"/api/v1/jobs/status/not-a-uuid",        // malformed: not found either
	} {
		b.do(t, request{path: path}).wantProblem(t, http.StatusNotFound)
	}
}

func TestResult(t *testing.T) {
	t.Parallel()
	b := newBundle(t)

	pending := b.trigger(t)
	p := b.do(t, request{path: "/api/v1/jobs/result/" + pending}).wantProblem(t, http.StatusConflict)
	if !strings.Contains(p.Detail, "pending") {
		t.Fatalf("409 detail %q does not name the status", p.Detail)
	}

	failed := b.trigger(t)
	owner := "run-failing"
	if _, err := b.store.Claim(t.Context(), intake.ClaimParams{Owner: owner, LeaseTTL: 60e9, JobID: failed}); err != nil {
		t.Fatal(err)
	}
	if err := b.store.Fail(t.Context(), failed, owner, "portal answered 503 five times"); err != nil {
		t.Fatal(err)
	}
	p = b.do(t, request{path: "/api/v1/jobs/result/" + failed}).wantProblem(t, http.StatusConflict)
	if !strings.Contains(p.Detail, "failed") || !strings.Contains(p.Detail, "portal answered 503 five times") {
		t.Fatalf("409 detail %q lacks status or last_error", p.Detail)
	}

	b.do(t, request{path: "/api/v1/jobs/result/" + intake.NewID()}).wantProblem(t, http.StatusNotFound)

	done := b.trigger(t)
	b.complete(t, done)
	total := *b.status(t, done).Progress.Total

	type page struct {
		Status  string `json:"status"`
		Summary struct {
			Documents int `json:"documents"`
			Runs      int `json:"runs"`
		} `json:"summary"`
		Documents []struct {
			Seq    int    `json:"seq"`
			SHA256 string `json:"sha256"`
			Links  struct {
				Content string `json:"content"`
			} `json:"links"`
		} `json:"documents"`
		NextCursor string `json:"next_cursor"`
	}
	var seqs []int
	cursor := ""
	for range 10 {
		r := b.do(t, request{path: "/api/v1/jobs/result/" + done + "?limit=7&cursor=" + cursor})
		if r.status != http.StatusOK {
			t.Fatalf("result: %d %s", r.status, r.body)
		}
		var pg page
		r.decode(t, &pg)
		if pg.Status != "completed" || pg.Summary.Documents != total || pg.Summary.Runs < 3 {
			t.Fatalf("summary: %+v", pg)
		}
		for _, d := range pg.Documents {
			seqs = append(seqs, d.Seq)
			if want := fmt.Sprintf("/api/v1/jobs/%s/documents/%d/content", done, d.Seq); d.Links.Content != want {
				t.Fatalf("content link %q, want %q", d.Links.Content, want)
			}
		}
		if pg.NextCursor == "" {
			break
		}
		cursor = pg.NextCursor
	}
	want := make([]int, total)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(seqs, want) {
		t.Fatalf("paged seqs %v, want 1..%d", seqs, total)
	}

	b.do(t, request{path: "/api/v1/jobs/result/" + done + "?cursor=abc"}).wantProblem(t, http.StatusUnprocessableEntity)
	b.do(t, request{path: "/api/v1/jobs/result/" + done + "?limit=0"}).wantProblem(t, http.StatusUnprocessableEntity)
}

func TestCancel(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	id := b.trigger(t)

	r := b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/" + id + "/cancel"})
	if r.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	var v jobView
	r.decode(t, &v)
	if v.JobID != id || v.Status != "cancelled" {
		t.Fatalf("cancelled job: %+v", v)
	}
	b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/" + id + "/cancel"}).wantProblem(t, http.StatusConflict)
	b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/" + intake.NewID() + "/cancel"}).wantProblem(t, http.StatusNotFound)
	b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/nope/cancel"}).wantProblem(t, http.StatusNotFound)
}

func TestListJobs(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	var ids []string
	for range 5 {
		ids = append(ids, b.trigger(t))
	}
	b.complete(t, ids[0])
	if r := b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/" + ids[1] + "/cancel"}); r.status != http.StatusOK {
		t.Fatalf("cancel: %d", r.status)
	}

	type page struct {
		Jobs       []jobView `json:"jobs"`
		NextCursor string    `json:"next_cursor"`
	}
	list := func(query string) []string {
		t.Helper()
		var got []string
		cursor := ""
		for range 10 {
			r := b.do(t, request{path: "/api/v1/jobs?" + query + "&cursor=" + cursor})
			if r.status != http.StatusOK {
				t.Fatalf("list %s: %d %s", query, r.status, r.body)
			}
			var pg page
			r.decode(t, &pg)
			for _, j := range pg.Jobs {
				got = append(got, j.JobID)
			}
			if pg.NextCursor == "" {
				return got
			}
			cursor = pg.NextCursor
		}
		t.Fatal("paging did not end")
		return nil
	}
	newestFirst := slices.Clone(ids)
	slices.Reverse(newestFirst)

	tests := []struct {
		query string
		want  []string
	}{
		{"limit=2", newestFirst},
		{"limit=50", newestFirst},
		{"status=completed", ids[:1]},
		{"status=cancelled", ids[1:2]},
		{"status=pending&limit=1", newestFirst[:3]},
		{"status=failed", nil},
	}
	for _, tt := range tests {
		if got := list(tt.query); !slices.Equal(got, tt.want) {
			t.Errorf("list %s = %v, want %v", tt.query, got, tt.want)
		}
	}
	b.do(t, request{path: "/api/v1/jobs?status=done"}).wantProblem(t, http.StatusUnprocessableEntity)
	b.do(t, request{path: "/api/v1/jobs?limit=501"}).wantProblem(t, http.StatusUnprocessableEntity)
	b.do(t, request{path: "/api/v1/jobs?cursor=not-a-cursor"}).wantProblem(t, http.StatusUnprocessableEntity)
}

func TestDocumentContent(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	id := b.trigger(t)
	b.complete(t, id)
	total := *b.status(t, id).Progress.Total

	for _, seq := range []int{1, total} {
		path := fmt.Sprintf("/api/v1/jobs/%s/documents/%d/content", id, seq)
		r := b.do(t, request{path: path})
		if r.status != http.StatusOK {
			t.Fatalf("content %d: %d %s", seq, r.status, r.body)
		}
		sum := sha256.Sum256(r.body)
		hexSum := hex.EncodeToString(sum[:])
		doc, err := b.store.GetDocument(t.Context(), id, seq)
		if err != nil {
			t.Fatal(err)
		}
		if r.header.Get("X-Content-SHA256") != hexSum || doc.SHA256 != hexSum {
			t.Fatalf("body sha256 %s, header %s, recorded %s", hexSum, r.header.Get("X-Content-SHA256"), doc.SHA256)
		}
		if r.header.Get("ETag") != `"`+hexSum+`"` {
			t.Fatalf("ETag %q", r.header.Get("ETag"))
		}
		if r.header.Get("Content-Type") != doc.ContentType || r.header.Get("Content-Length") != fmt.Sprint(len(r.body)) {
			t.Fatalf("Content-Type %q (want %q), Content-Length %q (body %d)",
				r.header.Get("Content-Type"), doc.ContentType, r.header.Get("Content-Length"), len(r.body))
		}
		if !strings.Contains(r.header.Get("Content-Disposition"), doc.Name) {
			t.Fatalf("Content-Disposition %q lacks %q", r.header.Get("Content-Disposition"), doc.Name)
		}
		cached := b.do(t, request{path: path, header: map[string]string{"If-None-Match": r.header.Get("ETag")}})
		if cached.status != http.StatusNotModified || len(cached.body) != 0 {
			t.Fatalf("If-None-Match: %d with %d bytes", cached.status, len(cached.body))
		}
	}
	for _, path := range []string{
		fmt.Sprintf("/api/v1/jobs/%s/documents/%d/content", id, total+1),
		fmt.Sprintf("/api/v1/jobs/%s/documents/1/content", intake.NewID()),
		"/api/v1/jobs/bad-id/documents/1/content",
	} {
		b.do(t, request{path: path}).wantProblem(t, http.StatusNotFound)
	}
	b.do(t, request{path: fmt.Sprintf("/api/v1/jobs/%s/documents/0/content", id)}).wantProblem(t, http.StatusUnprocessableEntity)
}

func TestSources(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	r := b.do(t, request{path: "/api/v1/sources"})
	var out struct {
		Sources []struct {
			Type    string          `json:"type"`
			Example json.RawMessage `json:"example"`
		} `json:"sources"`
	}
	r.decode(t, &out)
	if len(out.Sources) != 1 || out.Sources[0].Type != "filings" {
		t.Fatalf("sources: %s", r.body)
	}
	// The example must be a config the source accepts.
	trig := b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/trigger",
		body: `{"source_type": "filings", "config": ` + string(out.Sources[0].Example) + `}`})
	if trig.status != http.StatusAccepted {
		t.Fatalf("the filings example is refused: %d %s", trig.status, trig.body)
	}
}
