package api

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/intake-dev/intake"
)

// pingTimeout bounds each dependency check of /ready.
const pingTimeout = 2 * time.Second

// healthBody is the body of /health.
type healthBody struct {
	Status  string `json:"status" example:"ok" doc:"Always ok while the process serves requests."`
	Version string `json:"version" doc:"Build version."`
}

type healthOutput struct {
	Body healthBody
}

// handleHealth answers liveness probes: 200 while the process runs. It
// checks nothing else, so that a store outage never restarts API pods.
func handleHealth(version string) func(context.Context, *struct{}) (*healthOutput, error) {
	return func(context.Context, *struct{}) (*healthOutput, error) {
		return &healthOutput{Body: healthBody{Status: "ok", Version: version}}, nil
	}
}

// dependencyState is one dependency's result in /ready.
type dependencyState struct {
	Status   string `json:"status" enum:"up,down" doc:"up when the dependency answered its last check."`
	Required bool   `json:"required" doc:"Whether readiness depends on it."`
	Error    string `json:"error,omitempty" doc:"Why the check failed; details are in the server log."`
}

// readyBody is the body of /ready.
type readyBody struct {
	Status    string                     `json:"status" enum:"ready,unavailable"`
	Version   string                     `json:"version"`
	CheckedAt time.Time                  `json:"checked_at" doc:"When the dependencies were last checked; results are cached briefly."`
	Checks    map[string]dependencyState `json:"checks" doc:"Dependency states by name (store, blobs)."`
}

type readyOutput struct {
	Status     int
	RetryAfter string `header:"Retry-After"`
	Body       *readyBody
}

// readiness caches dependency checks so that probes from many kubelets and
// load balancers cost at most one ping per TTL. Only the store decides
// readiness: it is what every API call needs. Blob storage is reported but
// does not fail the probe, since job creation and status work without it.
type readiness struct {
	store intake.Store
	blobs intake.BlobStore
	ttl   time.Duration
	log   *slog.Logger

	mu   sync.Mutex
	last *readyBody
}

func newReadiness(store intake.Store, blobs intake.BlobStore, ttl time.Duration, log *slog.Logger) *readiness {
	return &readiness{store: store, blobs: blobs, ttl: ttl, log: log}
}

// check returns the cached result, refreshing it when it is older than the
// TTL. Concurrent callers wait for one refresh instead of each pinging.
func (r *readiness) check(ctx context.Context) *readyBody {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last != nil && time.Since(r.last.CheckedAt) < r.ttl {
		return r.last
	}
	// Detached from the caller: a client that hangs up must not poison the
	// cache with a "context canceled" outage.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pingTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var storeErr, blobErr error
	wg.Go(func() { storeErr = r.store.Ping(ctx) })
	wg.Go(func() { blobErr = r.blobs.Ping(ctx) })
	wg.Wait()
	body := &readyBody{Status: "ready", CheckedAt: time.Now(), Checks: map[string]dependencyState{
		"store": r.state(ctx, "store", storeErr, true),
		"blobs": r.state(ctx, "blobs", blobErr, false),
	}}
	if storeErr != nil {
		body.Status = "unavailable"
	}
	r.last = body
	return body
}

// state describes one check. The error text stays in the log: ping errors
// can carry connection details.
func (r *readiness) state(ctx context.Context, name string, err error, required bool) dependencyState {
	if err == nil {
		return dependencyState{Status: "up", Required: required}
	}
	r.log.WarnContext(ctx, "readiness check failed", "dependency", name, "err", err)
	return dependencyState{Status: "down", Required: required, Error: "unreachable"}
}

// handleReady answers readiness probes: 200 when the store answers, 503
// with Retry-After otherwise; the body lists every dependency's state.
func handleReady(r *readiness, version string) func(context.Context, *struct{}) (*readyOutput, error) {
	return func(ctx context.Context, _ *struct{}) (*readyOutput, error) {
		b := *r.check(ctx)
		b.Version = version
		out := &readyOutput{Status: http.StatusOK, Body: &b}
		if b.Status != "ready" {
			out.Status = http.StatusServiceUnavailable
			out.RetryAfter = retryAfter(nil)
		}
		return out, nil
	}
}
