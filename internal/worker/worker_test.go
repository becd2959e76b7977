package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob"
	"github.com/intake-dev/intake/internal/dispatch/poll"
	"github.com/intake-dev/intake/internal/source/filings"
	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/testenv"
)

// bundle is the real machinery a worker test runs on: a SQLite store and a
// file blob store in a temporary directory, the polling dispatcher, and a
// clock that moves only when the test says so.
type bundle struct {
	store intake.Store
	blobs intake.BlobStore
	disp  *recordingDispatcher
	clock *testenv.Clock
}

func newBundle(t testing.TB) *bundle {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	clock := newTestClock()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "intake.db"), store.Options{Clock: clock.Now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	blobs, err := blob.Open(ctx, "file://"+filepath.Join(dir, "blobs"), blob.Options{})
	if err != nil {
		t.Fatalf("open blobs: %v", err)
	}
	t.Cleanup(func() { blobs.Close() })
	disp := &recordingDispatcher{Dispatcher: poll.New()}
	t.Cleanup(func() { disp.Close() })
	return &bundle{store: st, blobs: blobs, disp: disp, clock: clock}
}

// testLogger logs to the test's output, and nowhere for benchmarks.
func testLogger(t testing.TB) *slog.Logger {
	if _, ok := t.(*testing.B); ok {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// worker returns a Worker on the bundle's store, blobs (unless
// cfg-specific blobs are given) and clock, with its own metrics registry.
func (b *bundle) worker(t testing.TB, cfg Config, blobs intake.BlobStore, srcs ...intake.Source) (*Worker, *prometheus.Registry) {
	t.Helper()
	if blobs == nil {
		blobs = b.blobs
	}
	if cfg.Identity == "" {
		cfg.Identity = "test"
	}
	cfg.Clock = b.clock.Now
	reg := prometheus.NewRegistry()
	w, err := New(cfg, b.store, blobs, intake.NewSources(srcs...), b.disp, testLogger(t), reg)
	if err != nil {
		t.Fatalf("new worker: %v", err)
	}
	return w, reg
}

func (b *bundle) maintainer(t testing.TB, cfg MaintainerConfig) *Maintainer {
	t.Helper()
	if cfg.Clock == nil {
		cfg.Clock = b.clock.Now
	}
	m, err := NewMaintainer(cfg, b.store, b.blobs, b.disp, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("new maintainer: %v", err)
	}
	return m
}

func (b *bundle) createJob(t testing.TB, sourceType string, config any) *intake.Job {
	t.Helper()
	raw, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := b.store.CreateJobs(context.Background(), []*intake.Job{{
		Tenant: intake.DefaultTenant, SourceType: sourceType, Config: raw,
	}})
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	return jobs[0]
}

func seqJob(total int) map[string]int { return map[string]int{"total": total} }

func (b *bundle) job(t testing.TB, id string) *intake.Job {
	t.Helper()
	j, err := b.store.GetJob(context.Background(), id)
	if err != nil {
		t.Fatalf("get job %s: %v", id, err)
	}
	return j
}

// runOnce runs one batch of job id and fails the test unless it was
// claimed without error.
func runOnce(t testing.TB, w *Worker, id string) {
	t.Helper()
	claimed, err := w.RunOnce(context.Background(), id)
	if err != nil || !claimed {
		t.Fatalf("RunOnce(%s) = %v, %v; want claimed", id, claimed, err)
	}
}

// checkDocuments verifies that job id has exactly documents 1..n, each
// with a blob whose bytes match its size and SHA-256 (and, when content is
// set, the expected body), and that no other blob is left under the job.
func (b *bundle) checkDocuments(t testing.TB, id string, n int, content func(seq int) []byte) []*intake.Document {
	t.Helper()
	ctx := context.Background()
	var docs []*intake.Document
	for after := 0; ; {
		page, err := b.store.ListDocuments(ctx, id, after, 7)
		if err != nil {
			t.Fatalf("list documents: %v", err)
		}
		if len(page) == 0 {
			break
		}
		docs = append(docs, page...)
		after = page[len(page)-1].Seq
	}
	if len(docs) != n {
		t.Fatalf("job %s has %d documents, want %d", id, len(docs), n)
	}
	for i, d := range docs {
		if d.Seq != i+1 {
			t.Fatalf("document %d has seq %d", i+1, d.Seq)
		}
		rc, info, err := b.blobs.Get(ctx, d.BlobKey)
		if err != nil {
			t.Fatalf("document %d: get blob %s: %v", d.Seq, d.BlobKey, err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("document %d: read blob: %v", d.Seq, err)
		}
		sum := sha256.Sum256(body)
		if got := hex.EncodeToString(sum[:]); got != d.SHA256 || int64(len(body)) != d.SizeBytes || info.SHA256 != d.SHA256 {
			t.Errorf("document %d: blob sha256 %s (%d bytes), metadata %s (%d bytes), blob info %s",
				d.Seq, got, len(body), d.SHA256, d.SizeBytes, info.SHA256)
		}
		if content != nil && string(body) != string(content(d.Seq)) {
			t.Errorf("document %d: blob holds another document's content", d.Seq)
		}
	}
	if keys := b.blobKeys(t, "jobs/"+id+"/"); len(keys) != n {
		t.Errorf("job %s has %d blobs, want %d: %v", id, len(keys), n, keys)
	}
	return docs
}

func (b *bundle) blobKeys(t testing.TB, prefix string) []string {
	t.Helper()
	var keys []string
	err := b.blobs.List(context.Background(), prefix, func(bi *intake.BlobInfo) error {
		keys = append(keys, bi.Key)
		return nil
	})
	if err != nil {
		t.Fatalf("list blobs: %v", err)
	}
	return keys
}

// await returns what done delivers, failing the test if nothing arrives
// within a minute (a hung run, not a slow one).
func await(t testing.TB, done <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("%s did not return within a minute", what)
		return nil
	}
}

// reach waits until the run closes ch, failing the test after a minute.
func reach(t testing.TB, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatal("the run did not reach the blocking document within a minute")
	}
}

func wantStatus(t testing.TB, j *intake.Job, status intake.Status) {
	t.Helper()
	if j.Status != status {
		t.Fatalf("job %s is %s (last error %q), want %s", j.ID, j.Status, j.LastError, status)
	}
}

// runsFor returns how many runs a job of total documents takes.
func runsFor(total int, f intake.Fraction) int {
	runs := 0
	for collected := 0; collected < total; runs++ {
		collected += intake.BatchSize(total, collected, f, 0)
	}
	return runs
}

func TestFilingsJobCompletes(t *testing.T) {
	t.Parallel()
	for seed := range uint64(3) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			b := newBundle(t)
			w, reg := b.worker(t, Config{}, nil, filings.New(0))
			cin, name := filings.NewCompany(rand.New(rand.NewPCG(seed, 42)))
			job := b.createJob(t, "filings", map[string]string{"cin": cin, "company_name": name})

			runs := 0
			for {
				runOnce(t, w, job.ID)
				runs++
				got := b.job(t, job.ID)
				if got.Status == intake.StatusCompleted {
					break
				}
				wantStatus(t, got, intake.StatusPending)
				if runs > 10 {
					t.Fatalf("job not completed after %d runs", runs)
				}
			}
			got := b.job(t, job.ID)
			if got.Total < 30 || got.Total > 50 || got.Collected != got.Total {
				t.Errorf("total %d, collected %d; want 30..50, all collected", got.Total, got.Collected)
			}
			if want := runsFor(got.Total, intake.DefaultBatchFraction); runs != want || runs < 3 || runs > 4 || got.Runs != runs {
				t.Errorf("completed in %d runs (job says %d), want %d, 3 or 4", runs, got.Runs, want)
			}
			b.checkDocuments(t, job.ID, got.Total, nil)
			if n := testutil.ToFloat64(w.metrics.documents.WithLabelValues("filings")); int(n) != got.Total {
				t.Errorf("documents metric %v, want %d", n, got.Total)
			}
			if n := testutil.CollectAndCount(reg, "intake_job_completion_seconds"); n != 1 {
				t.Errorf("completion histogram has %d series, want 1", n)
			}
		})
	}
}

func TestRunOnceClaims(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup creates jobs and returns the RunOnce argument and the job
		// that must have been claimed ("" for none).
		setup func(t *testing.T, b *bundle, w *Worker) (arg, want string)
	}{
		{"oldest pending", func(t *testing.T, b *bundle, _ *Worker) (string, string) {
			first := b.createJob(t, "seq", seqJob(5))
			b.createJob(t, "seq", seqJob(5))
			return "", first.ID
		}},
		{"named job", func(t *testing.T, b *bundle, _ *Worker) (string, string) {
			b.createJob(t, "seq", seqJob(5))
			second := b.createJob(t, "seq", seqJob(5))
			return second.ID, second.ID
		}},
		{"none pending", func(t *testing.T, b *bundle, _ *Worker) (string, string) {
			return "", ""
		}},
		{"named job not pending", func(t *testing.T, b *bundle, w *Worker) (string, string) {
			done := b.createJob(t, "seq", seqJob(1))
			runOnce(t, w, done.ID)
			wantStatus(t, b.job(t, done.ID), intake.StatusCompleted)
			b.createJob(t, "seq", seqJob(5))
			return done.ID, ""
		}},
		{"named job unknown", func(t *testing.T, b *bundle, _ *Worker) (string, string) {
			b.createJob(t, "seq", seqJob(5))
			return intake.NewID(), ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t)
			w, _ := b.worker(t, Config{}, nil, &seqSource{})
			arg, want := tt.setup(t, b, w)
			before, err := b.store.ListJobs(context.Background(), intake.JobFilter{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			claimed, err := w.RunOnce(context.Background(), arg)
			if err != nil || claimed != (want != "") {
				t.Fatalf("RunOnce(%q) = %v, %v; want claimed %v", arg, claimed, err, want != "")
			}
			for _, j := range before.Jobs {
				got := b.job(t, j.ID)
				if ran := got.Runs > j.Runs; ran != (j.ID == want) {
					t.Errorf("job %s: runs %d → %d, want a run only for %q", j.ID, j.Runs, got.Runs, want)
				}
			}
			result := "claimed"
			if want == "" {
				result = "empty"
			}
			if n := testutil.ToFloat64(w.metrics.claims.WithLabelValues(result)); n < 1 {
				t.Errorf("claims{result=%q} = %v, want ≥ 1", result, n)
			}
		})
	}
}

func TestRunOnceAfterCancelClaimsNothing(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	w, _ := b.worker(t, Config{}, nil, &seqSource{})
	job := b.createJob(t, "seq", seqJob(5))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if claimed, err := w.RunOnce(ctx, ""); claimed || err != nil {
		t.Fatalf("RunOnce on a done context = %v, %v; want false, nil", claimed, err)
	}
	wantStatus(t, b.job(t, job.ID), intake.StatusPending)
}

func TestTransientErrors(t *testing.T) {
	t.Parallel()
	const base, maxBackoff = 4 * time.Second, 10 * time.Second
	tests := []struct {
		name         string
		srcFailures  int
		blobFailures int64
		wantStatus   intake.Status
		wantRuns     int
		wantKind     string
	}{
		{"source recovers", 2, 0, intake.StatusCompleted, 2 + runsFor(10, intake.DefaultBatchFraction), kindSource},
		{"blob recovers", 0, 3, intake.StatusCompleted, 3 + runsFor(10, intake.DefaultBatchFraction), kindBlob},
		{"source gives up", 100, 0, intake.StatusFailed, 4, kindSource},
		{"blob gives up", 0, 100, intake.StatusFailed, 4, kindBlob},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t)
			blobs := &faultyBlobs{BlobStore: b.blobs}
			blobs.failPuts.Store(tt.blobFailures)
			w, _ := b.worker(t, Config{MaxAttempts: 4, BackoffBase: base, BackoffMax: maxBackoff}, blobs, flakySource(tt.srcFailures))
			m := b.maintainer(t, MaintainerConfig{MaxAttempts: 4})
			job := b.createJob(t, "seq", seqJob(10))

			for runs := 1; ; runs++ {
				runOnce(t, w, job.ID)
				got := b.job(t, job.ID)
				if got.Status.Terminal() {
					break
				}
				if runs > 20 {
					t.Fatalf("job still %s after %d runs", got.Status, runs)
				}
				if got.Status == intake.StatusPending {
					continue
				}
				wantStatus(t, got, intake.StatusScheduled)
				if got.Attempts != runs || got.LastError == "" {
					t.Fatalf("run %d: attempts %d, last error %q; want %d and an error", runs, got.Attempts, got.LastError, runs)
				}
				ceiling := min(maxBackoff, base<<(got.Attempts-1))
				if wait := got.AvailableAt.Sub(b.clock.Now()); wait < 0 || wait > ceiling {
					t.Fatalf("attempt %d: retry in %s, want within [0, %s]", got.Attempts, wait, ceiling)
				}
				if wait := got.AvailableAt.Sub(b.clock.Now()); wait >= time.Second {
					if err := m.RunOnce(context.Background()); err != nil {
						t.Fatal(err)
					}
					wantStatus(t, b.job(t, job.ID), intake.StatusScheduled) // not due yet
				}
				b.clock.Advance(ceiling + time.Second)
				if err := m.RunOnce(context.Background()); err != nil {
					t.Fatal(err)
				}
				wantStatus(t, b.job(t, job.ID), intake.StatusPending)
			}
			got := b.job(t, job.ID)
			wantStatus(t, got, tt.wantStatus)
			if got.Runs != tt.wantRuns {
				t.Errorf("runs %d, want %d", got.Runs, tt.wantRuns)
			}
			switch tt.wantStatus {
			case intake.StatusCompleted:
				b.checkDocuments(t, job.ID, 10, docBody)
				if got.Attempts != 0 {
					t.Errorf("attempts %d after success, want 0", got.Attempts)
				}
			case intake.StatusFailed:
				if !strings.Contains(got.LastError, "giving up after 4 attempts") {
					t.Errorf("last error %q, want it to say it gave up", got.LastError)
				}
			}
			if n := testutil.ToFloat64(w.metrics.docErrors.WithLabelValues("seq", tt.wantKind)); n < 1 {
				t.Errorf("document errors{kind=%s} = %v, want ≥ 1", tt.wantKind, n)
			}
		})
	}
}

func TestPermanentErrorsFailAtOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		sourceType    string
		config        any
		src           *seqSource
		wantCollected int
		wantErr       string
	}{
		{"invalid config", "seq", seqJob(-5), &seqSource{}, 0, "invalid seq config"},
		{"unknown source type", "fax", seqJob(5), &seqSource{}, 0, "unknown source_type fax"},
		{"permanent source error", "seq", seqJob(10), failAt(2, intake.Permanent(errors.New("company struck off"))), 1, "company struck off"},
		{"invalid source error", "seq", seqJob(10), failAt(3, intake.Errorf(intake.EINVALID, "no such company")), 2, "no such company"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t)
			w, _ := b.worker(t, Config{}, nil, tt.src)
			job := b.createJob(t, tt.sourceType, tt.config)
			runOnce(t, w, job.ID)
			got := b.job(t, job.ID)
			wantStatus(t, got, intake.StatusFailed)
			if got.Collected != tt.wantCollected || got.Runs != 1 || !strings.Contains(got.LastError, tt.wantErr) {
				t.Errorf("collected %d, runs %d, last error %q; want %d, 1, containing %q",
					got.Collected, got.Runs, got.LastError, tt.wantCollected, tt.wantErr)
			}
			b.checkDocuments(t, job.ID, tt.wantCollected, docBody)
			label := tt.sourceType
			if label != "seq" {
				label = "unknown"
			}
			if n := testutil.ToFloat64(w.metrics.runs.WithLabelValues(label, outcomeFailed)); n != 1 {
				t.Errorf("runs{source_type=%s,outcome=failed} = %v, want 1", label, n)
			}
			var total float64
			for _, o := range []string{outcomeCompleted, outcomePending, outcomeScheduled, outcomeFailed, outcomeLeaseLost, outcomeDrained} {
				total += testutil.ToFloat64(w.metrics.runs.WithLabelValues(label, o))
			}
			if total != 1 {
				t.Errorf("runs_total counts %v runs, want 1", total)
			}
		})
	}
}

func TestRetryAfterReschedulesWithoutAttempt(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	src := failAt(3, &intake.RetryAfterError{After: 90 * time.Second, Err: errors.New("HTTP 429")})
	w, _ := b.worker(t, Config{}, nil, src)
	job := b.createJob(t, "seq", seqJob(20))
	runOnce(t, w, job.ID)
	got := b.job(t, job.ID)
	wantStatus(t, got, intake.StatusScheduled)
	if want := b.clock.Now().Add(90 * time.Second); !got.AvailableAt.Equal(want) {
		t.Errorf("available at %s, want %s", got.AvailableAt, want)
	}
	if got.Attempts != 0 || got.Collected != 2 || !strings.Contains(got.LastError, "HTTP 429") {
		t.Errorf("attempts %d, collected %d, last error %q; want 0, 2, the 429", got.Attempts, got.Collected, got.LastError)
	}
	b.checkDocuments(t, job.ID, 2, docBody)
	if n := testutil.ToFloat64(w.metrics.docErrors.WithLabelValues("seq", kindRetryAfter)); n != 1 {
		t.Errorf("document errors{kind=retry_after} = %v, want 1", n)
	}
}

func TestUnknownTotalCompletesWhenExhausted(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	w, _ := b.worker(t, Config{UnknownBatch: 3}, nil, &seqSource{exhaustAfter: 7})
	job := b.createJob(t, "seq", seqJob(intake.TotalUnknown))
	for i, want := range []intake.Status{intake.StatusPending, intake.StatusPending, intake.StatusCompleted} {
		runOnce(t, w, job.ID)
		got := b.job(t, job.ID)
		wantStatus(t, got, want)
		if wantCollected := min(7, 3*(i+1)); got.Collected != wantCollected {
			t.Errorf("run %d: collected %d, want %d", i+1, got.Collected, wantCollected)
		}
	}
	if got := b.job(t, job.ID); got.Total != 7 {
		t.Errorf("total %d after exhaustion, want 7", got.Total)
	}
	b.checkDocuments(t, job.ID, 7, docBody)
}

// TestCancelStopsRun cancels a job while a worker collects it: the worker
// must stop at its next fenced call and record nothing more. Recording
// each document on its own, documents 1 and 2 are recorded; recording in
// groups, they are in the open group when the lease goes, so nothing is
// recorded and their blobs are discarded.
func TestCancelStopsRun(t *testing.T) {
	t.Parallel()
	for _, mode := range recordModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			testCancelStopsRun(t, mode.batch, mode.pick(2, 0))
		})
	}
}

// recordMode is a way a worker records documents: Config.RecordBatch.
type recordMode struct {
	name  string
	batch int
}

// recordModes are each document on its own and in groups (the default).
var recordModes = []recordMode{{"one at a time", 1}, {"in groups", 0}}

// pick returns one when documents are recorded one at a time, groups
// otherwise.
func (m recordMode) pick(one, groups int) int {
	if m.batch == 1 {
		return one
	}
	return groups
}

func testCancelStopsRun(t *testing.T, recordBatch, want int) {
	tests := []struct {
		name string
		cfg  Config
		// src returns the source and a function that blocks until the
		// run is inside document 3 (nil when src cancels by itself).
		src func(b *bundle, id *string) (*seqSource, chan struct{})
	}{
		{"at next heartbeat", Config{LeaseTTL: time.Minute, HeartbeatInterval: 10 * time.Millisecond},
			func(b *bundle, _ *string) (*seqSource, chan struct{}) {
				g := newGate(3) // never released: only the heartbeat can stop it
				return g.source(), g.reached
			}},
		{"at next record", Config{},
			func(b *bundle, id *string) (*seqSource, chan struct{}) {
				return &seqSource{before: func(ctx context.Context, seq int) error {
					if seq == 3 {
						if _, err := b.store.Cancel(ctx, *id); err != nil {
							return intake.Permanent(err)
						}
					}
					return nil
				}}, nil
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t)
			var id string
			src, reached := tt.src(b, &id)
			tt.cfg.RecordBatch = recordBatch
			w, _ := b.worker(t, tt.cfg, nil, src)
			job := b.createJob(t, "seq", seqJob(20))
			id = job.ID
			done := make(chan error, 1)
			go func() {
				claimed, err := w.RunOnce(context.Background(), job.ID)
				if err == nil && !claimed {
					err = errors.New("not claimed")
				}
				done <- err
			}()
			if reached != nil {
				reach(t, reached)
				if _, err := b.store.Cancel(context.Background(), job.ID); err != nil {
					t.Fatal(err)
				}
			}
			if err := await(t, done, "RunOnce"); err != nil {
				t.Fatalf("RunOnce: %v", err)
			}
			got := b.job(t, job.ID)
			wantStatus(t, got, intake.StatusCancelled)
			if got.Collected != want {
				t.Errorf("collected %d, want %d", got.Collected, want)
			}
			b.checkDocuments(t, job.ID, want, docBody) // also: no other blob is left
			if n := testutil.ToFloat64(w.metrics.runs.WithLabelValues("seq", outcomeLeaseLost)); n != 1 {
				t.Errorf("runs{outcome=lease_lost} = %v, want 1", n)
			}
		})
	}
}

// TestZombieCannotCorruptDocuments lets a run lose its lease while it is
// inside a document: another run takes the job over and records that
// document, and the zombie's late write must change nothing. Recording in
// groups, the zombie's document 1 is still in its open group, so the
// successor collects from document 1.
func TestZombieCannotCorruptDocuments(t *testing.T) {
	t.Parallel()
	for _, mode := range recordModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			testZombieCannotCorruptDocuments(t, mode.batch, mode.pick(1, 0))
		})
	}
}

// testZombieCannotCorruptDocuments is TestZombieCannotCorruptDocuments
// with recordBatch, where the zombie records zombieRecorded documents
// before it stalls.
func testZombieCannotCorruptDocuments(t *testing.T, recordBatch, zombieRecorded int) {
	b := newBundle(t)
	g := newGate(2)
	src := g.source()
	zombie, _ := b.worker(t, Config{LeaseTTL: 2 * time.Hour, HeartbeatInterval: time.Hour, Identity: "zombie", RecordBatch: recordBatch}, nil, src)
	successor, _ := b.worker(t, Config{LeaseTTL: 2 * time.Hour, HeartbeatInterval: time.Hour, Identity: "successor", RecordBatch: recordBatch}, nil, src)
	m := b.maintainer(t, MaintainerConfig{})
	job := b.createJob(t, "seq", seqJob(10))

	done := make(chan error, 1)
	go func() {
		_, err := zombie.RunOnce(context.Background(), job.ID)
		done <- err
	}()
	reach(t, g.reached) // the zombie has document 1 (recorded or in its group) and is inside document 2
	b.clock.Advance(3 * time.Hour)
	if err := m.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := b.job(t, job.ID)
	wantStatus(t, got, intake.StatusPending)
	if got.Attempts != 1 || !b.disp.notified(job.ID) {
		t.Fatalf("after lease expiry: attempts %d, notified %v; want 1, true", got.Attempts, b.disp.notified(job.ID))
	}
	runOnce(t, successor, job.ID) // a batch of 3: documents 2..4, or 1..3

	close(g.release) // the zombie writes its document 2 and tries to record it
	if err := await(t, done, "zombie RunOnce"); err != nil {
		t.Fatalf("zombie RunOnce: %v", err)
	}
	got = b.job(t, job.ID)
	wantStatus(t, got, intake.StatusPending)
	want := zombieRecorded + 3
	if got.Collected != want {
		t.Errorf("collected %d, want %d", got.Collected, want)
	}
	docs := b.checkDocuments(t, job.ID, want, docBody) // also: the zombie's blobs are gone
	for _, d := range docs[zombieRecorded:] {
		if !strings.Contains(d.BlobKey, "-successor-") {
			t.Errorf("document %d has blob %s, want the successor's", d.Seq, d.BlobKey)
		}
	}
	if n := testutil.ToFloat64(zombie.metrics.runs.WithLabelValues("seq", outcomeLeaseLost)); n != 1 {
		t.Errorf("zombie runs{outcome=lease_lost} = %v, want 1", n)
	}
	for _, kind := range errorKinds {
		if n := testutil.ToFloat64(zombie.metrics.docErrors.WithLabelValues("seq", kind)); n != 0 {
			t.Errorf("zombie counted %v document errors of kind %s, want 0 (a lost lease is not a document error)", n, kind)
		}
	}
}

func TestRunDrainsOnCancel(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	g := newGate(2)
	w, _ := b.worker(t, Config{Concurrency: 2, PollInterval: 10 * time.Millisecond}, nil, g.source())
	job := b.createJob(t, "seq", seqJob(20)) // batch 7
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	reach(t, g.reached)
	cancel()
	close(g.release)
	if err := await(t, done, "Run"); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	got := b.job(t, job.ID)
	wantStatus(t, got, intake.StatusPending)
	if got.Collected != 2 || got.Attempts != 0 || got.Runs != 1 {
		t.Errorf("collected %d, attempts %d, runs %d; want 2, 0, 1", got.Collected, got.Attempts, got.Runs)
	}
	b.checkDocuments(t, job.ID, 2, docBody)
	if !b.disp.notified(job.ID) {
		t.Error("drained job was not announced")
	}
	if n := testutil.ToFloat64(w.metrics.runs.WithLabelValues("seq", outcomeDrained)); n != 1 {
		t.Errorf("runs{outcome=drained} = %v, want 1", n)
	}
	if n := testutil.ToFloat64(w.metrics.activeRuns); n != 0 {
		t.Errorf("active runs %v after drain, want 0", n)
	}
}

// TestShutdownGraceAbandonsDocument stops a worker whose current document
// never finishes: after ShutdownGrace it is abandoned, its blob (if
// written) deleted, and the job released.
func TestShutdownGraceAbandonsDocument(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		blocked string // "source" or "blob"
	}{
		{"blocked in source", "source"},
		{"blocked after blob write", "blob"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t)
			reached := make(chan struct{})
			src := &seqSource{}
			blobs := &faultyBlobs{BlobStore: b.blobs}
			block := func(ctx context.Context) error {
				close(reached)
				<-ctx.Done()
				return ctx.Err()
			}
			switch tt.blocked {
			case "source":
				src.before = func(ctx context.Context, seq int) error {
					if seq == 2 {
						return block(ctx)
					}
					return nil
				}
			case "blob":
				blobs.afterPut = func(ctx context.Context, key string) error {
					if strings.Contains(key, "/000002-") {
						return block(ctx)
					}
					return nil
				}
			}
			w, _ := b.worker(t, Config{ShutdownGrace: 50 * time.Millisecond}, blobs, src)
			job := b.createJob(t, "seq", seqJob(20))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			reach(t, reached)
			cancel()
			if err := await(t, done, "Run"); err != nil {
				t.Fatalf("Run = %v, want nil", err)
			}
			got := b.job(t, job.ID)
			wantStatus(t, got, intake.StatusPending)
			if got.Collected != 1 || got.Attempts != 0 {
				t.Errorf("collected %d, attempts %d; want 1, 0", got.Collected, got.Attempts)
			}
			b.checkDocuments(t, job.ID, 1, docBody) // document 2's blob is gone
			if n := testutil.ToFloat64(w.metrics.runs.WithLabelValues("seq", outcomeDrained)); n != 1 {
				t.Errorf("runs{outcome=drained} = %v, want 1", n)
			}
		})
	}
}

// TestPoolCompletesJobs runs a pool of four over twenty jobs: every job
// completes with each document recorded exactly once.
func TestPoolCompletesJobs(t *testing.T) {
	t.Parallel()
	const jobs, total = 20, 10
	b := newBundle(t)
	w, _ := b.worker(t, Config{Concurrency: 4, PollInterval: 10 * time.Millisecond}, nil, &seqSource{})
	ids := make([]string, jobs)
	for i := range ids {
		ids[i] = b.createJob(t, "seq", seqJob(total)).ID
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	deadline := time.After(2 * time.Minute)
	for {
		st, err := b.store.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Jobs[intake.StatusCompleted] == jobs {
			break
		}
		if bad := st.Jobs[intake.StatusFailed] + st.Jobs[intake.StatusScheduled]; bad > 0 {
			cancel()
			t.Fatalf("%d jobs failed or were rescheduled: %v", bad, st.Jobs)
		}
		select {
		case <-deadline:
			cancel()
			t.Fatalf("only %d of %d jobs completed: %v", st.Jobs[intake.StatusCompleted], jobs, st.Jobs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if err := await(t, done, "Run"); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	for _, id := range ids {
		got := b.job(t, id)
		if got.Runs != runsFor(total, intake.DefaultBatchFraction) || got.Collected != total {
			t.Errorf("job %s: runs %d, collected %d", id, got.Runs, got.Collected)
		}
		b.checkDocuments(t, id, total, docBody)
	}
	if n := testutil.ToFloat64(w.metrics.documents.WithLabelValues("seq")); n != jobs*total {
		t.Errorf("documents metric %v, want %d", n, jobs*total)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"heartbeat not shorter than lease", Config{LeaseTTL: time.Second, HeartbeatInterval: time.Second}, false},
		{"negative concurrency", Config{Concurrency: -1}, false},
		{"fraction above one", Config{BatchFraction: 10001}, false},
		{"backoff max below base", Config{BackoffBase: time.Minute, BackoffMax: time.Second}, false},
		{"negative attempts", Config{MaxAttempts: -1}, false},
	}
	b := newBundle(t)
	for _, tt := range tests {
		_, err := New(tt.cfg, b.store, b.blobs, intake.NewSources(&seqSource{}), b.disp, testLogger(t), nil)
		if (err == nil) != tt.ok || (err != nil && intake.ErrorCode(err) != intake.EINVALID) {
			t.Errorf("%s: New = %v, want ok %v (else EINVALID)", tt.name, err, tt.ok)
		}
	}
	// Two workers share one registry's collectors.
	reg := prometheus.NewRegistry()
	for range 2 {
		if _, err := New(Config{}, b.store, b.blobs, intake.NewSources(&seqSource{}), b.disp, testLogger(t), reg); err != nil {
			t.Fatalf("second worker on one registry: %v", err)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	t.Parallel()
	w := &Worker{cfg: Config{BackoffBase: 5 * time.Second, BackoffMax: 10 * time.Minute}}
	for attempts := range 80 {
		ceiling := w.cfg.BackoffMax
		if attempts < 7 { // 5s × 2^7 = 640s > 10m
			ceiling = w.cfg.BackoffBase << attempts
		}
		var maxSeen time.Duration
		for range 200 {
			d := w.backoff(attempts)
			if d < 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %s, want within [0, %s]", attempts, d, ceiling)
			}
			maxSeen = max(maxSeen, d)
		}
		if maxSeen < ceiling/2 { // 200 uniform draws all below half: p = 2^-200
			t.Errorf("backoff(%d) never exceeded %s of %s: no jitter spread", attempts, maxSeen, ceiling)
		}
	}
}

func TestSanitizeIdentity(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"worker-7f9c.svc_local", "worker-7f9c.svc_local"},
		{"pod name/with:odd chars", "pod-name-with-odd-chars"},
		{"..hidden", "hidden"},
		{"", "worker"},
		{"---", "worker"},
		{strings.Repeat("a", 70), strings.Repeat("a", 63)},
	}
	for _, tt := range tests {
		if got := sanitizeIdentity(tt.in); got != tt.want {
			t.Errorf("sanitizeIdentity(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if err := intake.ValidateBlobKey(intake.DocumentBlobKey(intake.NewID(), 1, sanitizeIdentity(tt.in)+"-0a1b")); err != nil {
			t.Errorf("owner from %q makes an invalid blob key: %v", tt.in, err)
		}
	}
}
