package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/e2etest"
	"github.com/intake-dev/intake/internal/source/api"
	"github.com/intake-dev/intake/internal/testenv"
)

// TestEndToEnd triggers api jobs through the HTTP API and lets a real
// worker collect them from a loopback API into SQLite and file blobs.
func TestEndToEnd(t *testing.T) {
	t.Parallel()

	// The collected API: five pages linked by Link headers, bearer token
	// required.
	const token = "e2e-token-value"
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		p, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if p < 5 {
			w.Header().Set("Link", fmt.Sprintf(`</items?page=%d>; rel="next"`, p+1))
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"page":%d,"items":["item-%d"]}`, p, p)
	}))
	t.Cleanup(target.Close)

	var logs testenv.Buffer
	logger := logs.Logger()
	src, err := api.New(api.Options{
		Allow:   []string{"127.0.0.1/32"},
		Secrets: map[string]api.Secret{"ACME_TOKEN": {Value: "Bearer " + token, Hosts: []string{"127.0.0.1"}}},
		Logger:  logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	sources := intake.NewSources(src)

	st := e2etest.Start(t, sources, e2etest.Options{Logger: logger})

	// A refused address is a 422 at trigger time.
	code, body := st.Do(t, http.MethodPost, "/api/v1/jobs/trigger",
		`{"source_type":"api","config":{"url":"http://169.254.169.254/latest/meta-data/"}}`)
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), "url") {
		t.Fatalf("trigger with metadata address: %d %s", code, body)
	}

	// A job that collects the five pages.
	cfg := fmt.Sprintf(`{"url":%q,"secret_headers":{"Authorization":"ACME_TOKEN"},"max_pages":20}`, target.URL+"/items?page=1")
	id := st.Trigger(t, `{"source_type":"api","config":`+cfg+`}`)

	// A job whose API answers 401 (no secret) fails with a clear error.
	failing := st.Trigger(t, fmt.Sprintf(`{"source_type":"api","config":{"url":%q}}`, target.URL+"/items?page=1&key=QUERYVALUE"))

	if j := st.Wait(t, id); j.Status != "completed" || j.Progress.Collected != 5 {
		t.Errorf("job %s, %d collected, last error %q; want completed with 5", j.Status, j.Progress.Collected, j.LastError)
	}
	if j := st.Wait(t, failing); j.Status != "failed" || !strings.Contains(j.LastError, "401 Unauthorized") {
		t.Errorf("failed job: %s, last error %q; want failed with 401 Unauthorized", j.Status, j.LastError)
	}
	if status := st.Get(t, "/api/v1/jobs/status/"+failing); strings.Contains(string(status), "QUERYVALUE") {
		t.Errorf("failed job's status quotes the query: %s", status)
	}

	docs := st.Documents(t, id)
	if len(docs) != 5 {
		t.Fatalf("documents: %+v", docs)
	}
	for i, d := range docs {
		if d.Seq != i+1 || d.Name != fmt.Sprintf("page-%06d.json", i+1) || d.ContentType != "application/json" {
			t.Errorf("document %d: %+v", i+1, d)
		}
		content, ctype := st.TypedContent(t, id, d.Seq)
		want := fmt.Sprintf(`{"page":%d,"items":["item-%d"]}`, i+1, i+1)
		if string(content) != want || ctype != "application/json" {
			t.Errorf("content %d: %s %q", i+1, ctype, content)
		}
	}
	if strings.Contains(logs.String(), token) {
		t.Error("logs leak the token")
	}
}
