package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url      string
		wantPath string
		wantCode string
		wantMsg  string // a substring of the error message
	}{
		{url: "sqlite://./data/intake.db", wantPath: "./data/intake.db"},
		{url: "sqlite://data/intake.db", wantPath: "data/intake.db"},
		{url: "sqlite:///var/lib/intake/intake.db", wantPath: "/var/lib/intake/intake.db"},
		{url: "SQLite://intake.db", wantPath: "intake.db"},
		{url: "sqlite://dir with space/a?b.db", wantPath: "dir with space/a?b.db"},
		{url: "", wantCode: intake.EINVALID, wantMsg: "empty"},
		{url: "sqlite://", wantCode: intake.EINVALID, wantMsg: "no path"},
		{url: "intake.db", wantCode: intake.EINVALID, wantMsg: "no scheme"},
		{url: "sqlite:intake.db", wantCode: intake.EINVALID, wantMsg: "no scheme"},
		{url: "postgres://app:s3cret@db:5432/intake"},
		{url: "postgresql://app:s3cret@db/intake?sslmode=require"},
		{url: "mongodb://root:s3cret@mongo:27017/intake"},
		{url: "mongodb+srv://u:s3cret@cluster0.example.net/intake"},
		{url: "mysql://u:s3cret@db/intake", wantCode: intake.EINVALID, wantMsg: "accepted: sqlite://"},
		{url: "file:///tmp/intake.db", wantCode: intake.EINVALID, wantMsg: `"file" is not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			_, path, err := parse(tt.url)
			if got := intake.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("parse(%q) error %v (code %q), want code %q", tt.url, err, got, tt.wantCode)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("error %q does not say %q", err, tt.wantMsg)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q leaks the password", err)
				}
				return
			}
			if path != tt.wantPath {
				t.Errorf("parse(%q) path = %q, want %q", tt.url, path, tt.wantPath)
			}
		})
	}
}

func TestOpenSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nested", "dir", "intake.db")
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := Open(t.Context(), "sqlite://"+path, Options{Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file not created: %v", err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	jobs, err := s.CreateJobs(t.Context(), []*intake.Job{{SourceType: "filings", Config: []byte(`{}`)}})
	if err != nil {
		t.Fatalf("CreateJobs: %v", err)
	}
	if !jobs[0].CreatedAt.Equal(now) {
		t.Errorf("CreatedAt = %v, want the injected clock's %v", jobs[0].CreatedAt, now)
	}
}

func TestOpenSQLiteUnwritableDirectory(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A directory cannot be created below a regular file.
	_, err := Open(t.Context(), "sqlite://"+filepath.Join(file, "sub", "intake.db"), Options{})
	if got := intake.ErrorCode(err); got != intake.EUNAVAILABLE {
		t.Errorf("Open below a file: error %v (code %q), want %q", err, got, intake.EUNAVAILABLE)
	}
}
