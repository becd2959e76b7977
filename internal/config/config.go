// Package config reads intake's configuration from the environment
// (12-factor). Every variable is documented by its struct tag; docs/CONFIG.md
// is generated from those tags (see Markdown) and a test keeps it current.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/intake-dev/intake"
)

// Config is the whole configuration of an intake process. Tags:
//   - env: the variable name; envDefault: its default;
//   - alias: older names accepted when the variable is unset (seed 004's
//     starter names), in order of precedence;
//   - secret: "true" when the value may hold a secret; such variables may
//     also be given as <NAME>_FILE, the path of a file holding the value
//     (Docker and Kubernetes secrets), and are never logged;
//   - desc: one sentence for docs/CONFIG.md.
type Config struct {
	HTTPAddr                 string        `env:"INTAKE_HTTP_ADDR" envDefault:"127.0.0.1:8000" desc:"Address of the API, web UI and /metrics listener of serve and dev. The container images set 0.0.0.0:8000."`
	MetricsAddr              string        `env:"INTAKE_METRICS_ADDR" envDefault:":9100" desc:"Address of the worker's own /metrics and /health listener (work); empty disables it. dev serves /metrics on the API port."`
	DataDir                  string        `env:"INTAKE_DATA_DIR" envDefault:"./data" desc:"Directory of the embedded defaults (SQLite database and file blobs). Must be local disk: SQLite's locking is unreliable on network filesystems."`
	DatabaseURL              string        `env:"INTAKE_DATABASE_URL" alias:"MONGO_URI" secret:"true" desc:"Job store URL: sqlite://PATH (default sqlite://$INTAKE_DATA_DIR/intake.db), postgres://… (or postgresql://), mongodb://… or mongodb+srv://… (database from the path, default intake)."`
	DatabaseMaxConns         int32         `env:"INTAKE_DATABASE_MAX_CONNS" envDefault:"0" desc:"PostgreSQL pool size; 0 keeps pgxpool's default (the larger of 4 and the number of CPUs) or pool_max_conns in the URL."`
	DatabaseStatementTimeout time.Duration `env:"INTAKE_DATABASE_STATEMENT_TIMEOUT" envDefault:"30s" desc:"PostgreSQL statement_timeout of every connection; a statement over it fails and the API answers 503."`
	BlobURL                  string        `env:"INTAKE_BLOB_URL" alias:"AZURE_BLOB_CONN" secret:"true" desc:"Blob storage: file://PATH (default file://$INTAKE_DATA_DIR/blobs), an azblob:// URL, or an Azure Storage connection string (Azure's or Azurite's)."`
	BlobContainer            string        `env:"INTAKE_BLOB_CONTAINER" alias:"AZURE_CONTAINER" envDefault:"documents" desc:"Azure Blob Storage container used with a connection string."`
	BlobCreateContainer      bool          `env:"INTAKE_BLOB_CREATE_CONTAINER" envDefault:"true" desc:"Create the Azure container at start when it is missing; false for accounts whose key may not create containers."`

	Dispatch    string `env:"INTAKE_DISPATCH" envDefault:"auto" desc:"How workers are woken: auto (Redis Streams when INTAKE_REDIS_URL is set, else polling), poll, redis, or pgnotify (PostgreSQL LISTEN/NOTIFY on the job store's database). Workers poll the store in every mode."`
	RedisURL    string `env:"INTAKE_REDIS_URL" secret:"true" desc:"Redis URL (redis:// or rediss://) for Redis Streams dispatch."`
	RedisStream string `env:"INTAKE_REDIS_STREAM" envDefault:"intake:pending" desc:"Redis stream that announces pending jobs; one per deployment."`

	Auth    string   `env:"INTAKE_AUTH" envDefault:"enabled" desc:"enabled or disabled. serve refuses to start without INTAKE_API_KEYS unless this is disabled; dev defaults to disabled and listens on loopback only."`
	APIKeys []string `env:"INTAKE_API_KEYS" envSeparator:"," secret:"true" desc:"Comma-separated bearer keys accepted on /api/* and /create-job."`

	BatchFraction       intake.Fraction `env:"INTAKE_BATCH_FRACTION" envDefault:"0.35" desc:"Share of a job's documents collected per run, in (0, 1], at most four decimals."`
	LeaseTTL            time.Duration   `env:"INTAKE_LEASE_TTL" envDefault:"60s" desc:"How long a claimed job stays leased without a heartbeat; workers heartbeat every third of it."`
	MaxAttempts         int             `env:"INTAKE_MAX_ATTEMPTS" envDefault:"5" desc:"Failed runs (errors or expired leases) after which a job fails for good."`
	WorkerConcurrency   int             `env:"INTAKE_WORKER_CONCURRENCY" envDefault:"4" desc:"Jobs a long-running worker (work, dev) processes at once."`
	WorkerPollInterval  time.Duration   `env:"INTAKE_WORKER_POLL_INTERVAL" envDefault:"1s" desc:"How often an idle worker polls the store for pending jobs."`
	MaintenanceInterval time.Duration   `env:"INTAKE_MAINTENANCE_INTERVAL" envDefault:"5s" desc:"How often serve, work and dev promote due scheduled jobs and expired leases to pending."`
	ShutdownTimeout     time.Duration   `env:"INTAKE_SHUTDOWN_TIMEOUT" envDefault:"25s" desc:"Grace period on SIGTERM/SIGINT: HTTP requests and in-flight documents get this long to finish before they are abandoned."`
	RetryBackoffBase    time.Duration   `env:"INTAKE_RETRY_BACKOFF_BASE" envDefault:"5s" desc:"First retry delay of a failed run; it doubles per attempt, with full jitter."`
	RetryBackoffMax     time.Duration   `env:"INTAKE_RETRY_BACKOFF_MAX" envDefault:"10m" desc:"Largest retry delay."`
	WorkerID            string          `env:"INTAKE_WORKER_ID" desc:"Names the worker process in the run history of every job it collects (up to 63 of A-Z a-z 0-9 . _ -); empty means the host name. The Helm chart sets it to the pod name."`
	MaxRetryAfter       time.Duration   `env:"INTAKE_MAX_RETRY_AFTER" envDefault:"24h" desc:"Longest wait a source may ask for (an HTTP 429 or 503 with Retry-After): a longer one fails the job at once. A shorter one puts the job back without holding its lease; that counts as a failed attempt (see INTAKE_MAX_ATTEMPTS) when the run collected nothing, so a source that only ever says later fails the job in the end."`
	JobID               string          `env:"INTAKE_JOB_ID" alias:"JOB_ID" desc:"The job work --once claims when no argument names one (KEDA passes it)."`

	FilingsDelay time.Duration `env:"INTAKE_FILINGS_DELAY" envDefault:"1s" desc:"Simulated download latency per filings document; 0 disables it."`

	SourceHTTPAllow []string `env:"INTAKE_SOURCE_HTTP_ALLOW" envSeparator:"," desc:"Comma-separated CIDRs and host names the api source may reach although they are special-purpose addresses (loopback, private, link-local, …), which it refuses by default."`
	SourceFileRoot  string   `env:"INTAKE_SOURCE_FILE_ROOT" desc:"Directory the file source reads below; empty disables the file source."`

	// Secrets are the api source's header secrets, from INTAKE_SECRET_<NAME>
	// (or _FILE) and the hosts each may be sent to, INTAKE_SECRET_<NAME>_HOSTS.
	Secrets map[string]Secret `env:"-"`
	// DBConnections are the database source's named connections, from
	// INTAKE_SOURCE_DB_<NAME>_URL (or _FILE).
	DBConnections map[string]string `env:"-"`

	LogLevel  string `env:"INTAKE_LOG_LEVEL" envDefault:"info" desc:"debug, info, warn or error."`
	LogFormat string `env:"INTAKE_LOG_FORMAT" envDefault:"json" desc:"json or text."`
}

// Load reads the configuration from environ (os.Environ's form). Errors
// name the offending variable in one line.
func Load(environ []string) (*Config, error) {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	if err := resolve(vars); err != nil {
		return nil, err
	}
	var cfg Config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: vars}); err != nil {
		return nil, describe(err)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var err error
	if cfg.Secrets, err = secrets(vars); err != nil {
		return nil, err
	}
	if cfg.DBConnections, err = dbConnections(vars); err != nil {
		return nil, err
	}
	return &cfg, nil
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

var (
	workerID   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	secretName = regexp.MustCompile(`^INTAKE_SECRET_([A-Z0-9_]+?)(_FILE|_HOSTS)?$`)
	dbName     = regexp.MustCompile(`^INTAKE_SOURCE_DB_([A-Z0-9_]+?)_URL(_FILE)?$`)
)

// secrets collects INTAKE_SECRET_<NAME>, its _FILE form and its _HOSTS.
// Names are case-insensitive in job configs and stored in upper case. A
// secret without hosts is refused: a hostile config could otherwise send it
// anywhere.
func secrets(vars map[string]string) (map[string]Secret, error) {
	out := map[string]Secret{}
	hosts := map[string][]string{}
	for k, v := range vars {
		m := secretName.FindStringSubmatch(k)
		if m == nil || v == "" {
			continue
		}
		name := m[1]
		switch m[2] {
		case "_HOSTS":
			for _, h := range strings.Split(v, ",") {
				if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
					hosts[name] = append(hosts[name], h)
				}
			}
		case "_FILE":
			if _, direct := vars["INTAKE_SECRET_"+name]; direct {
				continue
			}
			b, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, unwrapPathError(err))
			}
			s := out[name]
			s.Value = strings.TrimRight(string(b), "\r\n")
			out[name] = s
		default:
			s := out[name]
			s.Value = v
			out[name] = s
		}
	}
	for name, s := range out {
		if len(hosts[name]) == 0 {
			return nil, fmt.Errorf("INTAKE_SECRET_%s_HOSTS: must list the hosts the secret may be sent to", name)
		}
		s.Hosts = hosts[name]
		slices.Sort(s.Hosts)
		out[name] = s
	}
	for name := range hosts {
		if _, ok := out[name]; !ok {
			return nil, fmt.Errorf("INTAKE_SECRET_%s_HOSTS: no INTAKE_SECRET_%s (or _FILE) to go with it", name, name)
		}
	}
	return out, nil
}

// dbConnections collects INTAKE_SOURCE_DB_<NAME>_URL and its _FILE form.
func dbConnections(vars map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range vars {
		m := dbName.FindStringSubmatch(k)
		if m == nil || v == "" {
			continue
		}
		name := m[1]
		if m[2] == "_FILE" {
			if _, direct := vars["INTAKE_SOURCE_DB_"+name+"_URL"]; direct {
				continue
			}
			b, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, unwrapPathError(err))
			}
			v = strings.TrimRight(string(b), "\r\n")
		}
		out[name] = v
	}
	return out, nil
}

// resolve applies the <NAME>_FILE forms of secret variables and the aliases,
// so that the parser sees plain variables. Precedence: the variable itself,
// its _FILE form, then each alias (and its _FILE form).
func resolve(vars map[string]string) error {
	for _, f := range fields() {
		names := append([]string{f.Name}, f.Aliases...)
		for _, name := range names {
			if v, ok := vars[name]; ok && v != "" {
				vars[f.Name] = v
				break
			}
			if !f.Secret {
				continue
			}
			if path, ok := vars[name+"_FILE"]; ok && path != "" {
				b, err := os.ReadFile(path)
				if err != nil {
					return fmt.Errorf("%s_FILE: %w", name, unwrapPathError(err))
				}
				vars[f.Name] = strings.TrimRight(string(b), "\r\n")
				break
			}
		}
	}
	return nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("read %s: %w", pe.Path, pe.Err)
	}
	return err
}

// describe turns the parser's errors into one line naming the variable.
func describe(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) || len(agg.Errors) == 0 {
		return err
	}
	byField := map[string]string{}
	for _, f := range fields() {
		byField[f.Field] = f.Name
	}
	msgs := make([]string, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			inner := pe.Err
			var pv env.ParseValueError
			if errors.As(inner, &pv) && pv.Err != nil {
				inner = pv.Err
			}
			msgs = append(msgs, fmt.Sprintf("%s: %v", byField[pe.Name], inner))
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return errors.New(strings.Join(msgs, "; "))
}

func (c *Config) validate() error {
	switch {
	case c.Auth != "enabled" && c.Auth != "disabled":
		return fmt.Errorf("INTAKE_AUTH: must be enabled or disabled, not %q", c.Auth)
	case c.LeaseTTL < time.Second:
		return fmt.Errorf("INTAKE_LEASE_TTL: must be at least 1s, not %s", c.LeaseTTL)
	case c.MaxAttempts < 1:
		return fmt.Errorf("INTAKE_MAX_ATTEMPTS: must be at least 1, not %d", c.MaxAttempts)
	case c.WorkerConcurrency < 1 || c.WorkerConcurrency > 256:
		return fmt.Errorf("INTAKE_WORKER_CONCURRENCY: must be between 1 and 256, not %d", c.WorkerConcurrency)
	case c.WorkerID != "" && !workerID.MatchString(c.WorkerID):
		return fmt.Errorf("INTAKE_WORKER_ID: must be 1 to 63 of A-Z a-z 0-9 . _ - starting with a letter or digit, not %q", c.WorkerID)
	case c.WorkerPollInterval < 10*time.Millisecond:
		return fmt.Errorf("INTAKE_WORKER_POLL_INTERVAL: must be at least 10ms, not %s", c.WorkerPollInterval)
	case c.MaintenanceInterval < 100*time.Millisecond:
		return fmt.Errorf("INTAKE_MAINTENANCE_INTERVAL: must be at least 100ms, not %s", c.MaintenanceInterval)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("INTAKE_SHUTDOWN_TIMEOUT: must not be negative, not %s", c.ShutdownTimeout)
	case c.FilingsDelay < 0:
		return fmt.Errorf("INTAKE_FILINGS_DELAY: must not be negative, not %s", c.FilingsDelay)
	case c.Dispatch != "auto" && c.Dispatch != "poll" && c.Dispatch != "redis" && c.Dispatch != "pgnotify":
		return fmt.Errorf("INTAKE_DISPATCH: must be auto, poll, redis or pgnotify, not %q", c.Dispatch)
	case c.Dispatch == "redis" && c.RedisURL == "":
		return errors.New("INTAKE_DISPATCH: redis needs INTAKE_REDIS_URL")
	case c.DatabaseMaxConns < 0:
		return fmt.Errorf("INTAKE_DATABASE_MAX_CONNS: must not be negative, not %d", c.DatabaseMaxConns)
	case c.DatabaseStatementTimeout < 0:
		return fmt.Errorf("INTAKE_DATABASE_STATEMENT_TIMEOUT: must not be negative, not %s", c.DatabaseStatementTimeout)
	case c.MaxRetryAfter <= 0:
		return fmt.Errorf("INTAKE_MAX_RETRY_AFTER: must be positive, not %s", c.MaxRetryAfter)
	case c.RetryBackoffBase <= 0 || c.RetryBackoffMax < c.RetryBackoffBase:
		return fmt.Errorf("INTAKE_RETRY_BACKOFF_BASE: must be positive and at most INTAKE_RETRY_BACKOFF_MAX (%s), not %s", c.RetryBackoffMax, c.RetryBackoffBase)
	case c.DataDir == "":
		return errors.New("INTAKE_DATA_DIR: must not be empty")
	}
	for _, a := range []struct{ name, addr string }{{"INTAKE_HTTP_ADDR", c.HTTPAddr}, {"INTAKE_METRICS_ADDR", c.MetricsAddr}} {
		if a.addr == "" && a.name == "INTAKE_METRICS_ADDR" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("%s: not host:port: %q", a.name, a.addr)
		}
	}
	for i, k := range c.APIKeys {
		if strings.TrimSpace(k) == "" {
			return fmt.Errorf("INTAKE_API_KEYS: key %d is empty", i+1)
		}
		c.APIKeys[i] = strings.TrimSpace(k)
	}
	return nil
}

// StoreURL returns the job store URL, defaulting to SQLite in DataDir.
func (c *Config) StoreURL() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return "sqlite://" + filepath.ToSlash(filepath.Join(c.DataDir, "intake.db"))
}

// BlobStoreURL returns the blob storage URL, defaulting to files in DataDir.
func (c *Config) BlobStoreURL() string {
	if c.BlobURL != "" {
		return c.BlobURL
	}
	return "file://" + filepath.ToSlash(filepath.Join(c.DataDir, "blobs"))
}

// AuthDisabled reports whether authentication is switched off.
func (c *Config) AuthDisabled() bool { return c.Auth == "disabled" }

// userinfo matches "user:secret@" inside a string that is no URL (found
// by FuzzDatabaseURL).
var userinfo = regexp.MustCompile(`[^\s=:/@]*:[^\s@]*@`)

// keywordSecret matches a secret-looking keyword of a keyword/value
// connection string and its value, unquoted or single-quoted.
var keywordSecret = regexp.MustCompile(`(?i)([a-z0-9_]*(?:pass|secret|token|key)[a-z0-9_]*)\s*=\s*(?:'(?:\\.|[^'\\])*'?|\S*)`)

// Redact returns s with the password of any URL userinfo and any
// AccountKey/SharedAccessSignature/password value of a connection string
// replaced by "xxxxx", so configuration can be logged.
func Redact(s string) string {
	if s == "" {
		return s
	}
	if !strings.Contains(s, "://") {
		s = userinfo.ReplaceAllString(s, "xxxxx@") // in any form that is no URL
	}
	if strings.Contains(s, ";") && strings.Contains(s, "=") && !strings.Contains(s, "://") ||
		strings.Contains(strings.ToLower(s), "accountkey=") {
		parts := strings.Split(s, ";")
		for i, p := range parts {
			k, _, ok := strings.Cut(p, "=")
			if !ok {
				continue
			}
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "accountkey", "sharedaccesssignature", "password", "pwd":
				parts[i] = k + "=xxxxx"
			}
		}
		return strings.Join(parts, ";")
	}
	if !strings.Contains(s, "://") && strings.Contains(s, "=") {
		// libpq's keyword/value form: "host=db password=secret".
		return userinfo.ReplaceAllString(keywordSecret.ReplaceAllString(s, "${1}=xxxxx"), "xxxxx@")
	}
	if !strings.Contains(s, "://") && !strings.ContainsAny(s, "@/?") {
		return "xxxxx" // no URL or path at all: a bare password, say
	}
	if at := strings.LastIndex(s, "@"); at >= 0 && !strings.Contains(s, "://") {
		// Userinfo without a scheme ("user:secret@host"): url.Parse would
		// read "user" as the scheme and keep the secret.
		return "xxxxx" + s[at:]
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	if at := strings.LastIndex(s, "@"); at >= 0 && u.User == nil {
		// Not read as a URL with userinfo ("0#://:secret@", "a://0#:secret@",
		// found by FuzzDatabaseURL): assume the worst of what precedes the "@".
		return "xxxxx" + s[at:]
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	for k := range q {
		switch strings.ToLower(k) {
		case "password", "sig", "accountkey", "secret", "token":
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	// A keyword's value before the query ("a://password=secret", found by
	// FuzzDatabaseURL) is a secret too.
	out := u.String()
	base, query, hasQuery := strings.Cut(out, "?")
	out = keywordSecret.ReplaceAllString(base, "${1}=xxxxx")
	if hasQuery {
		out += "?" + query
	}
	return out
}

// Field documents one configuration variable.
type Field struct {
	Field   string // struct field name
	Name    string // environment variable
	Default string
	Aliases []string
	Secret  bool
	Desc    string
}

func fields() []Field {
	t := reflect.TypeFor[Config]()
	out := make([]Field, 0, t.NumField())
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("env"), ",")
		if name == "" || name == "-" {
			continue
		}
		f := Field{
			Field:   sf.Name,
			Name:    name,
			Default: sf.Tag.Get("envDefault"),
			Secret:  sf.Tag.Get("secret") == "true",
			Desc:    sf.Tag.Get("desc"),
		}
		if a := sf.Tag.Get("alias"); a != "" {
			f.Aliases = strings.Split(a, ",")
		}
		out = append(out, f)
	}
	return out
}

// Fields returns the documentation of every variable, in struct order.
func Fields() []Field { return fields() }
