// Package e2etest starts intake's HTTP API and a real worker pool inside a
// test process, over a SQLite store and file blobs in the test's temporary
// directory, so that a source can be tested end to end through the API: a
// job triggered over HTTP is collected by the worker and its documents are
// read back through the result and content endpoints.
package e2etest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/api"
	"github.com/intake-dev/intake/internal/blob"
	"github.com/intake-dev/intake/internal/dispatch/poll"
	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/worker"
)

// Stack is a running API and worker pool.
type Stack struct {
	// URL is the API's base URL; authentication is disabled.
	URL string
	// Client talks to the API.
	Client *http.Client
	// Store and Blobs are the stack's backends, for assertions.
	Store *store.Store
	Blobs *blob.Bucket
}

// Options adjusts a Stack.
type Options struct {
	// Worker configures the pool; zero values get Concurrency 2 and a
	// PollInterval of 50 ms.
	Worker worker.Config
	// Logger receives the API's and the worker's logs; discarded when nil.
	Logger *slog.Logger
}

// Start runs the API and a worker pool for sources until the test ends. The
// worker stops before the store closes, and an error from it fails the test.
func Start(t *testing.T, sources intake.Sources, opts Options) *Stack {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	store, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "intake.db"), store.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.Open(ctx, "file://"+filepath.Join(dir, "blobs"), blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = blobs.Close() })
	disp := poll.New()
	t.Cleanup(func() { _ = disp.Close() })
	reg := prometheus.NewRegistry()

	h, err := api.NewServer(api.Config{AuthDisabled: true}, api.Deps{
		Store: store, Blobs: blobs, Sources: sources, Dispatcher: disp, Logger: logger, Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	wcfg := opts.Worker
	if wcfg.Concurrency == 0 {
		wcfg.Concurrency = 2
	}
	if wcfg.PollInterval == 0 {
		wcfg.PollInterval = 50 * time.Millisecond
	}
	w, err := worker.New(wcfg, store, blobs, sources, disp, logger, reg)
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	t.Cleanup(func() { // registered last, so it runs before the store closes
		stop()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	return &Stack{URL: srv.URL, Client: srv.Client(), Store: store, Blobs: blobs}
}
