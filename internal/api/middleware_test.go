package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/api"
	"github.com/intake-dev/intake/internal/blob"
	"github.com/intake-dev/intake/internal/dispatch/poll"
	"github.com/intake-dev/intake/internal/source/filings"
)

func TestNewServerConfig(t *testing.T) {
	t.Parallel()
	blobs, err := blob.Open(t.Context(), "file://"+t.TempDir(), blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	store := newBundle(t).store
	deps := api.Deps{Store: store, Blobs: blobs, Sources: intake.NewSources(filings.New(0)), Dispatcher: poll.New()}
	tests := []struct {
		name    string
		cfg     api.Config
		deps    api.Deps
		wantErr bool
	}{
		{"keys", api.Config{APIKeys: []string{"k"}}, deps, false},
		{"auth disabled", api.Config{AuthDisabled: true}, deps, false},
		{"no keys", api.Config{}, deps, true},
		{"empty key", api.Config{APIKeys: []string{"k", ""}}, deps, true},
		{"no store", api.Config{AuthDisabled: true}, api.Deps{Blobs: blobs, Sources: deps.Sources, Dispatcher: deps.Dispatcher}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := api.NewServer(tt.cfg, tt.deps)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewServer: %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	id := b.trigger(t)
	protected := []request{
		{path: "/api/v1/jobs"},
		{path: "/api/v1/jobs/status/" + id},
		{path: "/api/v1/jobs/result/" + id},
		{path: "/api/v1/jobs/" + id + "/documents/1/content"},
		{path: "/api/v1/sources"},
		{path: "/api/v1/no-such-route"},
		{method: http.MethodPost, path: "/api/v1/jobs/trigger", body: `{}`},
		{method: http.MethodPost, path: "/api/v1/jobs/" + id + "/cancel"},
		{method: http.MethodPost, path: "/create-job", body: `{"num_jobs": 1}`},
	}
	denied := []struct {
		name   string
		header string
	}{
		{"no header", ""},
		{"wrong key", "Bearer wrong-key-value"},
		{"key prefix", "Bearer " + testKey[:len(testKey)-1]},
		{"key with suffix", "Bearer " + testKey + "x"},
		{"basic scheme", "Basic " + testKey},
		{"bare key", testKey},
		{"empty bearer", "Bearer "},
	}
	for _, r := range protected {
		for _, d := range denied {
			t.Run(r.method+r.path+"/"+d.name, func(t *testing.T) {
				t.Parallel()
				req := r
				req.noKey = true
				if d.header != "" {
					req.header = map[string]string{"Authorization": d.header}
				}
				got := b.do(t, req)
				got.wantProblem(t, http.StatusUnauthorized)
				if !strings.HasPrefix(got.header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("WWW-Authenticate %q", got.header.Get("WWW-Authenticate"))
				}
			})
		}
	}
	// Either configured key works, and the scheme is case-insensitive.
	for _, h := range []string{"Bearer " + testKey, "Bearer " + secondKey, "bearer " + testKey} {
		got := b.do(t, request{path: "/api/v1/jobs/status/" + id, noKey: true, header: map[string]string{"Authorization": h}})
		if got.status != http.StatusOK {
			t.Errorf("%q: status %d", h[:8], got.status)
		}
	}
	if calls := b.creates.calls(); len(calls) != 1 {
		t.Fatalf("an unauthenticated request reached the store: CreateJobs calls %v", calls)
	}
}

func TestOpenRoutes(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	tests := []struct {
		path        string
		status      int
		contentType string
		contains    string
	}{
		{"/health", http.StatusOK, "application/json", `"status":"ok"`},
		{"/ready", http.StatusOK, "application/json", `"store":{"status":"up"`},
		{"/openapi.json", http.StatusOK, "application/openapi+json", `"openapi":"3.1.0"`},
		{"/openapi.yaml", http.StatusOK, "application/openapi+yaml", "openapi: 3.1.0"},
		{"/docs", http.StatusMovedPermanently, "", ""},
		{"/docs/", http.StatusOK, "text/html; charset=utf-8", "swagger-ui-bundle.js"},
		{"/", http.StatusOK, "text/html; charset=utf-8", `id="create-3"`},
		{"/assets/app.js", http.StatusOK, "text/javascript; charset=utf-8", "create-job"},
		{"/assets/app.css", http.StatusOK, "text/css; charset=utf-8", ".badge"},
		{"/metrics", http.StatusOK, "text/plain", "intake_http_requests_in_flight"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			r := b.do(t, request{path: tt.path, noKey: true})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d", r.status, tt.status)
			}
			if !strings.HasPrefix(r.header.Get("Content-Type"), tt.contentType) {
				t.Fatalf("Content-Type %q, want %q", r.header.Get("Content-Type"), tt.contentType)
			}
			if !strings.Contains(string(r.body), tt.contains) {
				t.Fatalf("body lacks %q", tt.contains)
			}
		})
	}
}

func TestUnmatchedRoutes(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.do(t, request{path: "/nope", noKey: true}).wantProblem(t, http.StatusNotFound)
	b.do(t, request{path: "/assets/missing.js", noKey: true}).wantProblem(t, http.StatusNotFound)
	b.do(t, request{path: "/docs/missing.js", noKey: true}).wantProblem(t, http.StatusNotFound)
	r := b.do(t, request{method: http.MethodDelete, path: "/health", noKey: true})
	r.wantProblem(t, http.StatusMethodNotAllowed)
	if !strings.Contains(r.header.Get("Allow"), "GET") {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
	b.do(t, request{path: "/api/v1/nope"}).wantProblem(t, http.StatusNotFound)
	if got := b.counter(t, "intake_http_requests_total", map[string]string{"route": "unmatched", "code": "404"}); got < 1 {
		t.Fatalf(`no request counted under route="unmatched"`)
	}
}

// TestAccessLog checks the one line per request, its route pattern and
// request id, and that no key or Authorization header is ever logged.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	id := b.trigger(t)
	r := b.do(t, request{path: "/api/v1/jobs/status/" + id, header: map[string]string{"X-Request-ID": "req-abc.123"}})
	if r.header.Get("X-Request-ID") != "req-abc.123" {
		t.Fatalf("X-Request-ID %q, want the incoming one", r.header.Get("X-Request-ID"))
	}
	bad := b.do(t, request{path: "/api/v1/jobs/status/" + id, header: map[string]string{"X-Request-ID": "evil\u00a0id with spaces and {json}"}})
	if got := bad.header.Get("X-Request-ID"); got == "" || strings.Contains(got, " ") {
		t.Fatalf("an unsafe X-Request-ID was echoed: %q", got)
	}
	b.do(t, request{path: "/api/v1/jobs", key: "wrong-key-value"})
	b.do(t, request{path: "/api/v1/jobs", key: secondKey})

	var found bool
	for _, line := range b.logs.Records(t) {
		if line["msg"] != "http request" || line["request_id"] != "req-abc.123" {
			continue
		}
		found = true
		if line["route"] != "/api/v1/jobs/status/{job_id}" || line["method"] != "GET" || line["status"] != float64(200) {
			t.Errorf("access line %v", line)
		}
		for _, k := range []string{"duration_ms", "bytes"} {
			if _, ok := line[k]; !ok {
				t.Errorf("access line lacks %s: %v", k, line)
			}
		}
	}
	if !found {
		t.Fatalf("no access line for the request:\n%s", b.logs)
	}
	logs := b.logs.String()
	for _, secret := range []string{testKey, secondKey, "wrong-key-value", "Authorization", "Bearer"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains %q", secret)
		}
	}
	if strings.Contains(logs, `"route":"/api/v1/jobs/status/`+id) {
		t.Error("the access log carries a raw path, not the route pattern")
	}
}

func TestHTTPMetrics(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	id := b.trigger(t)
	for range 3 {
		b.status(t, id)
	}
	labels := map[string]string{"method": "GET", "route": "/api/v1/jobs/status/{job_id}", "code": "200"}
	if got := b.counter(t, "intake_http_requests_total", labels); got != 3 {
		t.Fatalf("requests_total%v = %v, want 3", labels, got)
	}
	if got := b.counter(t, "intake_http_request_duration_seconds", map[string]string{"route": "/api/v1/jobs/status/{job_id}"}); got != 3 {
		t.Fatalf("duration observations = %v, want 3", got)
	}
	if got := b.counter(t, "intake_jobs_created_total", map[string]string{"source_type": "filings"}); got != 1 {
		t.Fatalf("jobs_created_total = %v, want 1", got)
	}
	b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/trigger", body: `{"source_type": "ftp", "config": {}}`})
	if got := b.counter(t, "intake_jobs_create_failures_total", map[string]string{"reason": "invalid"}); got != 1 {
		t.Fatalf("invalid failures = %v, want 1", got)
	}
}

// TestStoreOutage checks that a store that is down, failing or hanging
// answers 503 with Retry-After, never a hang or a 500 with internals.
func TestStoreOutage(t *testing.T) {
	t.Parallel()

	t.Run("closed store", func(t *testing.T) {
		t.Parallel()
		b := newBundle(t, func(c *api.Config, _ *api.Deps) { c.ReadyCacheTTL = time.Nanosecond })
		id := b.trigger(t)
		if err := b.store.Close(); err != nil {
			t.Fatal(err)
		}
		for _, r := range []request{
			{path: "/api/v1/jobs/status/" + id},
			{path: "/api/v1/jobs"},
			{path: "/api/v1/jobs/result/" + id},
			{method: http.MethodPost, path: "/api/v1/jobs/" + id + "/cancel"},
			{method: http.MethodPost, path: "/api/v1/jobs/trigger", body: `{"source_type": "filings", "config": ` + validConfig + `}`},
		} {
			got := b.do(t, r)
			got.wantProblem(t, http.StatusServiceUnavailable)
			if got.header.Get("Retry-After") == "" {
				t.Errorf("%s %s: no Retry-After", r.method, r.path)
			}
		}
		ready := b.do(t, request{path: "/ready", noKey: true})
		var body struct {
			Status string `json:"status"`
			Checks map[string]struct {
				Status string `json:"status"`
			} `json:"checks"`
		}
		ready.decode(t, &body)
		if ready.status != http.StatusServiceUnavailable || ready.header.Get("Retry-After") == "" ||
			body.Status != "unavailable" || body.Checks["store"].Status != "down" || body.Checks["blobs"].Status != "up" {
			t.Fatalf("/ready: %d %s", ready.status, ready.body)
		}
		if h := b.do(t, request{path: "/health", noKey: true}); h.status != http.StatusOK {
			t.Fatalf("/health: %d while the store is down", h.status)
		}
	})

	t.Run("unclassified error, store down", func(t *testing.T) {
		t.Parallel()
		b := newBundle(t)
		b.creates.failWith(errors.New("disk I/O error"))
		if err := b.store.Close(); err != nil {
			t.Fatal(err)
		}
		r := b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/trigger", body: `{"source_type": "filings", "config": ` + validConfig + `}`})
		r.wantProblem(t, http.StatusServiceUnavailable)
	})

	t.Run("unclassified error, store up", func(t *testing.T) {
		t.Parallel()
		b := newBundle(t)
		b.creates.failWith(errors.New("disk I/O error at page 7"))
		r := b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/trigger", body: `{"source_type": "filings", "config": ` + validConfig + `}`})
		p := r.wantProblem(t, http.StatusInternalServerError)
		reqID := r.header.Get("X-Request-ID")
		if strings.Contains(string(r.body), "disk I/O") || !strings.Contains(p.Detail, reqID) {
			t.Fatalf("500 body %s: leaks the cause or lacks the request id %s", r.body, reqID)
		}
		if logs := b.logs.String(); !strings.Contains(logs, "disk I/O error at page 7") || !strings.Contains(logs, reqID) {
			t.Fatalf("the cause and request id are not in the log:\n%s", logs)
		}
	})

	t.Run("hanging store", func(t *testing.T) {
		t.Parallel()
		b := newBundle(t, func(c *api.Config, d *api.Deps) {
			c.StoreTimeout = 50 * time.Millisecond
			d.Store = hangingStore{d.Store}
		})
		b.do(t, request{path: "/api/v1/jobs/status/" + intake.NewID()}).wantProblem(t, http.StatusServiceUnavailable)
	})
}

// hangingStore is the real store whose GetJob waits until its deadline,
// like a store behind a dead network.
type hangingStore struct{ intake.Store }

func (hangingStore) GetJob(ctx context.Context, _ string) (*intake.Job, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// panicSource is the filings source whose Validate panics.
type panicSource struct{ intake.Source }

func (panicSource) Type() string { return "panicky" }

func (panicSource) Validate(context.Context, json.RawMessage) error { panic("validator bug") }

func TestPanicRecovery(t *testing.T) {
	t.Parallel()
	b := newBundle(t, func(_ *api.Config, d *api.Deps) {
		d.Sources = intake.NewSources(filings.New(0), panicSource{filings.New(0)})
	})
	r := b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/trigger", body: `{"source_type": "panicky", "config": {}}`})
	p := r.wantProblem(t, http.StatusInternalServerError)
	if strings.Contains(string(r.body), "validator bug") || !strings.Contains(p.Detail, r.header.Get("X-Request-ID")) {
		t.Fatalf("500 body %s", r.body)
	}
	if !strings.Contains(b.logs.String(), "validator bug") {
		t.Fatal("the panic is not logged")
	}
	if got := b.counter(t, "intake_http_requests_total", map[string]string{"route": "/api/v1/jobs/trigger", "code": "500"}); got != 1 {
		t.Fatalf("500s counted = %v, want 1", got)
	}
	// The server keeps serving.
	if h := b.do(t, request{path: "/health", noKey: true}); h.status != http.StatusOK {
		t.Fatalf("/health after a panic: %d", h.status)
	}
}

func TestAuthDisabled(t *testing.T) {
	t.Parallel()
	b := newBundle(t, func(c *api.Config, _ *api.Deps) { c.APIKeys = nil; c.AuthDisabled = true })
	r := b.do(t, request{method: http.MethodPost, path: "/create-job", body: `{"num_jobs": 1}`, noKey: true})
	if r.status != http.StatusOK {
		t.Fatalf("create-job without auth: %d %s", r.status, r.body)
	}
}
