package api_test

import (
	"bytes"
	"flag"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/api"
	"github.com/intake-dev/intake/internal/source/filings"
)

// update rewrites docs/img/ui.png (see TestWebUI) instead of
// comparing with it. docs/openapi.yaml is cmd/intake's: its TestOpenAPIDoc
// generates it from the sources the binary registers.
var update = flag.Bool("update", false, "rewrite docs/img/ui.png")

// repoFile returns the path of a file relative to the repository root.
func repoFile(parts ...string) string {
	return filepath.Join(append([]string{"..", ".."}, parts...)...)
}

// TestOpenAPIDeterministic checks that the document is reproducible, so
// that the committed docs/openapi.yaml can be compared byte for byte.
func TestOpenAPIDeterministic(t *testing.T) {
	t.Parallel()
	deps := api.Deps{Sources: intake.NewSources(filings.New(0)), NewDemoJob: demoJobs()}
	a, err := api.OpenAPI(deps)
	if err != nil {
		t.Fatal(err)
	}
	b, err := api.OpenAPI(deps)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("OpenAPI is not deterministic")
	}
}

// TestOpenAPIWithoutDemoJobs checks that /create-job is served and
// documented only with a demo-job factory.
func TestOpenAPIWithoutDemoJobs(t *testing.T) {
	t.Parallel()
	doc, err := api.OpenAPI(api.Deps{Sources: intake.NewSources(filings.New(0))})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(doc, []byte("/create-job:")) {
		t.Error("the document describes /create-job without a factory")
	}
	b := newBundle(t, func(_ *api.Config, d *api.Deps) { d.NewDemoJob = nil })
	if r := b.do(t, request{method: http.MethodPost, path: "/create-job", body: `{"num_jobs": 1}`}); r.status != http.StatusNotFound {
		t.Errorf("POST /create-job without a factory: %d %s, want 404", r.status, r.body)
	}
}

// TestOpenAPISecurity checks that the document declares the bearer key on
// exactly the operations the middleware protects: /api/* and /create-job.
func TestOpenAPISecurity(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	r := b.do(t, request{path: "/openapi.json", noKey: true})
	var doc struct {
		Paths map[string]map[string]struct {
			Security []map[string][]string `json:"security"`
		} `json:"paths"`
		Components struct {
			SecuritySchemes map[string]struct {
				Type   string `json:"type"`
				Scheme string `json:"scheme"`
			} `json:"securitySchemes"`
		} `json:"components"`
	}
	r.decode(t, &doc)
	if s := doc.Components.SecuritySchemes["bearer"]; s.Type != "http" || s.Scheme != "bearer" {
		t.Fatalf("bearer scheme: %+v", s)
	}
	ops := 0
	for path, methods := range doc.Paths {
		for method, op := range methods {
			ops++
			protected := strings.HasPrefix(path, "/api/") || path == "/create-job"
			declared := len(op.Security) == 1 && op.Security[0]["bearer"] != nil
			if protected != declared {
				t.Errorf("%s %s: protected %v, declares bearer %v", method, path, protected, declared)
			}
			// The document must match what the server enforces.
			if protected {
				got := b.do(t, request{method: strings.ToUpper(method), path: strings.NewReplacer("{job_id}", "x", "{seq}", "1", "{schedule_id}", "x").Replace(path), noKey: true})
				if got.status != http.StatusUnauthorized {
					t.Errorf("%s %s without a key: %d", method, path, got.status)
				}
			}
		}
	}
	if ops < 10 {
		t.Fatalf("only %d operations in the document", ops)
	}
}
