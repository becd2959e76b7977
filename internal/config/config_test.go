package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite docs/CONFIG.md")

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != "127.0.0.1:8000" || cfg.MetricsAddr != ":9100" || cfg.BatchFraction != 3500 ||
		cfg.LeaseTTL != time.Minute || cfg.MaxAttempts != 5 || cfg.WorkerConcurrency != 4 ||
		cfg.WorkerPollInterval != time.Second || cfg.FilingsDelay != time.Second || cfg.LogFormat != "json" {
		t.Errorf("unexpected defaults: %+v", cfg)
	}
	if got := cfg.StoreURL(); got != "sqlite://data/intake.db" {
		t.Errorf("StoreURL = %q", got)
	}
	if got := cfg.BlobStoreURL(); got != "file://data/blobs" {
		t.Errorf("BlobStoreURL = %q", got)
	}
}

func TestLoadAliasesAndFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keyFile, []byte("k1, k2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		environ []string
		check   func(*Config) string
	}{
		{"alias used when unset", []string{"MONGO_URI=mongodb://m/x", "JOB_ID=j1", "AZURE_CONTAINER=c"}, func(c *Config) string {
			if c.DatabaseURL != "mongodb://m/x" || c.JobID != "j1" || c.BlobContainer != "c" {
				return "aliases not applied"
			}
			return ""
		}},
		{"INTAKE_ wins over alias", []string{"MONGO_URI=mongodb://m/x", "INTAKE_DATABASE_URL=sqlite://a.db"}, func(c *Config) string {
			if c.DatabaseURL != "sqlite://a.db" {
				return "precedence wrong: " + c.DatabaseURL
			}
			return ""
		}},
		{"AZURE_BLOB_CONN alone selects Azure", []string{"AZURE_BLOB_CONN=DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k"}, func(c *Config) string {
			if !strings.HasPrefix(c.BlobStoreURL(), "DefaultEndpointsProtocol=") {
				return "blob URL " + c.BlobStoreURL()
			}
			return ""
		}},
		{"_FILE form of a secret", []string{"INTAKE_API_KEYS_FILE=" + keyFile}, func(c *Config) string {
			if len(c.APIKeys) != 2 || c.APIKeys[0] != "k1" || c.APIKeys[1] != "k2" {
				return "keys " + strings.Join(c.APIKeys, "|")
			}
			return ""
		}},
		{"plain value wins over _FILE", []string{"INTAKE_API_KEYS=x", "INTAKE_API_KEYS_FILE=" + keyFile}, func(c *Config) string {
			if len(c.APIKeys) != 1 || c.APIKeys[0] != "x" {
				return "keys " + strings.Join(c.APIKeys, "|")
			}
			return ""
		}},
		{"zero filings delay allowed", []string{"INTAKE_FILINGS_DELAY=0"}, func(c *Config) string {
			if c.FilingsDelay != 0 {
				return "delay not zero"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Load(tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(cfg); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func TestLoadInvalidNamesVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env, want string
	}{
		{"INTAKE_LEASE_TTL=soon", "INTAKE_LEASE_TTL"},
		{"INTAKE_BATCH_FRACTION=1.5", "INTAKE_BATCH_FRACTION"},
		{"INTAKE_MAX_ATTEMPTS=0", "INTAKE_MAX_ATTEMPTS"},
		{"INTAKE_MAX_ATTEMPTS=many", "INTAKE_MAX_ATTEMPTS"},
		{"INTAKE_WORKER_CONCURRENCY=0", "INTAKE_WORKER_CONCURRENCY"},
		{"INTAKE_AUTH=maybe", "INTAKE_AUTH"},
		{"INTAKE_HTTP_ADDR=nohostport", "INTAKE_HTTP_ADDR"},
		{"INTAKE_FILINGS_DELAY=-1s", "INTAKE_FILINGS_DELAY"},
		{"INTAKE_API_KEYS_FILE=/nonexistent/keys", "INTAKE_API_KEYS_FILE"},
		{"INTAKE_API_KEYS=a,,b", "INTAKE_API_KEYS"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			t.Parallel()
			_, err := Load([]string{tt.env})
			if err == nil {
				t.Fatal("Load succeeded, want error")
			}
			if !strings.HasPrefix(err.Error(), tt.want+":") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q does not start with %s: or is not one line", err, tt.want)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, secret string }{
		{"postgres://user:hunter2@db:5432/x", "hunter2"},
		{"mongodb+srv://u:s3cr3t@cluster0.example.net/intake", "s3cr3t"},
		{"DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net", "c2VjcmV0"},
		{"azblob://docs?sig=abcdef", "abcdef"},
		{"BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=sv=2020&sig=zzz", "sig=zzz"},
	}
	for _, tt := range tests {
		got := Redact(tt.in)
		if strings.Contains(got, tt.secret) {
			t.Errorf("Redact(%q) = %q still holds the secret", tt.in, got)
		}
	}
	if got := Redact("sqlite://data/intake.db"); got != "sqlite://data/intake.db" {
		t.Errorf("Redact changed a secret-free URL: %q", got)
	}
}

// TestConfigDoc fails when docs/CONFIG.md is stale; -update rewrites it.
func TestConfigDoc(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "docs", "CONFIG.md")
	want := Markdown()
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("docs/CONFIG.md is stale: run go test ./internal/config -run TestConfigDoc -update")
	}
	for _, f := range Fields() {
		if f.Desc == "" {
			t.Errorf("%s has no desc tag", f.Name)
		}
	}
}

func TestLoadNamedSecretsAndConnections(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load([]string{
		"INTAKE_SECRET_GITHUB=tok1",
		"INTAKE_SECRET_GITHUB_HOSTS=API.github.com, uploads.github.com",
		"INTAKE_SECRET_REGISTRY_FILE=" + tokenFile,
		"INTAKE_SECRET_REGISTRY_HOSTS=registry.example",
		"INTAKE_SOURCE_DB_REPORTING_URL=postgres://ro@db/reporting",
		"INTAKE_SOURCE_DB_LEDGER_URL_FILE=" + tokenFile,
	})
	if err != nil {
		t.Fatal(err)
	}
	gh := cfg.Secrets["GITHUB"]
	if gh.Value != "tok1" || strings.Join(gh.Hosts, ",") != "api.github.com,uploads.github.com" {
		t.Errorf("GITHUB = %+v", gh)
	}
	if reg := cfg.Secrets["REGISTRY"]; reg.Value != "from-file" || len(reg.Hosts) != 1 {
		t.Errorf("REGISTRY = %+v", reg)
	}
	if cfg.DBConnections["REPORTING"] != "postgres://ro@db/reporting" || cfg.DBConnections["LEDGER"] != "from-file" {
		t.Errorf("connections = %v", cfg.DBConnections)
	}

	for _, tt := range []struct{ env, want string }{
		{"INTAKE_SECRET_X=v", "INTAKE_SECRET_X_HOSTS"},
		{"INTAKE_SECRET_Y_HOSTS=a.example", "INTAKE_SECRET_Y_HOSTS"},
		{"INTAKE_SOURCE_DB_Z_URL_FILE=/nonexistent", "INTAKE_SOURCE_DB_Z_URL_FILE"},
	} {
		if _, err := Load([]string{tt.env}); err == nil || !strings.HasPrefix(err.Error(), tt.want+":") {
			t.Errorf("Load(%s) = %v, want an error naming %s", tt.env, err, tt.want)
		}
	}
}
