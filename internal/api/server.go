// Package api is intake's HTTP edge: the job API (huma v2 on net/http's
// ServeMux, described by an OpenAPI 3.1 document), the /create-job route
// that creates demo jobs in bulk, health and readiness probes, the
// embedded web UI and the offline API docs.
//
// Every error leaves as an RFC 9457 problem (application/problem+json),
// except on /create-job, which answers {"error": "..."}.
// Domain error codes map to HTTP statuses in one place (errors.go); internal
// details only reach the logs, tagged with the request id.
package api

import (
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/egress"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxBodyBytes  int64 = 1 << 20
	DefaultReadyCacheTTL       = 2 * time.Second
	DefaultStoreTimeout        = 5 * time.Second
	// The defaults of INTAKE_HTTP_MAX_IN_FLIGHT and
	// INTAKE_HTTP_ADMISSION_WAIT.
	DefaultMaxInFlight   = 64
	DefaultAdmissionWait = 100 * time.Millisecond
)

// Config tunes the HTTP API.
type Config struct {
	// APIKeys are the accepted bearer keys; each request's key is compared
	// with every one of them in constant time.
	APIKeys []string
	// AuthDisabled turns authentication off (cmd/intake decides it from
	// INTAKE_AUTH and the command); the middleware then answers only
	// requests addressed to a loopback host. Without it, NewServer refuses
	// an empty APIKeys.
	AuthDisabled bool
	// MaxBodyBytes caps request bodies; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int64
	// Version is the build version reported by /health and /ready.
	Version string
	// ReadyCacheTTL is how long /ready reuses its last dependency check.
	// Default 2s.
	ReadyCacheTTL time.Duration
	// StoreTimeout bounds every store call a request makes, so that a store
	// outage answers 503 instead of hanging. Default 5s.
	StoreTimeout time.Duration
	// MaxInFlight bounds the /api and /create-job requests served at once
	// (0: no bound; cmd/intake's default is DefaultMaxInFlight). A request
	// beyond it waits up to AdmissionWait (0: not at all) for another to
	// finish, and is otherwise answered 503 with Retry-After at once.
	// Probes, /metrics, the UI, the docs and document downloads are never
	// held back.
	MaxInFlight   int
	AdmissionWait time.Duration
}

// Deps are the API's collaborators.
type Deps struct {
	Store      intake.Store
	Blobs      intake.BlobStore
	Sources    intake.Sources
	Dispatcher intake.Dispatcher
	// Logger receives access logs and errors; nil discards them.
	Logger *slog.Logger
	// Registerer receives the HTTP and job-creation metrics; nil keeps them
	// in a private registry.
	Registerer prometheus.Registerer
	// Metrics is mounted at /metrics, open to all, when non-nil.
	Metrics http.Handler
	// NewDemoJob makes the jobs of POST /create-job, one per call; the
	// route exists, and is documented, only when it is set.
	NewDemoJob func() (DemoJob, error)
	// DefaultNotify is the deployment's webhook (INTAKE_WEBHOOK_URL,
	// _EVENTS, _SECRET), stored on jobs and schedules created without a
	// notify of their own; nil for none.
	DefaultNotify *intake.Notify
	// AllowUnsignedWebhooks accepts a notify without a secret
	// (INTAKE_WEBHOOK_ALLOW_UNSIGNED); otherwise such a request is a 422.
	AllowUnsignedWebhooks bool
	// SecretHosts are the configured secrets (INTAKE_SECRET_<NAME>) by
	// name (case-insensitive), each with the hosts it may sign requests
	// for (INTAKE_SECRET_<NAME>_HOSTS): a notify's secret must name one
	// bound to its URL's host, as the deliverer requires.
	SecretHosts map[string][]string
	// Egress is the egress policy of the api source and webhooks
	// (INTAKE_SOURCE_HTTP_ALLOW), which a notify URL whose host is an IP
	// literal must pass; nil refuses every special-purpose address, as the
	// policy does by default.
	Egress *egress.Policy
}

// server holds what the handlers share.
type server struct {
	cfg     Config
	store   intake.Store
	blobs   intake.BlobStore
	sources intake.Sources
	disp    intake.Dispatcher
	demoJob func() (DemoJob, error)
	notify  *notifyPolicy
	log     *slog.Logger
	metrics *metrics
	ready   *readiness
	admit   *admission
	// keys are the SHA-256 digests of the accepted API keys.
	keys [][sha256.Size]byte
}

// NewServer returns the handler that serves the API, the web UI, the API
// docs and (when deps.Metrics is set) /metrics. It fails when no API key is
// configured and authentication is not explicitly disabled, when a
// dependency is missing, or when the metrics cannot be registered.
func NewServer(cfg Config, deps Deps) (http.Handler, error) {
	if len(cfg.APIKeys) == 0 && !cfg.AuthDisabled {
		return nil, errors.New("api: no API keys configured; set INTAKE_API_KEYS or disable authentication explicitly (INTAKE_AUTH=disabled)")
	}
	for _, k := range cfg.APIKeys {
		if k == "" {
			return nil, errors.New("api: empty API key")
		}
	}
	if deps.Store == nil || deps.Blobs == nil || deps.Sources == nil || deps.Dispatcher == nil {
		return nil, errors.New("api: Store, Blobs, Sources and Dispatcher are required")
	}
	cfg = withDefaults(cfg)
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	np, err := newNotifyPolicy(deps)
	if err != nil {
		return nil, err
	}
	s := &server{
		cfg:     cfg,
		store:   deps.Store,
		blobs:   deps.Blobs,
		sources: deps.Sources,
		disp:    deps.Dispatcher,
		demoJob: deps.NewDemoJob,
		notify:  np,
		log:     deps.Logger,
		metrics: m,
		ready:   newReadiness(deps.Store, deps.Blobs, cfg.ReadyCacheTTL, deps.Logger),
		admit:   newAdmission(cfg.MaxInFlight, cfg.AdmissionWait),
	}
	for _, k := range cfg.APIKeys {
		s.keys = append(s.keys, sha256.Sum256([]byte(k)))
	}
	mux := http.NewServeMux()
	api, err := newAPI(mux, deps.Sources)
	if err != nil {
		return nil, err
	}
	if err := s.routes(api, mux, deps.Metrics); err != nil {
		return nil, err
	}
	return s.middleware(mux), nil
}

func withDefaults(cfg Config) Config {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.ReadyCacheTTL <= 0 {
		cfg.ReadyCacheTTL = DefaultReadyCacheTTL
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = DefaultStoreTimeout
	}
	return cfg
}
