package api_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/api"
)

// gateStore holds every ListJobs call until release is closed, telling
// entered when one arrives.
type gateStore struct {
	intake.Store
	entered chan struct{}
	release chan struct{}
}

func (s *gateStore) ListJobs(ctx context.Context, f intake.JobFilter) (*intake.JobPage, error) {
	s.entered <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.ListJobs(ctx, f)
}

// withGate makes the bundle's store a gateStore and bounds the requests in
// flight to limit, with the given admission wait.
func withGate(g *gateStore, limit int, wait time.Duration) option {
	return func(cfg *api.Config, deps *api.Deps) {
		g.Store = deps.Store
		deps.Store = g
		cfg.MaxInFlight, cfg.AdmissionWait = limit, wait
	}
}

// fill starts n requests that the gate holds, and returns once all of
// them are in the store, with a wait for their answers.
func fill(t *testing.T, b *bundle, g *gateStore, n int) (wait func() []int) {
	t.Helper()
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() { codes[i] = b.do(t, request{path: "/api/v1/jobs"}).status })
	}
	for range n {
		<-g.entered
	}
	return func() []int { wg.Wait(); return codes }
}

func TestAdmissionShedsBeyondLimit(t *testing.T) {
	t.Parallel()
	g := &gateStore{entered: make(chan struct{}, 8), release: make(chan struct{})}
	b := newBundle(t, withGate(g, 2, 0))
	id := b.trigger(t)
	creates := len(b.creates.calls())
	wait := fill(t, b, g, 2)

	// Two requests hold both slots: the API's next ones are refused at
	// once, in each route's error format.
	res := b.do(t, request{path: "/api/v1/jobs"})
	p := res.wantProblem(t, http.StatusServiceUnavailable)
	if !strings.Contains(p.Detail, "INTAKE_HTTP_MAX_IN_FLIGHT") {
		t.Errorf("detail %q does not name the setting", p.Detail)
	}
	if got := res.header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	res = b.do(t, request{method: http.MethodPost, path: "/create-job", body: `{"num_jobs": 1}`})
	if res.status != http.StatusServiceUnavailable || !strings.HasPrefix(string(res.body), `{"error":`) {
		t.Errorf("/create-job: %d %s, want 503 with an error object", res.status, res.body)
	}
	if n := len(b.creates.calls()); n != creates {
		t.Errorf("a refused /create-job reached the store (%d calls, want %d)", n, creates)
	}

	// What does not count against the bound still answers.
	for _, r := range []request{
		{path: "/health", noKey: true},
		{path: "/metrics", noKey: true},
		{path: "/api/v1/jobs/" + id + "/documents/1/content"},
	} {
		if got := b.do(t, r).status; got == http.StatusServiceUnavailable {
			t.Errorf("GET %s: 503, want it outside the bound", r.path)
		}
	}

	close(g.release)
	for i, code := range wait() {
		if code != http.StatusOK {
			t.Errorf("held request %d: %d, want 200", i, code)
		}
	}
	if got := b.do(t, request{path: "/api/v1/jobs"}).status; got != http.StatusOK {
		t.Errorf("after the slots freed: %d, want 200", got)
	}
	if got := b.counter(t, "intake_http_requests_shed_total", nil); got != 2 {
		t.Errorf("intake_http_requests_shed_total = %v, want 2", got)
	}
}

func TestAdmissionWaitsForASlot(t *testing.T) {
	t.Parallel()
	g := &gateStore{entered: make(chan struct{}, 8), release: make(chan struct{})}
	// The wait is far longer than the test: the third request gets the
	// slot the held ones free, never a 503.
	b := newBundle(t, withGate(g, 2, time.Minute))
	wait := fill(t, b, g, 2)
	third := make(chan int, 1)
	go func() { third <- b.do(t, request{path: "/api/v1/jobs"}).status }()
	// The in-flight gauge counts a request before admission: at 3 the
	// third is waiting for a slot, unless it was answered already.
	for b.gauge(t, "intake_http_requests_in_flight") < 3 && len(third) == 0 {
		time.Sleep(time.Millisecond)
	}
	close(g.release)
	if got := <-third; got != http.StatusOK {
		t.Errorf("request beyond the bound: %d, want 200 once a slot freed", got)
	}
	for i, code := range wait() {
		if code != http.StatusOK {
			t.Errorf("held request %d: %d, want 200", i, code)
		}
	}
	if got := b.counter(t, "intake_http_requests_shed_total", nil); got != 0 {
		t.Errorf("intake_http_requests_shed_total = %v, want 0", got)
	}
}

// gauge returns the value of an unlabelled gauge in the registry.
func (b *bundle) gauge(t *testing.T, name string) float64 {
	t.Helper()
	families, err := b.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}
