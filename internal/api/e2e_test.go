package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/e2etest"
	"github.com/intake-dev/intake/internal/source/filings"
)

// TestEndToEndOneOf triggers a job of each described source type through
// the real HTTP API (SQLite store, file blobs, poll dispatcher, no auth),
// lets the real worker pool collect them, and reads the documents back.
func TestEndToEndOneOf(t *testing.T) {
	t.Parallel()
	stack := e2etest.Start(t, intake.NewSources(filings.New(0), notesSource{}, plainSource{}), e2etest.Options{})

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
			id := stack.Trigger(t, tt.body)
			if j := stack.Wait(t, id); j.Status != "completed" {
				t.Fatalf("job %s: %+v", id, j)
			}
			docs := stack.Documents(t, id)
			n := len(docs)
			var res struct {
				SourceType string `json:"source_type"`
				Summary    struct {
					Documents int `json:"documents"`
				} `json:"summary"`
			}
			e2etest.Decode(t, stack.Get(t, "/api/v1/jobs/result/"+id), &res)
			if res.SourceType != tt.name || res.Summary.Documents != n ||
				(tt.wantDocs > 0 && n != tt.wantDocs) || (tt.wantDocs == 0 && (n < 30 || n > 50)) {
				t.Fatalf("result %+v with %d documents", res, n)
			}
			if first := stack.Content(t, id, docs[0].Seq); !strings.Contains(string(first), tt.wantFirst) {
				t.Fatalf("document 1: %q", first)
			}
			if tt.name == "notes" {
				for i, d := range docs {
					want := fmt.Sprintf("NOTE %d OF 3: BOARD MINUTES\n", i+1)
					if got := stack.Content(t, id, d.Seq); string(got) != want {
						t.Errorf("document %d: %q, want %q", d.Seq, got, want)
					}
				}
			}
		})
	}
}
