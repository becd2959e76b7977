package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"

	"golang.org/x/sync/errgroup"

	"github.com/intake-dev/intake/internal/config"
	"github.com/intake-dev/intake/internal/redact"
	"github.com/intake-dev/intake/internal/telemetry"
	"github.com/intake-dev/intake/internal/worker"
)

// runMigrate creates or upgrades the job store schema. It opens the job
// store only: a one-shot migration container needs no blob storage, Redis
// or sources, and must not fail on their settings (or their absence).
func runMigrate(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) error {
	logger, err := telemetry.NewLogger(stderr, cfg.Process.LogLevel, cfg.Process.LogFormat)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	logger.Info("intake migrate", "version", version, "store", redact.String(cfg.StoreURL()))
	a := &app{cfg: cfg, logger: logger, rawStore: st}
	if err := a.migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "schema is up to date")
	return nil
}

// role says what a long-running command runs besides the maintenance loop,
// which they all run.
type role struct {
	name string
	// api serves the API, the web UI and /metrics on INTAKE_HTTP_ADDR.
	api bool
	// worker runs the worker pool; without api, /metrics and /health are
	// served on INTAKE_METRICS_ADDR instead.
	worker bool
	// dev applies migrations instead of refusing an older schema, runs
	// without authentication unless INTAKE_AUTH says otherwise, and then
	// binds loopback only; it prints the URLs.
	dev bool
}

// The long-running commands.
var (
	serveRole = role{name: "serve", api: true}
	workRole  = role{name: "work", worker: true}
	devRole   = role{name: "dev", api: true, worker: true, dev: true}
)

// runServer is the one start-up path of serve, work and dev: it checks the
// configuration the role depends on, opens the backends, migrates or
// checks the schema, and runs the role's parts until ctx is done or one of
// them fails.
func runServer(ctx context.Context, cfg *config.Config, r role, stdout, stderr io.Writer) error {
	authDisabled := cfg.API.AuthDisabled(r.dev)
	if r.api {
		if err := checkAuth(cfg, r, authDisabled); err != nil {
			return err
		}
	}
	a, err := newApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	if r.dev {
		err = a.migrate(ctx)
	} else {
		err = a.checkSchema(ctx)
	}
	if err != nil {
		return err
	}
	// Everything is built before anything runs, so that a failure leaves
	// nothing running.
	maint, err := a.maintainer()
	if err != nil {
		return err
	}
	var w *worker.Worker
	if r.worker {
		if w, err = a.worker(); err != nil {
			return err
		}
	}
	var h http.Handler
	addrVar, addr := "INTAKE_METRICS_ADDR", cfg.Worker.MetricsAddr
	if r.api {
		if h, err = a.apiHandler(authDisabled); err != nil {
			return err
		}
		addrVar, addr = "INTAKE_HTTP_ADDR", cfg.API.Addr
	} else if addr != "" {
		h = a.workerMux()
	}
	g, gctx := errgroup.WithContext(ctx)
	if h != nil {
		ln, err := listen(ctx, addrVar, addr)
		if err != nil {
			return err
		}
		switch {
		case r.dev:
			base := "http://" + ln.Addr().String()
			fmt.Fprintf(stdout, "intake dev is running (store %s, blobs %s)\n  web UI:   %s/\n  API docs: %s/docs\n  metrics:  %s/metrics\nPress Ctrl+C to stop.\n",
				redact.String(cfg.StoreURL()), redact.String(cfg.BlobStoreURL()), base, base, base)
		case r.api:
			a.logger.Info("serving", "addr", ln.Addr().String())
		default:
			a.logger.Info("worker metrics", "addr", ln.Addr().String())
		}
		g.Go(func() error { return serveHTTP(gctx, ln, h, cfg.Process.ShutdownTimeout, a.logger) })
	}
	g.Go(func() error { return maint.Run(gctx) })
	if w != nil {
		// The pool drains on its own when ctx is done; it must not be cut
		// short by a sibling's failure beyond that.
		g.Go(func() error { return w.Run(gctx) })
	}
	return g.Wait()
}

// checkAuth refuses an API that would ask for keys it does not have, and a
// dev server without authentication on an address other hosts reach.
func checkAuth(cfg *config.Config, r role, authDisabled bool) error {
	if !authDisabled && len(cfg.API.Keys) == 0 {
		return usageError("%s: no API keys: set INTAKE_API_KEYS (or INTAKE_API_KEYS_FILE), or INTAKE_AUTH=disabled to run without authentication", r.name)
	}
	if r.dev && authDisabled && !loopback(cfg.API.Addr) {
		return usageError("INTAKE_HTTP_ADDR: dev runs without authentication and binds loopback only, not %q (set INTAKE_AUTH=enabled and INTAKE_API_KEYS to expose it)", cfg.API.Addr)
	}
	return nil
}

// workerMux serves a worker pool's /metrics and /health.
func (a *app) workerMux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metricsHandler())
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	return mux
}

// runWorkOnce is KEDA's mode: claim one job, run one batch, exit. Nothing to
// claim is a success.
func runWorkOnce(ctx context.Context, cfg *config.Config, jobID string, stderr io.Writer) error {
	if jobID == "" {
		jobID = cfg.Worker.JobID
	}
	a, err := newApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.checkSchema(ctx); err != nil {
		return err
	}
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
