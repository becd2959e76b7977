// Package config reads intake's configuration from the environment
// (12-factor). The configuration is nested per subsystem (Config.API,
// Config.Store, Config.Worker, …); every variable is documented by its
// struct tags, and docs/CONFIG.md is generated from those tags (see
// Markdown) and kept current by a test.
//
// Defaults are Go values (see Default), not tags: where a subsystem has a
// default of its own, Default uses that package's constant, so that a
// default is written once.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/api"
	"github.com/intake-dev/intake/internal/blob/azureblob"
	"github.com/intake-dev/intake/internal/dispatch"
	"github.com/intake-dev/intake/internal/dispatch/redisstream"
	"github.com/intake-dev/intake/internal/egress"
	"github.com/intake-dev/intake/internal/schedule"
	"github.com/intake-dev/intake/internal/source/filings"
	"github.com/intake-dev/intake/internal/webhook"
	"github.com/intake-dev/intake/internal/worker"
)

// Config is the whole configuration of an intake process, one field per
// subsystem. Tags of the fields inside:
//   - env: the variable name;
//   - alias: other names accepted when the variable is unset (those of
//     earlier deployments), in order of precedence;
//   - secret: "true" when the value may hold a secret; such variables may
//     also be given as <NAME>_FILE, the path of a file holding the value
//     (Docker and Kubernetes secrets), and are never logged;
//   - desc: one sentence for docs/CONFIG.md.
type Config struct {
	API      API      `title:"HTTP API"`
	Store    Store    `title:"Job store"`
	Blob     Blob     `title:"Blob storage"`
	Dispatch Dispatch `title:"Dispatch"`
	Worker   Worker   `title:"Worker and maintenance"`
	Sources  Sources  `title:"Sources"`
	Monitor  Monitor  `title:"Schedules and webhooks"`
	Process  Process  `title:"Process"`
}

// API configures the HTTP API of serve and dev.
type API struct {
	Addr          string        `env:"INTAKE_HTTP_ADDR" desc:"Address of the API, web UI and /metrics listener of serve and dev. The container images set 0.0.0.0:8000."`
	Auth          Auth          `env:"INTAKE_AUTH" desc:"enabled or disabled. Unset, serve requires INTAKE_API_KEYS and dev runs without authentication, listening on loopback only; disabled, dev still listens on loopback only."`
	Keys          []string      `env:"INTAKE_API_KEYS" envSeparator:"," secret:"true" desc:"Comma-separated bearer keys accepted on /api/* and /create-job."`
	MaxInFlight   int           `env:"INTAKE_HTTP_MAX_IN_FLIGHT" desc:"Most /api/* and /create-job requests served at once (document downloads excepted); beyond it a request waits INTAKE_HTTP_ADMISSION_WAIT for a slot and is otherwise answered 503 with Retry-After. 0: no bound."`
	AdmissionWait time.Duration `env:"INTAKE_HTTP_ADMISSION_WAIT" desc:"How long a request over INTAKE_HTTP_MAX_IN_FLIGHT waits for a slot before its 503; 0 answers at once."`
}

// Auth is INTAKE_AUTH: whether the API asks for a bearer key. Its zero
// value, AuthDefault, leaves the choice to the command (see
// API.AuthDisabled).
type Auth string

// The values of Auth.
const (
	AuthDefault  Auth = ""         // INTAKE_AUTH unset: enabled for serve, disabled for dev
	AuthEnabled  Auth = "enabled"  // every command asks for a key
	AuthDisabled Auth = "disabled" // no command asks for a key
)

// AuthDisabled reports whether a command runs without authentication:
// when INTAKE_AUTH says so, or when it is unset and the command is open by
// default (dev).
func (a API) AuthDisabled(openByDefault bool) bool {
	return a.Auth == AuthDisabled || a.Auth == AuthDefault && openByDefault
}

// Store configures the job store.
type Store struct {
	URL              string        `env:"INTAKE_DATABASE_URL" alias:"MONGO_URI" secret:"true" desc:"Job store URL: sqlite://PATH (default sqlite://$INTAKE_DATA_DIR/intake.db), postgres://… (or postgresql://), mongodb://… or mongodb+srv://… (database from the path, default intake)."`
	MaxConns         int32         `env:"INTAKE_DATABASE_MAX_CONNS" desc:"PostgreSQL pool size; 0 keeps pgxpool's default (the larger of 4 and the number of CPUs) or pool_max_conns in the URL."`
	StatementTimeout time.Duration `env:"INTAKE_DATABASE_STATEMENT_TIMEOUT" desc:"PostgreSQL statement_timeout of every connection; a statement over it fails and the API answers 503."`
}

// Blob configures blob storage.
type Blob struct {
	URL             string `env:"INTAKE_BLOB_URL" alias:"AZURE_BLOB_CONN" secret:"true" desc:"Blob storage: file://PATH (default file://$INTAKE_DATA_DIR/blobs), an azblob:// URL, or an Azure Storage connection string (Azure's or Azurite's)."`
	Container       string `env:"INTAKE_BLOB_CONTAINER" alias:"AZURE_CONTAINER" desc:"Azure Blob Storage container used with a connection string."`
	CreateContainer bool   `env:"INTAKE_BLOB_CREATE_CONTAINER" desc:"Create the Azure container at start when it is missing; false for accounts whose key may not create containers."`
}

// Dispatch configures how workers are woken.
type Dispatch struct {
	Mode        string `env:"INTAKE_DISPATCH" desc:"How workers are woken: auto (Redis Streams when INTAKE_REDIS_URL is set, else polling), poll, redis, or pgnotify (PostgreSQL LISTEN/NOTIFY on the job store's database). Workers poll the store in every mode."`
	RedisURL    string `env:"INTAKE_REDIS_URL" secret:"true" desc:"Redis URL (redis:// or rediss://) for Redis Streams dispatch."`
	RedisStream string `env:"INTAKE_REDIS_STREAM" desc:"Redis stream that announces pending jobs; one per deployment."`
}

// Worker configures the worker pool and the maintenance loop.
type Worker struct {
	BatchFraction       intake.Fraction `env:"INTAKE_BATCH_FRACTION" desc:"Share of a job's documents collected per run, in (0, 1], at most four decimals."`
	LeaseTTL            time.Duration   `env:"INTAKE_LEASE_TTL" desc:"How long a claimed job stays leased without a heartbeat; workers heartbeat every third of it."`
	MaxAttempts         int             `env:"INTAKE_MAX_ATTEMPTS" desc:"Failed runs (errors or expired leases) after which a job fails for good."`
	Concurrency         int             `env:"INTAKE_WORKER_CONCURRENCY" desc:"Jobs a long-running worker (work, dev) processes at once."`
	Prefetch            int             `env:"INTAKE_WORKER_PREFETCH" desc:"Claimed jobs a long-running worker may hold beyond its idle slots, claimed in one round trip where the store can (PostgreSQL); at most what would start within half a heartbeat, their leases renewed while they wait. 0: INTAKE_WORKER_CONCURRENCY; -1: claim one job per worker slot."`
	PollInterval        time.Duration   `env:"INTAKE_WORKER_POLL_INTERVAL" desc:"How often an idle worker polls the store for pending jobs."`
	RecordBatch         int             `env:"INTAKE_WORKER_RECORD_BATCH" desc:"Most documents a run records at once: their blobs are made durable together (one syncfs for file blobs) and then recorded in one commit. A group is recorded when full, 100ms after its first document began, at the end of a batch, on shutdown and before an error ends the run; a run that loses its lease re-collects its open group. 1 fsyncs and commits each document on its own."`
	MaintenanceInterval time.Duration   `env:"INTAKE_MAINTENANCE_INTERVAL" desc:"How often serve, work and dev promote due scheduled jobs and expired leases to pending."`
	RetryBackoffBase    time.Duration   `env:"INTAKE_RETRY_BACKOFF_BASE" desc:"First retry delay of a failed run; it doubles per attempt, with full jitter."`
	RetryBackoffMax     time.Duration   `env:"INTAKE_RETRY_BACKOFF_MAX" desc:"Largest retry delay."`
	ID                  string          `env:"INTAKE_WORKER_ID" desc:"Names the worker process in the run history of every job it collects (up to 63 of A-Z a-z 0-9 . _ -); empty means the host name. The Helm chart sets it to the pod name."`
	MaxRetryAfter       time.Duration   `env:"INTAKE_MAX_RETRY_AFTER" desc:"Longest wait a source may ask for (an HTTP 429 or 503 with Retry-After): a longer one fails the job at once. A shorter one puts the job back without holding its lease; that counts as a failed attempt (see INTAKE_MAX_ATTEMPTS) when the run collected nothing, so a source that only ever says later fails the job in the end."`
	JobID               string          `env:"INTAKE_JOB_ID" alias:"JOB_ID" desc:"The job work --once claims when no argument names one (KEDA passes it)."`
	MetricsAddr         string          `env:"INTAKE_METRICS_ADDR" desc:"Address of the worker's own /metrics and /health listener (work). dev serves /metrics on the API port; work --once serves none."`
}

// Sources configures the sources an operator provides.
type Sources struct {
	FilingsDelay time.Duration `env:"INTAKE_FILINGS_DELAY" desc:"Simulated download latency per filings document; 0 disables it."`
	FilingsDay   time.Duration `env:"INTAKE_FILINGS_DAY" desc:"Length of a simulated day of the filings source, on some of which a company files new forms or amends or withdraws one; a short day (2s) shows a schedule's changes in a demo."`
	HTTPAllow    []string      `env:"INTAKE_SOURCE_HTTP_ALLOW" envSeparator:"," desc:"Comma-separated CIDRs and host names the api source may reach although they are special-purpose addresses (loopback, private, link-local, …), which it refuses by default."`
	FileRoot     string        `env:"INTAKE_SOURCE_FILE_ROOT" desc:"Directory the file source reads below; empty disables the file source."`

	// Secrets are the api source's header secrets, from INTAKE_SECRET_<NAME>
	// (or _FILE) and the hosts each may be sent to, INTAKE_SECRET_<NAME>_HOSTS.
	Secrets map[string]Secret `env:"-"`
	// DBConnections are the database source's named connections, from
	// INTAKE_SOURCE_DB_<NAME>_URL (or _FILE).
	DBConnections map[string]string `env:"-"`
}

// Monitor configures schedules and webhook deliveries, which the
// maintenance loop of serve, work and dev runs.
type Monitor struct {
	WebhookURL           string        `env:"INTAKE_WEBHOOK_URL" desc:"Default webhook endpoint (http or https, within the egress policy of INTAKE_SOURCE_HTTP_ALLOW): jobs and schedules created without notify get it. Empty: none."`
	WebhookEvents        []string      `env:"INTAKE_WEBHOOK_EVENTS" envSeparator:"," desc:"Comma-separated events the default webhook receives: job.completed, job.failed, job.changed. Empty: all of them."`
	WebhookSecret        string        `env:"INTAKE_WEBHOOK_SECRET" desc:"Name of the default webhook's signing secret: INTAKE_SECRET_<NAME> holds it (whsec_ base64 or raw) and INTAKE_SECRET_<NAME>_HOSTS must list the endpoint's host. Required with INTAKE_WEBHOOK_URL unless unsigned deliveries are allowed."`
	WebhookAllowUnsigned bool          `env:"INTAKE_WEBHOOK_ALLOW_UNSIGNED" desc:"Accept notify without a secret and deliver it without a webhook-signature header; receivers then cannot tell intake's deliveries from forgeries."`
	WebhookTimeout       time.Duration `env:"INTAKE_WEBHOOK_TIMEOUT" desc:"Time allowed for each webhook delivery attempt, connection included."`
	WebhookMaxAttempts   int           `env:"INTAKE_WEBHOOK_MAX_ATTEMPTS" desc:"Delivery attempts of a job's notification (5 s, then doubling up to 1 h between them) before it is given up."`
	MisfireGrace         time.Duration `env:"INTAKE_SCHEDULE_MISFIRE_GRACE" desc:"How late a schedule's tick may be handled before it counts as misfired (intake_schedule_misfires_total); the misfire policy skip drops a misfired tick, fire_once fires it."`
}

// DefaultNotify returns the deployment's default webhook, nil when
// INTAKE_WEBHOOK_URL is not set.
func (m Monitor) DefaultNotify() *intake.Notify {
	if m.WebhookURL == "" {
		return nil
	}
	n := &intake.Notify{URL: m.WebhookURL, Secret: strings.ToUpper(m.WebhookSecret)}
	for _, e := range m.WebhookEvents {
		n.Events = append(n.Events, intake.Event(e))
	}
	return n
}

// Process configures what every command shares.
type Process struct {
	DataDir         string        `env:"INTAKE_DATA_DIR" desc:"Directory of the embedded defaults (SQLite database and file blobs). Must be local disk: SQLite's locking is unreliable on network filesystems."`
	ShutdownTimeout time.Duration `env:"INTAKE_SHUTDOWN_TIMEOUT" desc:"Grace period on SIGTERM/SIGINT: HTTP requests and in-flight documents get this long to finish before they are abandoned."`
	LogLevel        string        `env:"INTAKE_LOG_LEVEL" desc:"debug, info, warn or error."`
	LogFormat       string        `env:"INTAKE_LOG_FORMAT" desc:"json or text."`
}

// Default returns the configuration of an empty environment. Where a
// subsystem has a default of its own (the worker's, the Azure container,
// the Redis stream), it is that package's constant.
func Default() Config {
	return Config{
		API:   API{Addr: "127.0.0.1:8000", MaxInFlight: api.DefaultMaxInFlight, AdmissionWait: api.DefaultAdmissionWait},
		Store: Store{StatementTimeout: 30 * time.Second},
		Blob:  Blob{Container: azureblob.DefaultContainer, CreateContainer: true},
		Dispatch: Dispatch{
			Mode:        string(dispatch.Auto),
			RedisStream: redisstream.DefaultStream,
		},
		Worker: Worker{
			BatchFraction:       intake.DefaultBatchFraction,
			LeaseTTL:            worker.DefaultLeaseTTL,
			MaxAttempts:         worker.DefaultMaxAttempts,
			Concurrency:         worker.DefaultConcurrency,
			PollInterval:        worker.DefaultPollInterval,
			RecordBatch:         worker.DefaultRecordBatch,
			MaintenanceInterval: worker.DefaultMaintainInterval,
			RetryBackoffBase:    worker.DefaultBackoffBase,
			RetryBackoffMax:     worker.DefaultBackoffMax,
			MaxRetryAfter:       worker.DefaultMaxRetryAfter,
			MetricsAddr:         ":9100",
		},
		Sources: Sources{FilingsDelay: time.Second, FilingsDay: filings.DefaultDay},
		Monitor: Monitor{
			WebhookTimeout:     webhook.DefaultTimeout,
			WebhookMaxAttempts: webhook.DefaultMaxAttempts,
			MisfireGrace:       schedule.DefaultMisfireGrace,
		},
		Process: Process{
			DataDir:         "./data",
			ShutdownTimeout: worker.DefaultShutdownGrace,
			LogLevel:        "info",
			LogFormat:       "json",
		},
	}
}

// StoreURL returns the job store URL, defaulting to SQLite in DataDir.
func (c *Config) StoreURL() string {
	if c.Store.URL != "" {
		return c.Store.URL
	}
	return "sqlite://" + filepath.ToSlash(filepath.Join(c.Process.DataDir, "intake.db"))
}

// BlobStoreURL returns the blob storage URL, defaulting to files in DataDir.
func (c *Config) BlobStoreURL() string {
	if c.Blob.URL != "" {
		return c.Blob.URL
	}
	return "file://" + filepath.ToSlash(filepath.Join(c.Process.DataDir, "blobs"))
}

// Secret is a value the api source may send in a header, and the hosts it
// may be sent to.
type Secret struct {
	Value string
	Hosts []string
}

// LogValue keeps the secret's value out of logs.
func (s Secret) LogValue() slog.Value {
	return slog.GroupValue(slog.String("value", "xxxxx"), slog.Any("hosts", s.Hosts))
}

var workerID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// validate checks what the types do not, naming the variable.
func (c *Config) validate() error {
	w := c.Worker
	switch {
	case c.API.Auth != AuthDefault && c.API.Auth != AuthEnabled && c.API.Auth != AuthDisabled:
		return fmt.Errorf("INTAKE_AUTH: must be enabled or disabled, not %q", c.API.Auth)
	case c.API.MaxInFlight < 0:
		return fmt.Errorf("INTAKE_HTTP_MAX_IN_FLIGHT: must not be negative (0: no bound), not %d", c.API.MaxInFlight)
	case c.API.AdmissionWait < 0:
		return fmt.Errorf("INTAKE_HTTP_ADMISSION_WAIT: must not be negative, not %s", c.API.AdmissionWait)
	case w.LeaseTTL < time.Second:
		return fmt.Errorf("INTAKE_LEASE_TTL: must be at least 1s, not %s", w.LeaseTTL)
	case w.MaxAttempts < 1:
		return fmt.Errorf("INTAKE_MAX_ATTEMPTS: must be at least 1, not %d", w.MaxAttempts)
	case w.Concurrency < 1 || w.Concurrency > 256:
		return fmt.Errorf("INTAKE_WORKER_CONCURRENCY: must be between 1 and 256, not %d", w.Concurrency)
	case w.Prefetch < -1 || w.Prefetch > 1024:
		return fmt.Errorf("INTAKE_WORKER_PREFETCH: must be between -1 and 1024, not %d", w.Prefetch)
	case w.RecordBatch < 1 || w.RecordBatch > worker.MaxRecordBatch:
		return fmt.Errorf("INTAKE_WORKER_RECORD_BATCH: must be between 1 and %d, not %d", worker.MaxRecordBatch, w.RecordBatch)
	case w.ID != "" && !workerID.MatchString(w.ID):
		return fmt.Errorf("INTAKE_WORKER_ID: must be 1 to 63 of A-Z a-z 0-9 . _ - starting with a letter or digit, not %q", w.ID)
	case w.PollInterval < 10*time.Millisecond:
		return fmt.Errorf("INTAKE_WORKER_POLL_INTERVAL: must be at least 10ms, not %s", w.PollInterval)
	case w.MaintenanceInterval < 100*time.Millisecond:
		return fmt.Errorf("INTAKE_MAINTENANCE_INTERVAL: must be at least 100ms, not %s", w.MaintenanceInterval)
	case w.MaxRetryAfter <= 0:
		return fmt.Errorf("INTAKE_MAX_RETRY_AFTER: must be positive, not %s", w.MaxRetryAfter)
	case w.RetryBackoffBase <= 0 || w.RetryBackoffMax < w.RetryBackoffBase:
		return fmt.Errorf("INTAKE_RETRY_BACKOFF_BASE: must be positive and at most INTAKE_RETRY_BACKOFF_MAX (%s), not %s", w.RetryBackoffMax, w.RetryBackoffBase)
	case c.Process.ShutdownTimeout < 0:
		return fmt.Errorf("INTAKE_SHUTDOWN_TIMEOUT: must not be negative, not %s", c.Process.ShutdownTimeout)
	case c.Process.DataDir == "":
		return errors.New("INTAKE_DATA_DIR: must not be empty")
	case c.Sources.FilingsDelay < 0:
		return fmt.Errorf("INTAKE_FILINGS_DELAY: must not be negative, not %s", c.Sources.FilingsDelay)
	case c.Sources.FilingsDay < time.Millisecond:
		return fmt.Errorf("INTAKE_FILINGS_DAY: must be at least 1ms, not %s", c.Sources.FilingsDay)
	case !dispatch.Mode(c.Dispatch.Mode).Valid():
		return fmt.Errorf("INTAKE_DISPATCH: must be %s, not %q", dispatch.Modes, c.Dispatch.Mode)
	case dispatch.Mode(c.Dispatch.Mode) == dispatch.Redis && c.Dispatch.RedisURL == "":
		return errors.New("INTAKE_DISPATCH: redis needs INTAKE_REDIS_URL")
	case c.Store.MaxConns < 0:
		return fmt.Errorf("INTAKE_DATABASE_MAX_CONNS: must not be negative, not %d", c.Store.MaxConns)
	case c.Store.StatementTimeout < 0:
		return fmt.Errorf("INTAKE_DATABASE_STATEMENT_TIMEOUT: must not be negative, not %s", c.Store.StatementTimeout)
	case c.Monitor.WebhookTimeout <= 0:
		return fmt.Errorf("INTAKE_WEBHOOK_TIMEOUT: must be positive, not %s", c.Monitor.WebhookTimeout)
	case c.Monitor.WebhookMaxAttempts < 1:
		return fmt.Errorf("INTAKE_WEBHOOK_MAX_ATTEMPTS: must be at least 1, not %d", c.Monitor.WebhookMaxAttempts)
	case c.Monitor.MisfireGrace < 0:
		return fmt.Errorf("INTAKE_SCHEDULE_MISFIRE_GRACE: must not be negative, not %s", c.Monitor.MisfireGrace)
	}
	if err := checkAddr("INTAKE_HTTP_ADDR", c.API.Addr); err != nil {
		return err
	}
	if w.MetricsAddr != "" {
		if err := checkAddr("INTAKE_METRICS_ADDR", w.MetricsAddr); err != nil {
			return err
		}
	}
	for i, k := range c.API.Keys {
		k = strings.TrimSpace(k)
		if k == "" {
			return fmt.Errorf("INTAKE_API_KEYS: key %d is empty", i+1)
		}
		c.API.Keys[i] = k
	}
	return nil
}

// validateWebhook checks the default webhook against the egress policy and
// the secrets, once they are read.
func (c *Config) validateWebhook() error {
	m := c.Monitor
	for _, e := range m.WebhookEvents {
		if !slices.Contains(intake.Events, intake.Event(e)) {
			return fmt.Errorf("INTAKE_WEBHOOK_EVENTS: unknown event %q: want job.completed, job.failed or job.changed", e)
		}
	}
	if m.WebhookURL == "" {
		if len(m.WebhookEvents) > 0 || m.WebhookSecret != "" {
			return errors.New("INTAKE_WEBHOOK_EVENTS and INTAKE_WEBHOOK_SECRET need INTAKE_WEBHOOK_URL")
		}
		return nil
	}
	policy, err := egress.NewPolicy(c.Sources.HTTPAllow)
	if err != nil {
		return fmt.Errorf("INTAKE_SOURCE_HTTP_ALLOW: %w", err)
	}
	u, err := webhook.CheckURL(policy, m.WebhookURL)
	if err != nil {
		return fmt.Errorf("INTAKE_WEBHOOK_URL: %w", err)
	}
	if m.WebhookSecret == "" {
		if !m.WebhookAllowUnsigned {
			return errors.New("INTAKE_WEBHOOK_SECRET: required with INTAKE_WEBHOOK_URL unless INTAKE_WEBHOOK_ALLOW_UNSIGNED=true")
		}
		return nil
	}
	name := strings.ToUpper(m.WebhookSecret)
	sec, ok := c.Sources.Secrets[name]
	switch {
	case !ok:
		return fmt.Errorf("INTAKE_WEBHOOK_SECRET: no INTAKE_SECRET_%s (or _FILE) holds the secret it names", name)
	case !egress.HostMatches(sec.Hosts, u.Hostname()):
		return fmt.Errorf("INTAKE_WEBHOOK_SECRET: INTAKE_SECRET_%s_HOSTS does not list the host of INTAKE_WEBHOOK_URL", name)
	}
	if _, err := webhook.Key(sec.Value); err != nil {
		return fmt.Errorf("INTAKE_SECRET_%s: %w", name, err)
	}
	return nil
}

// checkAddr checks that addr is host:port.
func checkAddr(variable, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%s: not host:port: %q", variable, addr)
	}
	return nil
}
