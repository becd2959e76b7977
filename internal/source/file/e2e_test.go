//go:build unix

package file_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"

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
	status, body := srv.Do(t, http.MethodPost, "/api/v1/jobs/trigger", `{"source_type": "file", "config": {"pattern": "../../etc/*"}}`)
	if status != http.StatusUnprocessableEntity || !bytes.Contains(body, []byte("body.config.pattern")) {
		t.Fatalf("trigger with ../ = %d %s, want 422 on body.config.pattern", status, body)
	}

	id := srv.Trigger(t, `{"source_type": "file", "config": {"pattern": "in/**"}}`)
	if j := srv.Wait(t, id); j.Status != "completed" {
		t.Fatalf("job %s, last error %q; want completed", j.Status, j.LastError)
	}

	docs := srv.Documents(t, id)
	wantNames := []string{"in/a.txt", "in/deep/b.csv", "in/deep/c.txt", file.ReportName}
	if len(docs) != len(wantNames) {
		t.Fatalf("documents = %+v, want %q", docs, wantNames)
	}
	for i, d := range docs {
		if d.Name != wantNames[i] || d.Seq != i+1 {
			t.Errorf("document %d = %q (seq %d), want %q", i+1, d.Name, d.Seq, wantNames[i])
		}
		body := srv.Content(t, id, d.Seq)
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
	if d := docs[1]; d.DocumentType != "csv" || d.ContentType != "text/csv; charset=utf-8" {
		t.Errorf("b.csv: type %q content type %q", d.DocumentType, d.ContentType)
	}
}
