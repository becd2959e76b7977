package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/worker"
)

var update = flag.Bool("update", false, "rewrite docs/CONFIG.md")

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.API.Addr != "127.0.0.1:8000" || cfg.Worker.MetricsAddr != ":9100" || cfg.Worker.BatchFraction != 3500 ||
		cfg.Worker.LeaseTTL != time.Minute || cfg.Worker.MaxAttempts != 5 || cfg.Worker.Concurrency != 4 ||
		cfg.Worker.PollInterval != time.Second || cfg.Sources.FilingsDelay != time.Second || cfg.Sources.FilingsDay != 24*time.Hour || cfg.Process.LogFormat != "json" ||
		cfg.API.Auth != AuthDefault || !cfg.Blob.CreateContainer || cfg.Dispatch.Mode != "auto" {
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
			if c.Store.URL != "mongodb://m/x" || c.Worker.JobID != "j1" || c.Blob.Container != "c" {
				return "aliases not applied"
			}
			return ""
		}},
		{"INTAKE_ wins over alias", []string{"MONGO_URI=mongodb://m/x", "INTAKE_DATABASE_URL=sqlite://a.db"}, func(c *Config) string {
			if c.Store.URL != "sqlite://a.db" {
				return "precedence wrong: " + c.Store.URL
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
			if len(c.API.Keys) != 2 || c.API.Keys[0] != "k1" || c.API.Keys[1] != "k2" {
				return "keys " + strings.Join(c.API.Keys, "|")
			}
			return ""
		}},
		{"plain value wins over _FILE", []string{"INTAKE_API_KEYS=x", "INTAKE_API_KEYS_FILE=" + keyFile}, func(c *Config) string {
			if len(c.API.Keys) != 1 || c.API.Keys[0] != "x" {
				return "keys " + strings.Join(c.API.Keys, "|")
			}
			return ""
		}},
		{"zero filings delay allowed", []string{"INTAKE_FILINGS_DELAY=0"}, func(c *Config) string {
			if c.Sources.FilingsDelay != 0 {
				return "delay not zero"
			}
			return ""
		}},
		{"short filings day", []string{"INTAKE_FILINGS_DAY=2s"}, func(c *Config) string {
			if c.Sources.FilingsDay != 2*time.Second {
				return "day not 2s"
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
		{"INTAKE_WORKER_PREFETCH=-2", "INTAKE_WORKER_PREFETCH"},
		{"INTAKE_WORKER_PREFETCH=2000", "INTAKE_WORKER_PREFETCH"},
		{"INTAKE_HTTP_MAX_IN_FLIGHT=-1", "INTAKE_HTTP_MAX_IN_FLIGHT"},
		{"INTAKE_HTTP_ADMISSION_WAIT=-1s", "INTAKE_HTTP_ADMISSION_WAIT"},
		{"INTAKE_WORKER_RECORD_BATCH=0", "INTAKE_WORKER_RECORD_BATCH"},
		{"INTAKE_WORKER_RECORD_BATCH=1001", "INTAKE_WORKER_RECORD_BATCH"},
		{"INTAKE_AUTH=maybe", "INTAKE_AUTH"},
		{"INTAKE_HTTP_ADDR=nohostport", "INTAKE_HTTP_ADDR"},
		{"INTAKE_FILINGS_DELAY=-1s", "INTAKE_FILINGS_DELAY"},
		{"INTAKE_FILINGS_DAY=0", "INTAKE_FILINGS_DAY"},
		{"INTAKE_FILINGS_DAY=500us", "INTAKE_FILINGS_DAY"},
		{"INTAKE_API_KEYS_FILE=/nonexistent/keys", "INTAKE_API_KEYS_FILE"},
		{"INTAKE_API_KEYS=a,,b", "INTAKE_API_KEYS"},
		{"INTAKE_DISPATCH=kafka", "INTAKE_DISPATCH"},
		{"INTAKE_DISPATCH=redis", "INTAKE_DISPATCH"},
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

// TestAuth checks INTAKE_AUTH's three states: unset leaves the choice to
// the command, which is open by default only for dev.
func TestAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env                string
		serveOpen, devOpen bool
	}{
		{"", false, true},
		{"INTAKE_AUTH=", false, true},
		{"INTAKE_AUTH=enabled", false, false},
		{"INTAKE_AUTH=disabled", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			t.Parallel()
			cfg, err := Load([]string{tt.env})
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.API.AuthDisabled(false); got != tt.serveOpen {
				t.Errorf("serve: AuthDisabled = %v, want %v", got, tt.serveOpen)
			}
			if got := cfg.API.AuthDisabled(true); got != tt.devOpen {
				t.Errorf("dev: AuthDisabled = %v, want %v", got, tt.devOpen)
			}
		})
	}
}

// TestDefaultsFromWorker checks that the worker's defaults are the worker
// package's, so that a worker built from a default configuration and one
// built from a zero worker.Config behave alike.
func TestDefaultsFromWorker(t *testing.T) {
	t.Parallel()
	w := Default().Worker
	if w.Concurrency != worker.DefaultConcurrency || w.LeaseTTL != worker.DefaultLeaseTTL ||
		w.MaxAttempts != worker.DefaultMaxAttempts || w.PollInterval != worker.DefaultPollInterval ||
		w.RetryBackoffBase != worker.DefaultBackoffBase || w.RetryBackoffMax != worker.DefaultBackoffMax ||
		w.MaxRetryAfter != worker.DefaultMaxRetryAfter || w.MaintenanceInterval != worker.DefaultMaintainInterval ||
		Default().Process.ShutdownTimeout != worker.DefaultShutdownGrace {
		t.Errorf("worker defaults differ from the worker package's: %+v", w)
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
	gh := cfg.Sources.Secrets["GITHUB"]
	if gh.Value != "tok1" || strings.Join(gh.Hosts, ",") != "api.github.com,uploads.github.com" {
		t.Errorf("GITHUB = %+v", gh)
	}
	if reg := cfg.Sources.Secrets["REGISTRY"]; reg.Value != "from-file" || len(reg.Hosts) != 1 {
		t.Errorf("REGISTRY = %+v", reg)
	}
	if cfg.Sources.DBConnections["REPORTING"] != "postgres://ro@db/reporting" || cfg.Sources.DBConnections["LEDGER"] != "from-file" {
		t.Errorf("connections = %v", cfg.Sources.DBConnections)
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

func TestLoadWebhook(t *testing.T) {
	t.Parallel()
	secret := []string{"INTAKE_SECRET_HOOK=whsec_aGVsbG8=", "INTAKE_SECRET_HOOK_HOSTS=hooks.example.com"}
	cfg, err := Load(append(secret,
		"INTAKE_WEBHOOK_URL=https://hooks.example.com/intake",
		"INTAKE_WEBHOOK_EVENTS=job.failed,job.changed",
		"INTAKE_WEBHOOK_SECRET=hook",
		"INTAKE_WEBHOOK_TIMEOUT=3s",
		"INTAKE_WEBHOOK_MAX_ATTEMPTS=4",
		"INTAKE_SCHEDULE_MISFIRE_GRACE=30s",
	))
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Monitor.DefaultNotify()
	if n == nil || n.URL != "https://hooks.example.com/intake" || n.Secret != "HOOK" || len(n.Events) != 2 || n.Events[1] != intake.EventJobChanged {
		t.Fatalf("DefaultNotify = %+v", n)
	}
	if m := cfg.Monitor; m.WebhookTimeout != 3*time.Second || m.WebhookMaxAttempts != 4 || m.MisfireGrace != 30*time.Second {
		t.Fatalf("Monitor = %+v", m)
	}
	if d, err := Load(nil); err != nil || d.Monitor.DefaultNotify() != nil {
		t.Fatalf("default: %v, %+v", err, d)
	}
	if d, err := Load([]string{"INTAKE_WEBHOOK_URL=http://127.0.0.1:9/h", "INTAKE_SOURCE_HTTP_ALLOW=127.0.0.1", "INTAKE_WEBHOOK_ALLOW_UNSIGNED=true"}); err != nil || d.Monitor.DefaultNotify().Secret != "" {
		t.Fatalf("unsigned: %v", err)
	}

	for _, tt := range []struct {
		env  []string
		want string
	}{
		{[]string{"INTAKE_WEBHOOK_URL=https://hooks.example.com/"}, "INTAKE_WEBHOOK_SECRET"},
		{[]string{"INTAKE_WEBHOOK_URL=ftp://hooks.example.com/", "INTAKE_WEBHOOK_ALLOW_UNSIGNED=true"}, "INTAKE_WEBHOOK_URL"},
		{[]string{"INTAKE_WEBHOOK_URL=http://127.0.0.1/", "INTAKE_WEBHOOK_ALLOW_UNSIGNED=true"}, "INTAKE_WEBHOOK_URL"},
		{append(secret, "INTAKE_WEBHOOK_URL=https://other.example.com/", "INTAKE_WEBHOOK_SECRET=HOOK"), "INTAKE_WEBHOOK_SECRET"},
		{[]string{"INTAKE_WEBHOOK_URL=https://hooks.example.com/", "INTAKE_WEBHOOK_SECRET=NOPE"}, "INTAKE_WEBHOOK_SECRET"},
		{[]string{"INTAKE_WEBHOOK_SECRET=HOOK"}, "INTAKE_WEBHOOK_EVENTS and INTAKE_WEBHOOK_SECRET"},
		{append(secret, "INTAKE_WEBHOOK_URL=https://hooks.example.com/", "INTAKE_WEBHOOK_SECRET=HOOK", "INTAKE_WEBHOOK_EVENTS=job.done"), "INTAKE_WEBHOOK_EVENTS"},
		{[]string{"INTAKE_WEBHOOK_TIMEOUT=-1s"}, "INTAKE_WEBHOOK_TIMEOUT"},
		{[]string{"INTAKE_WEBHOOK_MAX_ATTEMPTS=0"}, "INTAKE_WEBHOOK_MAX_ATTEMPTS"},
		{[]string{"INTAKE_SCHEDULE_MISFIRE_GRACE=-1m"}, "INTAKE_SCHEDULE_MISFIRE_GRACE"},
	} {
		if _, err := Load(tt.env); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Load(%v) = %v, want an error naming %s", tt.env, err, tt.want)
		}
	}
}
