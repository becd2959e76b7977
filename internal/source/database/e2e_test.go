package database_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/e2etest"
	"github.com/intake-dev/intake/internal/source/database"
	"github.com/intake-dev/intake/internal/worker"
)

// newE2E starts the API over a real SQLite store and file blobs, with a
// worker pool running the database source against the test PostgreSQL.
func newE2E(t *testing.T, src *database.Source) *e2etest.Stack {
	t.Helper()
	return e2etest.Start(t, intake.NewSources(src), e2etest.Options{
		Worker: worker.Config{BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond},
	})
}

// trigger posts a database job and returns its id.
func trigger(t *testing.T, e *e2etest.Stack, config string) string {
	t.Helper()
	return e.Trigger(t, `{"source_type":"database","config":`+config+`}`)
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
		id := trigger(t, e, `{"connection":"main","query":"SELECT id, name, amount FROM t WHERE id > $1","params":[0],"key":["id"],"rows_per_document":10}`)
		j := e.Wait(t, id)
		if j.Status != "completed" {
			t.Fatalf("job %s: %s", j.Status, j.LastError)
		}
		if j.Runs < 2 {
			t.Errorf("runs = %d, want several", j.Runs)
		}
		docs := e.Documents(t, id)
		if len(docs) != 3 {
			t.Fatalf("documents %+v, want 3", docs)
		}
		var all strings.Builder
		for i, d := range docs {
			if d.Seq != i+1 || d.ContentType != database.ContentTypeNDJSON || d.Name != fmt.Sprintf("rows-%06d.ndjson", i+1) {
				t.Errorf("document %+v", d)
			}
			content, ctype := e.TypedContent(t, id, d.Seq)
			if ctype != database.ContentTypeNDJSON {
				t.Fatalf("content %d: %s %s", d.Seq, ctype, content)
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
		id := trigger(t, e, `{"connection":"MAIN","query":"SELECT id, flag FROM t WHERE id <= 3","key":["id"],"format":"csv"}`)
		if j := e.Wait(t, id); j.Status != "completed" {
			t.Fatalf("job %s: %s", j.Status, j.LastError)
		}
		content, ctype := e.TypedContent(t, id, 1)
		if !strings.HasPrefix(ctype, "text/csv") {
			t.Fatalf("content type %s", ctype)
		}
		if want := "id,flag\n1,false\n2,true\n3,false\n"; string(content) != want {
			t.Errorf("csv %q, want %q", content, want)
		}
	})

	t.Run("a write fails the job and changes nothing", func(t *testing.T) {
		id := trigger(t, e, `{"connection":"main","query":"SELECT 1 AS id; DROP TABLE t","key":["id"]}`)
		if j := e.Wait(t, id); j.Status != "failed" || !strings.Contains(j.LastError, "42601") {
			t.Errorf("job %s, last_error %q; want failed with 42601", j.Status, j.LastError)
		}
		if n := b.count(t); n != 25 {
			t.Errorf("t has %d rows, want 25", n)
		}
	})

	t.Run("unknown connection is a 422 naming the known ones", func(t *testing.T) {
		code, body := e.Do(t, http.MethodPost, "/api/v1/jobs/trigger", `{"source_type":"database","config":{"connection":"prod","query":"SELECT 1 AS id","key":["id"]}}`)
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(body), "MAIN, OTHER") || !strings.Contains(string(body), "body.config.connection") {
			t.Errorf("trigger: %d %s", code, body)
		}
	})
}
