package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/e2etest"
	"github.com/intake-dev/intake/internal/source/api"
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

	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
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
	resp, body := call(t, http.MethodPost, st.URL+"/api/v1/jobs/trigger",
		`{"source_type":"api","config":{"url":"http://169.254.169.254/latest/meta-data/"}}`)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "url") {
		t.Fatalf("trigger with metadata address: %d %s", resp.StatusCode, body)
	}

	// A job that collects the five pages.
	cfg := fmt.Sprintf(`{"url":%q,"secret_headers":{"Authorization":"ACME_TOKEN"},"max_pages":20}`, target.URL+"/items?page=1")
	resp, body = call(t, http.MethodPost, st.URL+"/api/v1/jobs/trigger", `{"source_type":"api","config":`+cfg+`}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("trigger: %d %s", resp.StatusCode, body)
	}
	var trig struct {
		JobID string `json:"job_id"`
	}
	if err := json.Unmarshal([]byte(body), &trig); err != nil {
		t.Fatal(err)
	}

	// A job whose API answers 401 (no secret) fails with a clear error.
	resp, body = call(t, http.MethodPost, st.URL+"/api/v1/jobs/trigger",
		fmt.Sprintf(`{"source_type":"api","config":{"url":%q}}`, target.URL+"/items?page=1&key=QUERYVALUE"))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("trigger: %d %s", resp.StatusCode, body)
	}
	var failing struct {
		JobID string `json:"job_id"`
	}
	_ = json.Unmarshal([]byte(body), &failing)

	status := waitStatus(t, st.URL, trig.JobID, "completed")
	if !strings.Contains(status, `"collected":5`) {
		t.Errorf("status: %s", status)
	}
	status = waitStatus(t, st.URL, failing.JobID, "failed")
	if !strings.Contains(status, "401 Unauthorized") || strings.Contains(status, "QUERYVALUE") {
		t.Errorf("failed job's status: %s", status)
	}

	resp, body = call(t, http.MethodGet, st.URL+"/api/v1/jobs/result/"+trig.JobID, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("result: %d %s", resp.StatusCode, body)
	}
	var result struct {
		Documents []struct {
			Seq         int    `json:"seq"`
			Name        string `json:"name"`
			ContentType string `json:"content_type"`
			Links       struct {
				Content string `json:"content"`
			} `json:"links"`
		} `json:"documents"`
	}
	if err := json.Unmarshal([]byte(body), &result); err != nil {
		t.Fatal(err)
	}
	if len(result.Documents) != 5 {
		t.Fatalf("documents: %s", body)
	}
	for i, d := range result.Documents {
		if d.Seq != i+1 || d.Name != fmt.Sprintf("page-%06d.json", i+1) || d.ContentType != "application/json" {
			t.Errorf("document %d: %+v", i+1, d)
		}
		resp, content := call(t, http.MethodGet, st.URL+d.Links.Content, "")
		want := fmt.Sprintf(`{"page":%d,"items":["item-%d"]}`, i+1, i+1)
		if resp.StatusCode != http.StatusOK || content != want || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("content %d: %d %s %q", i+1, resp.StatusCode, resp.Header.Get("Content-Type"), content)
		}
	}
	if strings.Contains(logs.String(), token) {
		t.Error("logs leak the token")
	}
}

// call makes one request and returns the response and its body.
func call(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// waitStatus polls a job's status until it is want, and returns the body.
func waitStatus(t *testing.T, base, id, want string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		_, body := call(t, http.MethodGet, base+"/api/v1/jobs/status/"+id, "")
		last = body
		if strings.Contains(body, `"status":"`+want+`"`) {
			return body
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("job %s not %s: %s", id, want, last)
	return ""
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
