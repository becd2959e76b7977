package main

import (
	"bytes"
	"flag"
	"log/slog"
	"os"
	"testing"

	"github.com/intake-dev/intake/internal/api"
	"github.com/intake-dev/intake/internal/config"
)

var update = flag.Bool("update", false, "rewrite docs/openapi.yaml")

// TestOpenAPIDoc fails when docs/openapi.yaml differs from the document the
// binary serves with its default configuration; -update rewrites it.
func TestOpenAPIDoc(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	sources, err := newSources(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got, err := api.OpenAPI(api.Deps{Sources: sources, NewDemoJob: newDemoJob})
	if err != nil {
		t.Fatal(err)
	}
	const path = "../../docs/openapi.yaml"
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/openapi.yaml is stale: go test ./cmd/intake -run TestOpenAPIDoc -update")
	}
	for _, typ := range []string{"filings", "api", "database", "file"} {
		src, ok := sources[typ]
		if !ok {
			t.Errorf("source %q is not registered", typ)
			continue
		}
		if _, ok := src.(api.ConfigDescriber); !ok {
			t.Errorf("source %q does not describe its config (api.ConfigDescriber)", typ)
		}
	}
}
