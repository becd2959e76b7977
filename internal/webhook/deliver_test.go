package webhook

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/egress"
	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/testenv"
)

const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var start = time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)

// receiver is a loopback webhook endpoint that verifies every message's
// signature on the test clock and answers with the status its mode says.
type receiver struct {
	t     *testing.T
	srv   *httptest.Server
	clock *testenv.Clock
	key   []byte // nil: expects unsigned messages

	mu       sync.Mutex
	status   int // the answer to the next messages
	messages []message
}

type message struct {
	id, timestamp string
	payload       Payload
	verifyErr     error
}

func newReceiver(t *testing.T, clock *testenv.Clock, key []byte) *receiver {
	r := &receiver{t: t, clock: clock, key: key, status: http.StatusNoContent}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	m := message{id: req.Header.Get(HeaderID), timestamp: req.Header.Get(HeaderTimestamp)}
	if r.key != nil {
		m.verifyErr = Verify(r.key, req.Header, body, r.clock.Now())
	} else if req.Header.Get(HeaderSignature) != "" {
		m.verifyErr = ErrNoSignature
	}
	if err := json.Unmarshal(body, &m.payload); err != nil {
		r.t.Errorf("receiver: body %s: %v", body, err)
	}
	r.mu.Lock()
	r.messages = append(r.messages, m)
	status := r.status
	r.mu.Unlock()
	w.WriteHeader(status)
}

func (r *receiver) setStatus(s int) {
	r.mu.Lock()
	r.status = s
	r.mu.Unlock()
}

// received returns the messages so far, failing the test on any whose
// signature did not verify.
func (r *receiver) received() []message {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.messages {
		if m.verifyErr != nil {
			r.t.Fatalf("message %s: %v", m.id, m.verifyErr)
		}
	}
	return append([]message(nil), r.messages...)
}

func (r *receiver) url() string { return r.srv.URL + "/hook?token=t" }

type fixture struct {
	t     *testing.T
	clock *testenv.Clock
	store *store.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clock := testenv.NewClock(start)
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "intake.db"), store.Options{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, clock: clock, store: st}
}

// deliverer returns a Deliverer that may reach 127.0.0.1 and signs with
// the HOOK secret for it.
func (f *fixture) deliverer(cfg Config) *Deliverer {
	f.t.Helper()
	if cfg.Policy == nil {
		cfg.Policy, _ = egress.NewPolicy([]string{"127.0.0.1"})
	}
	if cfg.Secrets == nil {
		cfg.Secrets = map[string]Secret{"hook": {Value: hookSecret, Hosts: []string{"127.0.0.1"}}}
	}
	cfg.Clock = f.clock.Now
	d, err := New(cfg, f.store, slog.New(slog.NewTextHandler(f.t.Output(), nil)), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = d.Close() })
	return d
}

// job creates a job that notifies n and runs it to its end: completed, or
// failed when fail is set.
func (f *fixture) job(n *intake.Notify, fail bool, edit func(*intake.Job)) *intake.Job {
	f.t.Helper()
	ctx := f.t.Context()
	j := &intake.Job{Tenant: intake.DefaultTenant, SourceType: "filings", Config: json.RawMessage(`{}`), Notify: n}
	if edit != nil {
		edit(j)
	}
	created, err := f.store.CreateJobs(ctx, []*intake.Job{j})
	if err != nil {
		f.t.Fatal(err)
	}
	id := created[0].ID
	if _, err := f.store.Claim(ctx, intake.ClaimParams{Owner: "w", LeaseTTL: time.Minute, JobID: id}); err != nil {
		f.t.Fatal(err)
	}
	if fail {
		err = f.store.Fail(ctx, id, "w", "source gone")
	} else {
		if err = f.store.RecordDocument(ctx, "w", &intake.Document{JobID: id, Seq: 1, Name: "a", DocumentType: "t",
			ContentType: "text/plain", SHA256: strings.Repeat("0", 64), BlobKey: "k-" + id, Identity: "doc-" + id, CollectedAt: f.clock.Now()}, nil); err != nil {
			f.t.Fatal(err)
		}
		err = f.store.FinishRun(ctx, id, "w", true)
	}
	if err != nil {
		f.t.Fatal(err)
	}
	got, err := f.store.GetJob(ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return got
}

func (f *fixture) deliverDue(d *Deliverer) int {
	f.t.Helper()
	n, err := d.DeliverDue(f.t.Context())
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) deliveries(jobID string) []*intake.Delivery {
	f.t.Helper()
	ds, err := f.store.ListDeliveries(f.t.Context(), jobID, "", intake.MaxPageSize)
	if err != nil {
		f.t.Fatal(err)
	}
	return ds
}

func hook(r *receiver, events ...intake.Event) *intake.Notify {
	return &intake.Notify{URL: r.url(), Secret: "HOOK", Events: events}
}

func TestDeliverSigned(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key, _ := Key(hookSecret)
	r := newReceiver(t, f.clock, key)
	d := f.deliverer(Config{})
	job := f.job(hook(r), false, nil)
	failed := f.job(hook(r), true, nil)
	notWanted := f.job(hook(r, intake.EventJobFailed), false, nil)

	if n := f.deliverDue(d); n != 3 {
		t.Fatalf("settled %d, want 3", n)
	}
	msgs := r.received()
	if len(msgs) != 2 {
		t.Fatalf("received %d messages, want 2", len(msgs))
	}
	byJob := map[string]message{}
	for _, m := range msgs {
		byJob[m.payload.Data.JobID] = m
	}
	for _, tt := range []struct {
		job   *intake.Job
		event intake.Event
	}{{job, intake.EventJobCompleted}, {failed, intake.EventJobFailed}} {
		m := byJob[tt.job.ID]
		if m.id != MessageID(tt.job.ID, tt.event) || m.payload.Type != tt.event || m.timestamp != strconv.FormatInt(start.Unix(), 10) {
			t.Errorf("message %+v, want %s of %s at the clock's time", m, tt.event, tt.job.ID)
		}
		ds := f.deliveries(tt.job.ID)
		if len(ds) != 1 || !ds[0].OK || ds[0].StatusCode != http.StatusNoContent || ds[0].Attempt != 1 || ds[0].MessageID != m.id {
			t.Errorf("deliveries of %s: %+v", tt.job.ID, ds)
		}
		if strings.Contains(ds[0].URL, "token") {
			t.Errorf("delivery URL %s keeps the query", ds[0].URL)
		}
	}
	if byJob[failed.ID].payload.Data.LastError != "source gone" || byJob[job.ID].payload.Data.Collected != 1 {
		t.Errorf("bodies: %+v", byJob)
	}
	if ds := f.deliveries(notWanted.ID); len(ds) != 0 {
		t.Errorf("an event not wanted was delivered: %+v", ds)
	}
	if n := f.deliverDue(d); n != 0 || len(r.received()) != 2 {
		t.Fatalf("a second pass settled %d and sent %d messages; want nothing", n, len(r.received())-2)
	}
	if n := testutil.ToFloat64(d.metrics.deliveries.WithLabelValues("job.completed", "ok")); n != 1 {
		t.Errorf("deliveries{job.completed,ok} = %v, want 1", n)
	}
	if n := testutil.CollectAndCount(d.metrics.duration); n != 1 {
		t.Errorf("duration series = %d", n)
	}
}

// TestDeliverChanged checks that a completed job whose previous job's
// document is gone sends job.changed with the counts besides job.completed.
func TestDeliverChanged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key, _ := Key(hookSecret)
	r := newReceiver(t, f.clock, key)
	d := f.deliverer(Config{})
	prev := f.job(nil, false, nil)
	// Every job collects a document of its own identity, so each finds the
	// previous job's removed.
	f.job(hook(r), true, func(j *intake.Job) { j.PreviousJobID = prev.ID })
	// A failed job sends job.failed only, whatever changed.
	f.deliverDue(d)
	if msgs := r.received(); len(msgs) != 1 || msgs[0].payload.Type != intake.EventJobFailed {
		t.Fatalf("failed job sent %+v", msgs)
	}
	done := f.job(hook(r), false, func(j *intake.Job) { j.PreviousJobID = prev.ID })
	f.deliverDue(d)
	msgs := r.received()[1:]
	if len(msgs) != 2 || msgs[0].payload.Type != intake.EventJobCompleted || msgs[1].payload.Type != intake.EventJobChanged {
		t.Fatalf("completed job sent %+v, want job.completed and job.changed", msgs)
	}
	c := msgs[1].payload.Data.Changes
	if c == nil || c.Removed != 1 || msgs[1].payload.Data.PreviousJobID != prev.ID || msgs[1].id != MessageID(done.ID, intake.EventJobChanged) {
		t.Fatalf("job.changed %+v", msgs[1])
	}
}

// TestDeliverRetries checks a receiver that is down (5xx) and then up:
// the notification is due again after the backoff, not before, and the
// retry carries the same webhook-id.
func TestDeliverRetries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key, _ := Key(hookSecret)
	r := newReceiver(t, f.clock, key)
	r.setStatus(http.StatusServiceUnavailable)
	d := f.deliverer(Config{})
	job := f.job(hook(r), false, nil)

	for attempt, wait := range []time.Duration{5 * time.Second, 10 * time.Second} {
		if n := f.deliverDue(d); n != 1 {
			t.Fatalf("attempt %d settled %d", attempt+1, n)
		}
		ds := f.deliveries(job.ID)
		if last := ds[len(ds)-1]; len(ds) != attempt+1 || last.OK || last.StatusCode != 503 || last.Attempt != attempt+1 || !strings.Contains(last.Error, "HTTP 503") {
			t.Fatalf("deliveries after attempt %d: %+v", attempt+1, ds)
		}
		// Equal jitter: due again between half the wait and the wait.
		f.clock.Advance(wait/2 - time.Millisecond)
		if n := f.deliverDue(d); n != 0 {
			t.Fatalf("retried %d before half the backoff", n)
		}
		f.clock.Advance(wait/2 + time.Millisecond)
	}
	r.setStatus(http.StatusOK)
	if n := f.deliverDue(d); n != 1 {
		t.Fatal("the retry after the receiver came up was not made")
	}
	msgs := r.received()
	if len(msgs) != 3 || msgs[0].id != msgs[2].id {
		t.Fatalf("messages %+v, want three with one webhook-id", msgs)
	}
	if ds := f.deliveries(job.ID); !ds[2].OK || ds[2].Attempt != 3 {
		t.Fatalf("third delivery %+v", ds[2])
	}
	f.clock.Advance(2 * time.Hour)
	if n := f.deliverDue(d); n != 0 {
		t.Fatal("a delivered notification was due again")
	}
	if n := testutil.ToFloat64(d.metrics.deliveries.WithLabelValues("job.completed", "error")); n != 2 {
		t.Errorf("deliveries{error} = %v, want 2", n)
	}
}

// TestDeliverGivesUp checks that a notification whose endpoint never
// answers is attempted MaxAttempts times, the last logged as given up.
func TestDeliverGivesUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	d := f.deliverer(Config{MaxAttempts: 3})
	job := f.job(&intake.Notify{URL: "http://" + closed + "/hook", Secret: "HOOK"}, false, nil)
	for range 3 {
		if n := f.deliverDue(d); n != 1 {
			t.Fatalf("settled %d", n)
		}
		f.clock.Advance(time.Hour)
	}
	if n := f.deliverDue(d); n != 0 {
		t.Fatal("attempted after giving up")
	}
	ds := f.deliveries(job.ID)
	if len(ds) != 3 || ds[2].OK || !strings.Contains(ds[2].Error, "gave up after 3 attempts") || !strings.Contains(ds[0].Error, "connection refused") {
		t.Fatalf("deliveries %+v", ds)
	}
	if n := testutil.ToFloat64(d.metrics.deliveries.WithLabelValues("job.completed", "gave_up")); n != 1 {
		t.Errorf("deliveries{gave_up} = %v, want 1", n)
	}
}

// TestDeliverClaimLapses checks that a notification claimed by a
// deliverer that crashed before settling is delivered once its claim
// lapses, and not before.
func TestDeliverClaimLapses(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key, _ := Key(hookSecret)
	r := newReceiver(t, f.clock, key)
	d := f.deliverer(Config{ClaimTTL: time.Minute})
	job := f.job(hook(r), false, nil)
	crashed, err := f.store.ClaimNotifications(t.Context(), time.Minute, 10)
	if err != nil || len(crashed) != 1 {
		t.Fatalf("claim: %v, %v", crashed, err)
	}
	if n := f.deliverDue(d); n != 0 || len(r.received()) != 0 {
		t.Fatal("delivered a notification another deliverer holds")
	}
	f.clock.Advance(time.Minute)
	if n := f.deliverDue(d); n != 1 || len(r.received()) != 1 {
		t.Fatalf("after the claim lapsed: settled %d, received %d; want 1, 1", n, len(r.received()))
	}
	if ok, err := f.store.SettleNotification(t.Context(), job.ID, crashed[0].Until, time.Time{}); ok || err != nil {
		t.Fatalf("the lapsed claim settled: %v, %v", ok, err)
	}
}

// TestDeliverRefused checks deliveries that must not be sent: to an
// address the egress policy refuses, with a secret not bound to the host,
// without a secret unless unsigned deliveries are allowed.
func TestDeliverRefused(t *testing.T) {
	t.Parallel()
	deny, _ := egress.NewPolicy(nil)
	tests := []struct {
		name    string
		cfg     Config
		secret  string
		sent    bool
		wantErr string
	}{
		{"egress policy", Config{Policy: deny}, "HOOK", false, "refused by the egress policy"},
		{"secret bound elsewhere", Config{Secrets: map[string]Secret{"HOOK": {Value: hookSecret, Hosts: []string{"hooks.example.com"}}}}, "HOOK", false, "may not sign requests to 127.0.0.1"},
		{"unknown secret", Config{}, "OTHER", false, "INTAKE_SECRET_OTHER"},
		{"unsigned", Config{}, "", false, "INTAKE_WEBHOOK_ALLOW_UNSIGNED"},
		{"unsigned allowed", Config{AllowUnsigned: true}, "", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			r := newReceiver(t, f.clock, nil)
			d := f.deliverer(tt.cfg)
			job := f.job(&intake.Notify{URL: r.url(), Secret: tt.secret}, false, nil)
			f.deliverDue(d)
			if got := len(r.received()) == 1; got != tt.sent {
				t.Fatalf("sent %v, want %v", got, tt.sent)
			}
			ds := f.deliveries(job.ID)
			if len(ds) != 1 || ds[0].OK != tt.sent || !strings.Contains(ds[0].Error, tt.wantErr) {
				t.Fatalf("deliveries %+v, want an error saying %q", ds, tt.wantErr)
			}
		})
	}
}
