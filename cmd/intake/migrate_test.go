package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intake-dev/intake/internal/testenv"
)

// TestMigrateOpensOnlyTheJobStore runs `intake migrate` with blob storage
// and Redis settings that cannot be opened: the one-shot migration of the
// Compose stack and the Helm hook get only the database URL, so migrate
// must succeed on the job store alone, and serve must then find the schema
// current (it fails on the blob store instead, proving the setting is bad).
func TestMigrateOpensOnlyTheJobStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A regular file where the blob directory's parent should be: mkdir
	// fails with "not a directory", as /data/blobs on a read-only root does.
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	environ := []string{
		"INTAKE_DATABASE_URL=sqlite://" + filepath.Join(dir, "intake.db"),
		"INTAKE_BLOB_URL=file://" + filepath.Join(notDir, "blobs"),
		"INTAKE_DISPATCH=redis",
		"INTAKE_REDIS_URL=redis://127.0.0.1:1/0",
		"INTAKE_LOG_LEVEL=warn",
		"INTAKE_API_KEYS=test-key-1",
		"INTAKE_HTTP_ADDR=127.0.0.1:0",
	}
	var out, errb testenv.Buffer
	if err := run(context.Background(), []string{"migrate"}, environ, &out, &errb); err != nil {
		t.Fatalf("migrate with unusable blob and Redis settings: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "schema is up to date") {
		t.Fatalf("migrate printed %q", out.String())
	}
	err := run(context.Background(), []string{"serve"}, environ, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "INTAKE_BLOB_URL") {
		t.Fatalf("serve after migrate = %v, want the blob store's error (the schema is current)", err)
	}
}
