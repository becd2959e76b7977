package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/api"
	"github.com/intake-dev/intake/internal/blob"
	"github.com/intake-dev/intake/internal/config"
	"github.com/intake-dev/intake/internal/egress"
	"github.com/intake-dev/intake/internal/redact"
	"github.com/intake-dev/intake/internal/schedule"
	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/telemetry"
	"github.com/intake-dev/intake/internal/webhook"
	"github.com/intake-dev/intake/internal/worker"
)

// app holds the dependencies every long-running command shares.
type app struct {
	cfg      *config.Config
	logger   *slog.Logger
	registry *prometheus.Registry
	rawStore intake.Store // for migrations and schema checks
	store    intake.Store // instrumented
	blobs    intake.BlobStore
	sources  intake.Sources
	disp     intake.Dispatcher
	closers  []io.Closer // built later than the backends, closed first
}

// newApp opens the store, blob storage and dispatcher named by cfg. The
// caller must Close the app.
func newApp(ctx context.Context, cfg *config.Config, stderr io.Writer) (*app, error) {
	logger, err := telemetry.NewLogger(stderr, cfg.Process.LogLevel, cfg.Process.LogFormat)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	a := &app{cfg: cfg, logger: logger, registry: telemetry.NewRegistry(buildInfo())}
	opened := false
	defer func() {
		if !opened {
			a.Close() // whatever was opened before the failure
		}
	}()

	if a.rawStore, err = openStore(ctx, cfg, logger); err != nil {
		return nil, err
	}
	a.store = telemetry.InstrumentStore(a.rawStore, a.registry)

	raw, err := blob.Open(ctx, cfg.BlobStoreURL(), blob.Options{
		Container:       cfg.Blob.Container,
		CreateContainer: cfg.Blob.CreateContainer,
		Logger:          logger,
	})
	if err != nil {
		return nil, openError("INTAKE_BLOB_URL", err)
	}
	a.blobs = telemetry.InstrumentBlobStore(raw, a.registry)
	if a.sources, err = newSources(cfg, logger); err != nil {
		return nil, err
	}
	disp, mode, err := openDispatcher(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	a.disp = disp
	logger.Info("intake starting",
		"version", version,
		"store", redact.String(cfg.StoreURL()),
		"blobs", redact.String(cfg.BlobStoreURL()),
		"dispatch", mode)
	opened = true
	return a, nil
}

// openStore opens the job store cfg names.
func openStore(ctx context.Context, cfg *config.Config, logger *slog.Logger) (intake.Store, error) {
	st, err := store.Open(ctx, cfg.StoreURL(), store.Options{
		Logger:           logger,
		MaxConns:         cfg.Store.MaxConns,
		StatementTimeout: cfg.Store.StatementTimeout,
	})
	if err != nil {
		return nil, openError("INTAKE_DATABASE_URL", err)
	}
	return st, nil
}

// openError classifies an error opening a backend: bad URLs are usage errors.
func openError(variable string, err error) error {
	if intake.ErrorCode(err) == intake.EINVALID {
		return &exitError{code: exitUsage, err: fmt.Errorf("%s: %s", variable, intake.ErrorMessage(err))}
	}
	return fmt.Errorf("%s: %w", variable, err)
}

// Close releases every backend that was opened.
func (a *app) Close() {
	for _, c := range a.closers {
		_ = c.Close()
	}
	_ = a.sources.Close()
	for _, c := range []io.Closer{a.disp, a.blobs, a.store} {
		if c != nil {
			_ = c.Close()
		}
	}
}

// migrate applies the schema migrations, when the store has a schema.
func (a *app) migrate(ctx context.Context) error {
	m, ok := a.rawStore.(intake.Migrator)
	if !ok {
		return nil
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// checkSchema refuses to run on a schema older than this binary expects. A
// newer schema is fine: migrations are expand/contract, so release N's
// schema serves release N-1's binary (a rolled-back binary keeps working).
func (a *app) checkSchema(ctx context.Context) error {
	m, ok := a.rawStore.(intake.Migrator)
	if !ok {
		return nil
	}
	current, want, err := m.SchemaStatus(ctx)
	if err != nil {
		return fmt.Errorf("check schema: %w", err)
	}
	if current < want {
		return &exitError{code: exitUsage, err: fmt.Errorf(
			"the job store schema is at version %d, this binary needs %d: run `intake migrate` first", current, want)}
	}
	return nil
}

// apiHandler builds the API, UI and /metrics handler.
func (a *app) apiHandler(authDisabled bool) (http.Handler, error) {
	a.registry.MustRegister(telemetry.NewQueueCollector(a.store, 2*time.Second, 5*time.Second, a.logger))
	// Run metrics from the run records: right when workers are never scraped.
	a.registry.MustRegister(telemetry.NewRunCollector(a.store, 5*time.Second, 10*time.Second, a.logger))
	// Schedule gauges from the store, for the IntakeScheduleStale alert.
	a.registry.MustRegister(telemetry.NewScheduleCollector(a.store, 5*time.Second, 10*time.Second, a.logger))
	policy, err := egress.NewPolicy(a.cfg.Sources.HTTPAllow)
	if err != nil {
		return nil, openError("INTAKE_SOURCE_HTTP_ALLOW", err)
	}
	secretHosts := make(map[string][]string, len(a.cfg.Sources.Secrets))
	for name, sec := range a.cfg.Sources.Secrets {
		secretHosts[name] = sec.Hosts
	}
	h, err := api.NewServer(api.Config{
		APIKeys:       a.cfg.API.Keys,
		AuthDisabled:  authDisabled,
		Version:       version,
		MaxInFlight:   a.cfg.API.MaxInFlight,
		AdmissionWait: a.cfg.API.AdmissionWait,
	}, api.Deps{
		Store:      a.store,
		Blobs:      a.blobs,
		Sources:    a.sources,
		Dispatcher: a.disp,
		Logger:     a.logger,
		Registerer: a.registry,
		Metrics:    a.metricsHandler(),
		NewDemoJob: newDemoJob,

		DefaultNotify:         a.cfg.Monitor.DefaultNotify(),
		AllowUnsignedWebhooks: a.cfg.Monitor.WebhookAllowUnsigned,
		SecretHosts:           secretHosts,
		Egress:                policy,
	})
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return h, nil
}

func (a *app) metricsHandler() http.Handler {
	return promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{
		Registry:          a.registry,
		EnableOpenMetrics: true,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelError),
	})
}

func (a *app) worker() (*worker.Worker, error) {
	c := a.cfg.Worker
	return worker.New(worker.Config{
		Concurrency:   c.Concurrency,
		Prefetch:      c.Prefetch,
		RecordBatch:   c.RecordBatch,
		LeaseTTL:      c.LeaseTTL,
		BatchFraction: c.BatchFraction,
		MaxAttempts:   c.MaxAttempts,
		PollInterval:  c.PollInterval,
		ShutdownGrace: a.cfg.Process.ShutdownTimeout,
		BackoffBase:   c.RetryBackoffBase,
		BackoffMax:    c.RetryBackoffMax,
		MaxRetryAfter: c.MaxRetryAfter,
		Identity:      c.ID, // the host name when empty
	}, a.store, a.blobs, a.sources, a.disp, a.logger, a.registry)
}

// maintainer builds the maintenance loop with its scheduler and webhook
// deliverer. The deliverer's idle connections are closed with the app.
func (a *app) maintainer() (*worker.Maintainer, error) {
	m := a.cfg.Monitor
	sched, err := schedule.New(schedule.Config{
		MisfireGrace:  m.MisfireGrace,
		DefaultNotify: m.DefaultNotify(),
	}, a.store, a.disp, a.logger, a.registry)
	if err != nil {
		return nil, err
	}
	policy, err := egress.NewPolicy(a.cfg.Sources.HTTPAllow)
	if err != nil {
		return nil, openError("INTAKE_SOURCE_HTTP_ALLOW", err)
	}
	secrets := make(map[string]webhook.Secret, len(a.cfg.Sources.Secrets))
	for name, sec := range a.cfg.Sources.Secrets {
		secrets[name] = webhook.Secret{Value: sec.Value, Hosts: sec.Hosts}
	}
	deliverer, err := webhook.New(webhook.Config{
		Timeout:       m.WebhookTimeout,
		MaxAttempts:   m.WebhookMaxAttempts,
		AllowUnsigned: m.WebhookAllowUnsigned,
		Secrets:       secrets,
		Policy:        policy,
	}, a.store, a.logger, a.registry)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, deliverer)
	return worker.NewMaintainer(worker.MaintainerConfig{
		Interval:    a.cfg.Worker.MaintenanceInterval,
		MaxAttempts: a.cfg.Worker.MaxAttempts,
		LeaseTTL:    a.cfg.Worker.LeaseTTL,
		Scheduler:   sched,
		Deliverer:   deliverer,
	}, a.store, a.blobs, a.disp, a.logger, a.registry)
}

// httpServer returns a server with the timeouts and limits every listener
// of intake uses.
func httpServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Document downloads stream blobs; allow large ones to finish.
		WriteTimeout:   5 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// serveHTTP serves h on ln until ctx is done, then shuts down gracefully
// within grace.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration, logger *slog.Logger) error {
	srv := httpServer(h, logger)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shut down http server: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listen opens a TCP listener, turning a busy port into a clear error.
func listen(ctx context.Context, variable, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", variable, addr, err)
	}
	return ln, nil
}
