package database_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/e2etest"
	"github.com/intake-dev/intake/internal/source/database"
	"github.com/intake-dev/intake/internal/worker"
)

// e2e is the API over a real SQLite store and file blobs, with a worker
// pool running the database source against the test PostgreSQL.
type e2e struct {
	url    string
	client *http.Client
}

func newE2E(t *testing.T, src *database.Source) *e2e {
	t.Helper()
	st := e2etest.Start(t, intake.NewSources(src), e2etest.Options{
		Worker: worker.Config{BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond},
	})
	return &e2e{url: st.URL, client: st.Client}
}

func (e *e2e) call(t *testing.T, method, path, body string) (int, []byte, http.Header) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
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

// trigger posts a database job and returns its id.
func (e *e2e) trigger(t *testing.T, config string) string {
	t.Helper()
	status, body, _ := e.call(t, http.MethodPost, "/api/v1/jobs/trigger", `{"source_type":"database","config":`+config+`}`)
	if status != http.StatusAccepted {
		t.Fatalf("trigger: %d %s", status, body)
	}
	var out struct {
		JobID string `json:"job_id"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out.JobID
}

// wait polls the job's status until it is completed or failed.
func (e *e2e) wait(t *testing.T, id string) (status, lastError string, runs int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		code, body, _ := e.call(t, http.MethodGet, "/api/v1/jobs/status/"+id, "")
		if code != http.StatusOK {
			t.Fatalf("status: %d %s", code, body)
		}
		var v struct {
			Status    string `json:"status"`
			LastError string `json:"last_error"`
			Runs      int    `json:"runs"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		if v.Status == "completed" || v.Status == "failed" {
			return v.Status, v.LastError, v.Runs
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("job %s did not finish", id)
	return "", "", 0
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	for i := 1; i <= 25; i++ {
		b.insertRows(t, i)
	}
	// MaxRows 50 bounds the job at 5 documents of 10 rows, so the worker
	// collects 35 % of that bound per run: several runs, each resuming
	// from the checkpoint in the store.
	src := b.source(t, func(o *database.Options) { o.MaxRows = 50 })
	e := newE2E(t, src)

	t.Run("ndjson completes in several runs", func(t *testing.T) {
		id := e.trigger(t, `{"connection":"main","query":"SELECT id, name, amount FROM t WHERE id > $1","params":[0],"key":["id"],"rows_per_document":10}`)
		status, lastErr, runs := e.wait(t, id)
		if status != "completed" {
			t.Fatalf("job %s: %s", status, lastErr)
		}
		if runs < 2 {
			t.Errorf("runs = %d, want several", runs)
		}
		code, body, _ := e.call(t, http.MethodGet, "/api/v1/jobs/result/"+id, "")
		if code != http.StatusOK {
			t.Fatalf("result: %d %s", code, body)
		}
		var res struct {
			Documents []struct {
				Seq         int    `json:"seq"`
				Name        string `json:"name"`
				ContentType string `json:"content_type"`
			} `json:"documents"`
		}
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatal(err)
		}
		if len(res.Documents) != 3 {
			t.Fatalf("documents %+v, want 3", res.Documents)
		}
		var all strings.Builder
		for i, d := range res.Documents {
			if d.Seq != i+1 || d.ContentType != database.ContentTypeNDJSON || d.Name != fmt.Sprintf("rows-%06d.ndjson", i+1) {
				t.Errorf("document %+v", d)
			}
			code, content, hdr := e.call(t, http.MethodGet, fmt.Sprintf("/api/v1/jobs/%s/documents/%d/content", id, d.Seq), "")
			if code != http.StatusOK || hdr.Get("Content-Type") != database.ContentTypeNDJSON {
				t.Fatalf("content %d: %d %s %s", d.Seq, code, hdr.Get("Content-Type"), content)
			}
			all.Write(content)
		}
		lines := strings.Split(strings.TrimSuffix(all.String(), "\n"), "\n")
		if len(lines) != 25 {
			t.Fatalf("%d rows, want 25", len(lines))
		}
		for i, l := range lines {
			want := fmt.Sprintf(`{"id":%d,"name":"row %d","amount":%d.50}`, i+1, i+1, i+1)
			if l != want {
				t.Errorf("row %d = %s, want %s", i+1, l, want)
			}
		}
	})

	t.Run("csv", func(t *testing.T) {
		id := e.trigger(t, `{"connection":"MAIN","query":"SELECT id, flag FROM t WHERE id <= 3","key":["id"],"format":"csv"}`)
		if status, lastErr, _ := e.wait(t, id); status != "completed" {
			t.Fatalf("job %s: %s", status, lastErr)
		}
		code, content, hdr := e.call(t, http.MethodGet, "/api/v1/jobs/"+id+"/documents/1/content", "")
		if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
			t.Fatalf("content: %d %s", code, hdr.Get("Content-Type"))
		}
		if want := "id,flag\n1,false\n2,true\n3,false\n"; string(content) != want {
			t.Errorf("csv %q, want %q", content, want)
		}
	})

	t.Run("a write fails the job and changes nothing", func(t *testing.T) {
		id := e.trigger(t, `{"connection":"main","query":"SELECT 1 AS id; DROP TABLE t","key":["id"]}`)
		status, lastErr, _ := e.wait(t, id)
		if status != "failed" || !strings.Contains(lastErr, "42601") {
			t.Errorf("job %s, last_error %q; want failed with 42601", status, lastErr)
		}
		if n := b.count(t); n != 25 {
			t.Errorf("t has %d rows, want 25", n)
		}
	})

	t.Run("unknown connection is a 422 naming the known ones", func(t *testing.T) {
		code, body, _ := e.call(t, http.MethodPost, "/api/v1/jobs/trigger", `{"source_type":"database","config":{"connection":"prod","query":"SELECT 1 AS id","key":["id"]}}`)
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), "MAIN, OTHER") || !strings.Contains(string(body), "body.config.connection") {
			t.Errorf("trigger: %d %s", code, body)
		}
	})
}
