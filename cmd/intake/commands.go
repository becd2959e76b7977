package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/intake-dev/intake/internal/config"
	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/telemetry"
)

// openChecked opens the app and refuses a schema older than the binary.
func openChecked(ctx context.Context, cfg *config.Config, stderr io.Writer) (*app, error) {
	a, err := newApp(ctx, cfg, stderr)
	if err != nil {
		return nil, err
	}
	if err := a.checkSchema(ctx); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// runMigrate creates or upgrades the job store schema. It opens the job
// store only: a one-shot migration container needs no blob storage, Redis
// or sources, and must not fail on their settings (or their absence).
func runMigrate(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
	logger, err := telemetry.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	st, err := store.Open(ctx, cfg.StoreURL(), store.Options{
		Logger:           logger,
		MaxConns:         cfg.DatabaseMaxConns,
		StatementTimeout: cfg.DatabaseStatementTimeout,
	})
	if err != nil {
		return openError("INTAKE_DATABASE_URL", err)
	}
	defer func() { _ = st.Close() }()
	logger.Info("intake migrate", "version", version, "store", config.Redact(cfg.StoreURL()))
	a := &app{cfg: cfg, logger: logger, rawStore: st}
	if err := a.migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "schema is up to date")
	return nil
}

// runServe runs the API, web UI, /metrics and the maintenance loop.
func runServe(ctx context.Context, cfg *config.Config, stderr io.Writer) error {
	if len(cfg.APIKeys) == 0 && !cfg.AuthDisabled() {
		return usageError("serve: no API keys: set INTAKE_API_KEYS (or INTAKE_API_KEYS_FILE), or INTAKE_AUTH=disabled to run without authentication")
	}
	a, err := openChecked(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	h, err := a.apiHandler(cfg.AuthDisabled())
	if err != nil {
		return err
	}
	maint, err := a.maintainer()
	if err != nil {
		return err
	}
	ln, err := listen(ctx, "INTAKE_HTTP_ADDR", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	a.logger.Info("serving", "addr", ln.Addr().String())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveHTTP(gctx, ln, h, cfg.ShutdownTimeout, a.logger) })
	g.Go(func() error { return maint.Run(gctx) })
	return g.Wait()
}

// runWork runs the long-running worker pool, the maintenance loop and the
// worker's own /metrics and /health listener.
func runWork(ctx context.Context, cfg *config.Config, stderr io.Writer) error {
	a, err := openChecked(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	w, err := a.worker()
	if err != nil {
		return err
	}
	maint, err := a.maintainer()
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	if cfg.MetricsAddr != "" {
		ln, err := listen(ctx, "INTAKE_METRICS_ADDR", cfg.MetricsAddr)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.metricsHandler())
		mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":"ok"}`)
		})
		a.logger.Info("worker metrics", "addr", ln.Addr().String())
		g.Go(func() error { return serveHTTP(gctx, ln, mux, cfg.ShutdownTimeout, a.logger) })
	}
	g.Go(func() error { return maint.Run(gctx) })
	// The pool drains on its own when ctx is done; it must not be cut
	// short by a sibling's failure beyond that.
	g.Go(func() error { return w.Run(gctx) })
	return g.Wait()
}

// runWorkOnce is KEDA's mode: claim one job, run one batch, exit. Nothing to
// claim is a success.
func runWorkOnce(ctx context.Context, cfg *config.Config, jobID string, stderr io.Writer) error {
	if jobID == "" {
		jobID = cfg.JobID
	}
	a, err := openChecked(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	w, err := a.worker()
	if err != nil {
		return err
	}
	claimed, err := w.RunOnce(ctx, jobID)
	if err != nil {
		return err
	}
	if !claimed {
		a.logger.Info("nothing to claim", "job_id", jobID)
	}
	return nil
}

// runDev runs everything in one process on the embedded defaults, with
// migrations applied. Authentication is off unless INTAKE_AUTH is set, and
// then only a loopback address may be bound.
func runDev(ctx context.Context, cfg *config.Config, environ []string, stdout, stderr io.Writer) error {
	authDisabled := true
	for _, kv := range environ {
		if strings.HasPrefix(kv, "INTAKE_AUTH=") {
			authDisabled = cfg.AuthDisabled()
		}
	}
	if !authDisabled && len(cfg.APIKeys) == 0 {
		return usageError("dev: INTAKE_AUTH=enabled needs INTAKE_API_KEYS")
	}
	if authDisabled && !loopback(cfg.HTTPAddr) {
		return usageError("INTAKE_HTTP_ADDR: dev runs without authentication and binds loopback only, not %q (set INTAKE_AUTH=enabled and INTAKE_API_KEYS to expose it)", cfg.HTTPAddr)
	}
	a, err := newApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.migrate(ctx); err != nil {
		return err
	}
	h, err := a.apiHandler(authDisabled)
	if err != nil {
		return err
	}
	w, err := a.worker()
	if err != nil {
		return err
	}
	maint, err := a.maintainer()
	if err != nil {
		return err
	}
	ln, err := listen(ctx, "INTAKE_HTTP_ADDR", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "intake dev is running (store %s, blobs %s)\n  web UI:   %s/\n  API docs: %s/docs\n  metrics:  %s/metrics\nPress Ctrl+C to stop.\n",
		config.Redact(cfg.StoreURL()), config.Redact(cfg.BlobStoreURL()), base, base, base)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveHTTP(gctx, ln, h, cfg.ShutdownTimeout, a.logger) })
	g.Go(func() error { return maint.Run(gctx) })
	g.Go(func() error { return w.Run(gctx) })
	return g.Wait()
}

// loopback reports whether addr's host is a loopback address or name.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
