package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/api"
	"github.com/intake-dev/intake/internal/source/filings"
	"github.com/intake-dev/intake/internal/worker"
)

// TestEndToEndOneOf triggers a job of each described source type through
// the real HTTP API (SQLite store, file blobs, poll dispatcher, no auth),
// lets the real worker pool collect them, and reads the documents back.
func TestEndToEndOneOf(t *testing.T) {
	t.Parallel()
	sources := intake.NewSources(filings.New(0), notesSource{}, plainSource{})
	b := newBundle(t, func(c *api.Config, d *api.Deps) {
		c.APIKeys, c.AuthDisabled = nil, true
		d.Sources = sources
	})
	w, err := worker.New(worker.Config{Concurrency: 2, PollInterval: 50 * time.Millisecond},
		b.store, b.blobs, sources, b.disp, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Run(ctx); err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	t.Cleanup(func() { stop(); wg.Wait() })

	tests := []struct {
		name, body string
		// wantDocs is the number of documents; 0 means 30 to 50 (filings).
		wantDocs  int
		wantFirst string
	}{
		{"notes", `{"source_type": "notes", "config": {"title": "Board minutes", "count": 3, "format": {"upper": true}}}`, 3, "NOTE 1 OF 3: BOARD MINUTES\n"},
		{"filings", `{"source_type": "filings", "config": ` + validConfig + `}`, 0, "Reliance Industries Limited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/trigger", body: tt.body, noKey: true})
			if r.status != http.StatusAccepted {
				t.Fatalf("trigger: %d %s", r.status, r.body)
			}
			var trig struct {
				JobID string `json:"job_id"`
			}
			r.decode(t, &trig)

			deadline := time.Now().Add(30 * time.Second)
			for {
				var st jobView
				b.do(t, request{path: "/api/v1/jobs/status/" + trig.JobID, noKey: true}).decode(t, &st)
				if st.Status == "completed" {
					break
				}
				if st.Status == "failed" || time.Now().After(deadline) {
					t.Fatalf("job %s: %+v", trig.JobID, st)
				}
				time.Sleep(50 * time.Millisecond)
			}

			var res struct {
				SourceType string `json:"source_type"`
				Summary    struct {
					Documents int `json:"documents"`
				} `json:"summary"`
				Documents []struct {
					Seq   int `json:"seq"`
					Links struct {
						Content string `json:"content"`
					} `json:"links"`
				} `json:"documents"`
			}
			b.do(t, request{path: "/api/v1/jobs/result/" + trig.JobID + "?limit=500", noKey: true}).decode(t, &res)
			n := len(res.Documents)
			if res.SourceType != tt.name || res.Summary.Documents != n ||
				(tt.wantDocs > 0 && n != tt.wantDocs) || (tt.wantDocs == 0 && (n < 30 || n > 50)) {
				t.Fatalf("result: %+v", res)
			}
			c := b.do(t, request{path: res.Documents[0].Links.Content, noKey: true})
			if c.status != http.StatusOK || !strings.Contains(string(c.body), tt.wantFirst) {
				t.Fatalf("document 1: %d %q", c.status, c.body)
			}
			if tt.name == "notes" {
				for i, d := range res.Documents {
					c := b.do(t, request{path: d.Links.Content, noKey: true})
					if want := fmt.Sprintf("NOTE %d OF 3: BOARD MINUTES\n", i+1); string(c.body) != want {
						t.Errorf("document %d: %q, want %q", d.Seq, c.body, want)
					}
				}
			}
		})
	}
}
