package api_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/api"
	"github.com/intake-dev/intake/internal/blob"
	"github.com/intake-dev/intake/internal/dispatch/poll"
	"github.com/intake-dev/intake/internal/source/filings"
	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/testenv"
)

// Test keys. Tests assert that neither ever reaches the log.
const (
	testKey   = "tk_live_7f3c9a1e5b2d4c6f"
	secondKey = "tk_live_0a9b8c7d6e5f4a3b"
)

// bundle is a server on the real SQLite store, file blobs, the poll
// dispatcher and the filings source, plus what tests inspect.
type bundle struct {
	url      string
	store    *store.Store
	blobs    *blob.Bucket
	sources  intake.Sources
	disp     *spyDispatcher
	creates  *spyStore
	registry *prometheus.Registry
	logs     *testenv.Buffer
	client   *http.Client
	handler  http.Handler
}

// option adjusts a bundle before the server starts.
type option func(*api.Config, *api.Deps)

func newBundle(t testing.TB, opts ...option) *bundle {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	store, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "intake.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.Open(ctx, "file://"+filepath.Join(dir, "blobs"), blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	disp := &spyDispatcher{Dispatcher: poll.New()}
	t.Cleanup(func() { disp.Close() })

	b := &bundle{
		store:    store,
		blobs:    blobs,
		sources:  intake.NewSources(filings.New(0)),
		disp:     disp,
		creates:  &spyStore{Store: store},
		registry: prometheus.NewRegistry(),
		logs:     &testenv.Buffer{},
	}
	cfg := api.Config{APIKeys: []string{testKey, secondKey}, Version: "test"}
	deps := api.Deps{
		Store:      b.creates,
		Blobs:      blobs,
		Sources:    b.sources,
		Dispatcher: disp,
		Logger:     b.logs.JSONLogger(),
		NewDemoJob: demoJobs(),
		Registerer: b.registry,
		Metrics:    promhttp.HandlerFor(b.registry, promhttp.HandlerOpts{}),
	}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	h, err := api.NewServer(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	b.handler = h
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b.url = srv.URL
	b.client = srv.Client()
	b.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return b
}

// demoJobs returns the bundle's /create-job factory: filings jobs for
// companies from a fixed sequence.
func demoJobs() func() (api.DemoJob, error) {
	var mu sync.Mutex
	rnd := mathrand.New(mathrand.NewPCG(1, 2))
	return func() (api.DemoJob, error) {
		mu.Lock()
		cin, name := filings.NewCompany(rnd)
		mu.Unlock()
		config, err := json.Marshal(filings.Config{CIN: cin, CompanyName: name})
		return api.DemoJob{SourceType: filings.SourceType, Config: config, CIN: cin, CompanyName: name}, err
	}
}

// request describes one call. Key "" sends testKey; noKey sends none.
type request struct {
	method string
	path   string
	body   string
	key    string
	noKey  bool
	header map[string]string
}

// response is what a call got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (b *bundle) do(t *testing.T, r request) response {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(t.Context(), r.method, b.url+r.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if !r.noKey {
		key := r.key
		if key == "" {
			key = testKey
		}
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	res, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: got}
}

// decode unmarshals the body into v, failing the test on bad JSON.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem is an RFC 9457 problem document.
type problem struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
	} `json:"errors"`
}

// wantProblem checks that r is a problem+json document with status.
func (r response) wantProblem(t *testing.T, status int) problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, r.body)
	}
	var p problem
	r.decode(t, &p)
	if p.Status != status {
		t.Fatalf("problem status %d, want %d", p.Status, status)
	}
	return p
}

// jobView is the part of a job's JSON the tests read.
type jobView struct {
	JobID    string `json:"job_id"`
	Status   string `json:"status"`
	Progress struct {
		Total     *int    `json:"total"`
		Collected int     `json:"collected"`
		Percent   float64 `json:"percent"`
	} `json:"progress"`
	Runs      int    `json:"runs"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error"`
}

const validConfig = `{"cin": "L17110MH1973PLC019786", "company_name": "Reliance Industries Limited"}`

// trigger creates a filings job through the API and returns its id.
func (b *bundle) trigger(t *testing.T) string {
	t.Helper()
	r := b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/trigger",
		body: `{"source_type": "filings", "config": ` + validConfig + `}`})
	if r.status != http.StatusAccepted {
		t.Fatalf("trigger: %d %s", r.status, r.body)
	}
	var out struct {
		JobID string `json:"job_id"`
	}
	r.decode(t, &out)
	return out.JobID
}

// status fetches a job's view through the API.
func (b *bundle) status(t *testing.T, id string) jobView {
	t.Helper()
	r := b.do(t, request{path: "/api/v1/jobs/status/" + id})
	if r.status != http.StatusOK {
		t.Fatalf("status: %d %s", r.status, r.body)
	}
	var v jobView
	r.decode(t, &v)
	return v
}

// complete runs the job to completion the way a worker does, one batch per
// run.
func (b *bundle) complete(t *testing.T, id string) {
	t.Helper()
	for range 20 {
		done, err := runBatch(t.Context(), b.store, b.blobs, b.sources, id)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			return
		}
	}
	t.Fatalf("job %s did not complete in 20 runs", id)
}

// runBatch claims a pending job (id, or the oldest when id is empty),
// collects one 35 % batch of its documents into blobs and records them
// under the lease, then ends the run. It reports whether the job completed;
// intake.ErrNoJob means nothing was claimable.
func runBatch(ctx context.Context, store intake.Store, blobs intake.BlobStore, sources intake.Sources, id string) (bool, error) {
	owner := "run-" + strings.ToLower(rand.Text())
	job, err := store.Claim(ctx, intake.ClaimParams{Owner: owner, LeaseTTL: time.Minute, JobID: id})
	if err != nil {
		return false, err
	}
	src, err := sources.Lookup(job.SourceType)
	if err != nil {
		return false, err
	}
	checkpoint := job.Checkpoint
	if !job.Planned {
		total, cp, err := src.Plan(ctx, job.Config)
		if err != nil {
			return false, err
		}
		if err := store.Plan(ctx, job.ID, owner, total, cp); err != nil {
			return false, err
		}
		job.Total, checkpoint = total, cp
	}
	n := intake.BatchSize(job.Total, job.Collected, intake.DefaultBatchFraction, 5)
	for seq := job.Collected + 1; seq <= job.Collected+n; seq++ {
		item, err := src.Next(ctx, job.Config, seq, checkpoint)
		if err != nil {
			return false, err
		}
		key := intake.DocumentBlobKey(job.ID, seq, owner)
		info, err := blobs.Put(ctx, key, item.Body, item.ContentType)
		item.Body.Close()
		if err != nil {
			return false, err
		}
		doc := &intake.Document{
			JobID: job.ID, Seq: seq, Name: item.Name, DocumentType: item.DocumentType,
			ContentType: item.ContentType, SizeBytes: info.Size, SHA256: info.SHA256, BlobKey: key,
		}
		if err := store.RecordDocument(ctx, owner, doc, item.Checkpoint); err != nil {
			return false, err
		}
		checkpoint = item.Checkpoint
	}
	done := job.Total != intake.TotalUnknown && job.Collected+n >= job.Total
	return done, store.FinishRun(ctx, job.ID, owner, done)
}

// spyDispatcher is the real poll dispatcher, recording what was notified.
type spyDispatcher struct {
	intake.Dispatcher
	mu  sync.Mutex
	ids []string
}

func (d *spyDispatcher) Notify(ctx context.Context, ids ...string) error {
	d.mu.Lock()
	d.ids = append(d.ids, ids...)
	d.mu.Unlock()
	return d.Dispatcher.Notify(ctx, ids...)
}

func (d *spyDispatcher) notified() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.ids)
}

// spyStore is the real store, recording the size of every CreateJobs call
// and optionally failing them.
type spyStore struct {
	intake.Store
	mu      sync.Mutex
	batches []int
	fail    error
}

func (s *spyStore) CreateJobs(ctx context.Context, jobs []*intake.Job) ([]*intake.Job, error) {
	s.mu.Lock()
	s.batches = append(s.batches, len(jobs))
	fail := s.fail
	s.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	return s.Store.CreateJobs(ctx, jobs)
}

func (s *spyStore) calls() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

func (s *spyStore) failWith(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

// counter returns the value of a counter series in the registry, 0 when
// absent.
func (b *bundle) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := b.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metric
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

var errBoom = errors.New("boom: dsn=postgres://intake:s3cr3t-pw@db/intake")
