package blob_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob"
	"github.com/intake-dev/intake/internal/blob/azureblob"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	abs := filepath.Join(t.TempDir(), "blobs")
	// Relative paths resolve against the working directory, which every
	// parallel test shares: use one that lives inside this test's temp dir.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, filepath.Join(t.TempDir(), "rel", "blobs"))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, url string
		wantDir   string // for file URLs: where the root must appear
		wantCode  string
		wantMsg   string // a substring of the message
		noLeak    string // a secret the message must not contain
		azure     bool   // opens an Azure bucket (no I/O)
	}{
		{name: "absolute file path", url: "file://" + abs, wantDir: abs},
		{name: "relative file path", url: "file://" + rel, wantDir: rel},
		{name: "empty file path", url: "file://", wantCode: intake.EINVALID, wantMsg: "needs a path"},
		{name: "azblob URL without credentials", url: "azblob://container", wantCode: intake.EINVALID, wantMsg: "needs credentials"},
		{name: "azblob URL with a SAS but no account", url: "azblob://container?sig=s3cr3t", wantCode: intake.EINVALID, wantMsg: "SAS needs an account", noLeak: "s3cr3t"},
		// Azure forms that parse open without I/O (CreateContainer is off);
		// the azureblob package tests them against Azurite.
		{name: "azure connection string", url: "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net", azure: true},
		{name: "azurite shortcut", url: "UseDevelopmentStorage=true", azure: true},
		{name: "unknown scheme", url: "s3://user:s3cr3t@bucket", wantCode: intake.EINVALID, wantMsg: `"s3" is not supported; accepted: file://PATH`, noLeak: "s3cr3t"},
		{name: "no scheme", url: "/var/lib/intake", wantCode: intake.EINVALID, wantMsg: "accepted: file://PATH"},
		{name: "empty", url: "", wantCode: intake.EINVALID, wantMsg: "no scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := blob.Open(t.Context(), tt.url, blob.Options{})
			if tt.wantCode != "" {
				if s != nil {
					s.Close()
				}
				if code := intake.ErrorCode(err); code != tt.wantCode {
					t.Fatalf("Open(%q) error = %v (code %q), want %s", tt.url, err, code, tt.wantCode)
				}
				if msg := intake.ErrorMessage(err); !strings.Contains(msg, tt.wantMsg) || (tt.noLeak != "" && strings.Contains(err.Error(), tt.noLeak)) {
					t.Errorf("Open(%q) error = %q, want it to contain %q and no secret", tt.url, err, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", tt.url, err)
			}
			defer s.Close()
			if tt.azure {
				if _, ok := s.Driver().(*azureblob.Bucket); !ok {
					t.Errorf("Open(%q) has driver %T, want *azureblob.Bucket", tt.url, s.Driver())
				}
				return
			}
			if _, err := s.Put(t.Context(), "k", strings.NewReader("v"), "text/plain"); err != nil {
				t.Fatalf("Put: %v", err)
			}
			if got, err := os.ReadFile(filepath.Join(tt.wantDir, "k")); err != nil || string(got) != "v" {
				t.Errorf("blob at %s = %q, %v; want v", tt.wantDir, got, err)
			}
		})
	}
}

func TestOpenCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := blob.Open(ctx, "file://"+t.TempDir(), blob.Options{}); err == nil {
		t.Error("Open with a cancelled context succeeded")
	}
}
