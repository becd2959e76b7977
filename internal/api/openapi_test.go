package api_test

import (
	"bytes"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intake-dev/intake/internal/api"
)

// update rewrites generated artefacts (docs/openapi.yaml, docs/img/ui.png)
// instead of comparing with them.
var update = flag.Bool("update", false, "rewrite docs/openapi.yaml and docs/img/ui.png")

// repoFile returns the path of a file relative to the repository root.
func repoFile(parts ...string) string {
	return filepath.Join(append([]string{"..", ".."}, parts...)...)
}

// TestOpenAPI fails when docs/openapi.yaml differs from the document the
// server serves. Regenerate it with
// `go test ./internal/api -run TestOpenAPI -update`.
func TestOpenAPI(t *testing.T) {
	t.Parallel()
	got, err := api.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	path := repoFile("docs", "openapi.yaml")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v; generate it with: go test ./internal/api -run TestOpenAPI -update", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("docs/openapi.yaml is stale; regenerate it with: go test ./internal/api -run TestOpenAPI -update")
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
				got := b.do(t, request{method: strings.ToUpper(method), path: strings.NewReplacer("{job_id}", "x", "{seq}", "1").Replace(path), noKey: true})
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
