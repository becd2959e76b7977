//go:build unix

package file_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/e2etest"
	"github.com/intake-dev/intake/internal/source/file"
)

// TestEndToEnd triggers a file job through the HTTP API over a real SQLite
// store, file blobs and a running worker, and reads its documents back.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	want := map[string]string{
		"in/a.txt":      "alpha",
		"in/deep/b.csv": "x,y\n1,2\n",
		"in/deep/c.txt": "gamma",
	}
	for name, content := range want {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "in", "escape.txt")); err != nil {
		t.Fatal(err)
	}

	logger := slog.New(slog.DiscardHandler)
	src, err := file.New(file.Options{Root: root, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	sources := intake.NewSources(src)
	srv := e2etest.Start(t, sources, e2etest.Options{Logger: logger})

	// A hostile pattern is a 422 naming the field.
	resp := post(t, srv.URL+"/api/v1/jobs/trigger", `{"source_type": "file", "config": {"pattern": "../../etc/*"}}`)
	if resp.StatusCode != http.StatusUnprocessableEntity || !bytes.Contains(resp.body, []byte("body.config.pattern")) {
		t.Fatalf("trigger with ../ = %d %s, want 422 on body.config.pattern", resp.StatusCode, resp.body)
	}

	resp = post(t, srv.URL+"/api/v1/jobs/trigger", `{"source_type": "file", "config": {"pattern": "in/**"}}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("trigger = %d %s", resp.StatusCode, resp.body)
	}
	var trig struct {
		JobID string `json:"job_id"`
	}
	mustDecode(t, resp.body, &trig)

	var status struct {
		Status    string `json:"status"`
		LastError string `json:"last_error"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mustDecode(t, get(t, srv.URL+"/api/v1/jobs/status/"+trig.JobID, http.StatusOK), &status)
		if status.Status == "completed" || status.Status == "failed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status.Status != "completed" {
		t.Fatalf("job %s, last error %q; want completed", status.Status, status.LastError)
	}

	var result struct {
		Documents []struct {
			Seq          int    `json:"seq"`
			Name         string `json:"name"`
			DocumentType string `json:"document_type"`
			ContentType  string `json:"content_type"`
			SizeBytes    int64  `json:"size_bytes"`
			SHA256       string `json:"sha256"`
		} `json:"documents"`
	}
	mustDecode(t, get(t, srv.URL+"/api/v1/jobs/result/"+trig.JobID, http.StatusOK), &result)
	wantNames := []string{"in/a.txt", "in/deep/b.csv", "in/deep/c.txt", file.ReportName}
	if len(result.Documents) != len(wantNames) {
		t.Fatalf("documents = %+v, want %q", result.Documents, wantNames)
	}
	for i, d := range result.Documents {
		if d.Name != wantNames[i] || d.Seq != i+1 {
			t.Errorf("document %d = %q (seq %d), want %q", i+1, d.Name, d.Seq, wantNames[i])
		}
		body := get(t, srv.URL+"/api/v1/jobs/"+trig.JobID+"/documents/"+strconv.Itoa(d.Seq)+"/content", http.StatusOK)
		sum := sha256.Sum256(body)
		if d.SHA256 != hex.EncodeToString(sum[:]) || d.SizeBytes != int64(len(body)) {
			t.Errorf("%s: sha256/size in the result do not match the content", d.Name)
		}
		if content, ok := want[d.Name]; ok && string(body) != content {
			t.Errorf("%s: content %q, want %q", d.Name, body, content)
		}
		if d.Name == file.ReportName {
			if d.DocumentType != file.ReportType || !bytes.Contains(body, []byte(`"in/escape.txt"`)) {
				t.Errorf("report %s %s does not list the escaping symlink", d.DocumentType, body)
			}
			if bytes.Contains(body, []byte("root:")) {
				t.Error("the report leaked /etc/passwd")
			}
		}
	}
	if d := result.Documents[1]; d.DocumentType != "csv" || d.ContentType != "text/csv; charset=utf-8" {
		t.Errorf("b.csv: type %q content type %q", d.DocumentType, d.ContentType)
	}
}

type response struct {
	StatusCode int
	body       []byte
}

func post(t *testing.T, url, body string) response {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewBufferString(body)) //nolint:noctx // test against a loopback server
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, b}
}

func get(t *testing.T, url string, wantStatus int) []byte {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx // test against a loopback server
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s = %d %s, want %d", url, resp.StatusCode, b, wantStatus)
	}
	return b
}

func mustDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
