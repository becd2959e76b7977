package worker

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob"
)

// groupLog is what a worker asked of the blob store and the job store, in
// order: "put K" (unsynced), "Put K" (durable), "sync K1 K2 …",
// "record S" (RecordDocument of seq S) and "records S1-S2"
// (RecordDocuments).
type groupLog struct {
	mu     sync.Mutex
	events []string
}

func (l *groupLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf(format, args...))
}

func (l *groupLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// loggedBlobs is the bundle's real blob store, logging its writes and
// syncs; syncErr, when set, fails Sync.
type loggedBlobs struct {
	*blob.Bucket
	log     *groupLog
	syncErr error
}

func (b *loggedBlobs) Put(ctx context.Context, key string, r io.Reader, contentType string) (*intake.BlobInfo, error) {
	b.log.add("Put %s", key)
	return b.Bucket.Put(ctx, key, r, contentType)
}

func (b *loggedBlobs) PutUnsynced(ctx context.Context, key string, r io.Reader, contentType string) (*intake.BlobInfo, error) {
	b.log.add("put %s", key)
	return b.Bucket.PutUnsynced(ctx, key, r, contentType)
}

func (b *loggedBlobs) Sync(ctx context.Context, keys []string) error {
	if b.syncErr != nil {
		return b.syncErr
	}
	b.log.add("sync %s", strings.Join(keys, " "))
	return b.Bucket.Sync(ctx, keys)
}

// loggedStore is the bundle's real job store, logging document records.
// failAfter, when positive, makes RecordDocuments record only the first
// failAfter documents of a group and then fail as unavailable, as a store
// without transactions (MongoDB) fails midway.
type loggedStore struct {
	intake.Store
	log       *groupLog
	failAfter int
}

func (s *loggedStore) RecordDocument(ctx context.Context, owner string, doc *intake.Document, checkpoint []byte) error {
	s.log.add("record %d", doc.Seq)
	return s.Store.RecordDocument(ctx, owner, doc, checkpoint)
}

func (s *loggedStore) RecordDocuments(ctx context.Context, owner string, recs []intake.DocumentRecord) (int, error) {
	s.log.add("records %d-%d", recs[0].Document.Seq, recs[len(recs)-1].Document.Seq)
	if s.failAfter > 0 && len(recs) > s.failAfter {
		n, err := s.Store.RecordDocuments(ctx, owner, recs[:s.failAfter])
		if err != nil {
			return n, err
		}
		return n, intake.Errorf(intake.EUNAVAILABLE, "record documents: connection reset")
	}
	return s.Store.RecordDocuments(ctx, owner, recs)
}

// loggedWorker returns a worker on the bundle whose blob store and job
// store log into the returned log.
func (b *bundle) loggedWorker(t *testing.T, cfg Config, src intake.Source, failAfter int) (*Worker, *groupLog, *loggedBlobs) {
	t.Helper()
	log := &groupLog{}
	blobs := &loggedBlobs{Bucket: b.blobs.(*blob.Bucket), log: log}
	store := &loggedStore{Store: b.store, log: log, failAfter: failAfter}
	cfg.Identity, cfg.Clock = "test", b.clock.Now
	w, err := New(cfg, store, blobs, intake.NewSources(src), b.disp, testLogger(t), nil)
	if err != nil {
		t.Fatalf("new worker: %v", err)
	}
	return w, log, blobs
}

// TestRecordGroups collects a batch of 10 documents in groups of 4: the
// blobs of each group are written unsynced and synced with one call, and
// only then is the group recorded with one call. The last group is the
// rest of the batch, and a group of one is recorded on its own.
func TestRecordGroups(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		total int
		want  []string // what the worker asked, "put" and key prefixes left out
	}{
		{"groups of 4", 10, []string{"sync 1 2 3 4", "records 1-4", "sync 5 6 7 8", "records 5-8", "sync 9 10", "records 9-10"}},
		{"a group of one at the end", 5, []string{"sync 1 2 3 4", "records 1-4", "sync 5", "record 5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t)
			w, log, _ := b.loggedWorker(t, Config{BatchFraction: 10000, RecordBatch: 4, RecordWait: time.Hour}, &seqSource{}, 0)
			job := b.createJob(t, "seq", seqJob(tt.total))
			runOnce(t, w, job.ID)
			wantStatus(t, b.job(t, job.ID), intake.StatusCompleted)
			b.checkDocuments(t, job.ID, tt.total, docBody)

			var got []string
			puts := 0
			for _, e := range log.all() {
				if strings.HasPrefix(e, "put ") {
					puts++
					continue
				}
				got = append(got, shortKeys(e, job.ID))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("the worker asked\n%q\nwant\n%q", got, tt.want)
			}
			if puts != tt.total {
				t.Errorf("%d unsynced puts, want %d", puts, tt.total)
			}
			if n := testutil.ToFloat64(w.metrics.documents.WithLabelValues("seq")); n != float64(tt.total) {
				t.Errorf("documents collected = %v, want %d", n, tt.total)
			}
			if n := testutil.ToFloat64(w.metrics.bytes.WithLabelValues("seq")); n <= 0 {
				t.Errorf("document bytes = %v, want the documents' sizes", n)
			}
		})
	}
}

// shortKeys writes the blob keys of job id in a log event as their seqs.
func shortKeys(event, jobID string) string {
	fields := strings.Fields(event)
	for i, f := range fields {
		if rest, ok := strings.CutPrefix(f, "jobs/"+jobID+"/"); ok {
			seq, _, _ := strings.Cut(rest, "-")
			fields[i] = strings.TrimLeft(seq, "0")
		}
	}
	return strings.Join(fields, " ")
}

// TestRecordOneAtATime: with RecordBatch 1, every blob is put durably and
// every document recorded on its own, as before groups existed.
func TestRecordOneAtATime(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	w, log, _ := b.loggedWorker(t, Config{BatchFraction: 10000, RecordBatch: 1}, &seqSource{}, 0)
	job := b.createJob(t, "seq", seqJob(3))
	runOnce(t, w, job.ID)
	b.checkDocuments(t, job.ID, 3, docBody)
	var got []string
	for _, e := range log.all() {
		got = append(got, shortKeys(e, job.ID))
	}
	if want := []string{"Put 1", "record 1", "Put 2", "record 2", "Put 3", "record 3"}; !slices.Equal(got, want) {
		t.Errorf("the worker asked %q, want %q", got, want)
	}
}

// TestRecordWaitBoundsGroups: a source slower than RecordWait gets each
// document recorded as it comes, not held for a full group.
func TestRecordWaitBoundsGroups(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	slow := &seqSource{before: func(ctx context.Context, _ int) error {
		select {
		case <-time.After(5 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	w, log, _ := b.loggedWorker(t, Config{BatchFraction: 10000, RecordBatch: 64, RecordWait: time.Millisecond}, slow, 0)
	job := b.createJob(t, "seq", seqJob(3))
	runOnce(t, w, job.ID)
	b.checkDocuments(t, job.ID, 3, docBody)
	var got []string
	for _, e := range log.all() {
		if !strings.HasPrefix(e, "put ") {
			got = append(got, shortKeys(e, job.ID))
		}
	}
	if want := []string{"sync 1", "record 1", "sync 2", "record 2", "sync 3", "record 3"}; !slices.Equal(got, want) {
		t.Errorf("the worker asked %q, want %q", got, want)
	}
}

// TestRecordGroupFailures fails a group: its Sync, or its record midway
// (the first documents recorded, as on a store without transactions),
// alone or while the next group is collected. The documents recorded are
// counted and keep their blobs; the blobs of the rest, the next group's
// among them, are discarded; the run is rescheduled and the next run
// collects the rest.
func TestRecordGroupFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		recordBatch   int
		syncErr       error
		failAfter     int
		wantCollected int
		wantKind      string
	}{
		{"sync fails", 8, intake.Errorf(intake.EUNAVAILABLE, "input/output error"), 0, 0, kindBlob},
		{"record fails midway", 8, nil, 3, 3, kindStore},
		{"sync fails with a group behind", 4, intake.Errorf(intake.EUNAVAILABLE, "input/output error"), 0, 0, kindBlob},
		{"record fails midway with a group behind", 4, nil, 2, 2, kindStore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t)
			w, _, blobs := b.loggedWorker(t, Config{BatchFraction: 10000, RecordBatch: tt.recordBatch, RecordWait: time.Hour}, &seqSource{}, tt.failAfter)
			blobs.syncErr = tt.syncErr
			job := b.createJob(t, "seq", seqJob(8))
			runOnce(t, w, job.ID)
			got := b.job(t, job.ID)
			wantStatus(t, got, intake.StatusScheduled)
			if got.Collected != tt.wantCollected {
				t.Errorf("collected %d, want %d", got.Collected, tt.wantCollected)
			}
			b.checkDocuments(t, job.ID, tt.wantCollected, docBody) // the rest's blobs are gone
			if n := testutil.ToFloat64(w.metrics.documents.WithLabelValues("seq")); n != float64(tt.wantCollected) {
				t.Errorf("documents collected = %v, want %d", n, tt.wantCollected)
			}
			if n := testutil.ToFloat64(w.metrics.docErrors.WithLabelValues("seq", tt.wantKind)); n != 1 {
				t.Errorf("document errors{kind=%s} = %v, want 1", tt.wantKind, n)
			}

			blobs.syncErr = nil
			w2, _, _ := b.loggedWorker(t, Config{BatchFraction: 10000, RecordBatch: 8}, &seqSource{}, 0)
			b.clock.Advance(time.Hour)
			if err := b.maintainer(t, MaintainerConfig{}).RunOnce(t.Context()); err != nil {
				t.Fatal(err)
			}
			runOnce(t, w2, job.ID)
			wantStatus(t, b.job(t, job.ID), intake.StatusCompleted)
			b.checkDocuments(t, job.ID, 8, docBody)
		})
	}
}

// TestSourceErrorRecordsGroup: documents collected before a source error
// are recorded before the run ends with it.
func TestSourceErrorRecordsGroup(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	w, log, _ := b.loggedWorker(t, Config{BatchFraction: 10000, RecordBatch: 64, RecordWait: time.Hour},
		failAt(4, fmt.Errorf("connection reset")), 0)
	job := b.createJob(t, "seq", seqJob(10))
	runOnce(t, w, job.ID)
	got := b.job(t, job.ID)
	wantStatus(t, got, intake.StatusScheduled)
	if got.Collected != 3 || !strings.Contains(got.LastError, "connection reset") {
		t.Errorf("collected %d, last error %q; want 3 and the source's error", got.Collected, got.LastError)
	}
	b.checkDocuments(t, job.ID, 3, docBody)
	if events := log.all(); !slices.Contains(events, "records 1-3") {
		t.Errorf("the worker asked %q, want one record of documents 1-3", events)
	}
}
