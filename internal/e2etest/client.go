package e2etest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// waitLimit bounds Wait: a job of the test sources completes in seconds,
// so a job still running after it is stuck.
const waitLimit = 30 * time.Second

// Job is a job's status as GET /api/v1/jobs/status answers it.
type Job struct {
	ID        string `json:"job_id"`
	Status    string `json:"status"`
	LastError string `json:"last_error"`
	Runs      int    `json:"runs"`
	Progress  struct {
		Total     *int `json:"total"`
		Collected int  `json:"collected"`
	} `json:"progress"`
}

// Document is one document of a completed job's result.
type Document struct {
	Seq          int    `json:"seq"`
	Name         string `json:"name"`
	DocumentType string `json:"document_type"`
	ContentType  string `json:"content_type"`
	SizeBytes    int64  `json:"size_bytes"`
	SHA256       string `json:"sha256"`
}

// Do sends a request to the API (a JSON body when body is not empty) and
// returns the status and the body.
func (s *Stack) Do(t testing.TB, method, path, body string) (int, []byte) {
	t.Helper()
	status, b, _ := s.do(t, method, path, body)
	return status, b
}

// do is Do, also returning the response's header.
func (s *Stack) do(t testing.TB, method, path, body string) (int, []byte, http.Header) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}

// Get returns the body of GET path; any status but 200 fails the test.
func (s *Stack) Get(t testing.TB, path string) []byte {
	t.Helper()
	status, b := s.Do(t, http.MethodGet, path, "")
	if status != http.StatusOK {
		t.Fatalf("GET %s = %d %s, want 200", path, status, b)
	}
	return b
}

// Trigger posts body to /api/v1/jobs/trigger and returns the new job's id;
// any answer but 202 fails the test.
func (s *Stack) Trigger(t testing.TB, body string) string {
	t.Helper()
	status, b := s.Do(t, http.MethodPost, "/api/v1/jobs/trigger", body)
	if status != http.StatusAccepted {
		t.Fatalf("trigger = %d %s, want 202", status, b)
	}
	var out struct {
		JobID string `json:"job_id"`
	}
	Decode(t, b, &out)
	return out.JobID
}

// Wait polls the job's status until the job is completed, failed or
// cancelled, and returns it. A job still running after 30 s fails the
// test.
func (s *Stack) Wait(t testing.TB, jobID string) Job {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		var j Job
		Decode(t, s.Get(t, "/api/v1/jobs/status/"+url.PathEscape(jobID)), &j)
		switch j.Status {
		case "completed", "failed", "cancelled":
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after %s", jobID, j.Status, waitLimit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Documents returns every document of a completed job, reading all pages
// of its result.
func (s *Stack) Documents(t testing.TB, jobID string) []Document {
	t.Helper()
	var docs []Document
	cursor := ""
	for {
		var page struct {
			Documents  []Document `json:"documents"`
			NextCursor string     `json:"next_cursor"`
		}
		Decode(t, s.Get(t, "/api/v1/jobs/result/"+url.PathEscape(jobID)+"?limit=500&cursor="+url.QueryEscape(cursor)), &page)
		docs = append(docs, page.Documents...)
		if page.NextCursor == "" {
			return docs
		}
		cursor = page.NextCursor
	}
}

// Content returns the bytes of a job's document seq.
func (s *Stack) Content(t testing.TB, jobID string, seq int) []byte {
	t.Helper()
	b, _ := s.TypedContent(t, jobID, seq)
	return b
}

// TypedContent returns the bytes of a job's document seq and the
// Content-Type the API serves them with; any status but 200 fails the test.
func (s *Stack) TypedContent(t testing.TB, jobID string, seq int) ([]byte, string) {
	t.Helper()
	path := "/api/v1/jobs/" + url.PathEscape(jobID) + "/documents/" + strconv.Itoa(seq) + "/content"
	status, b, h := s.do(t, http.MethodGet, path, "")
	if status != http.StatusOK {
		t.Fatalf("GET %s = %d %s, want 200", path, status, b)
	}
	return b, h.Get("Content-Type")
}

// Decode unmarshals JSON into v, failing the test on bad JSON.
func Decode(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
