package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/source/filings"
)

// listSource produces the documents its config lists, in order: {"docs":
// [{"identity": "a", "body": "alpha", "repeat": 3}, …]}, each body
// repeated (once by default), so that successive jobs can collect the
// same identities with other content. before, when set, runs before
// document seq is produced.
type listSource struct {
	before func(ctx context.Context, seq int) error
}

type listDoc struct {
	Identity string `json:"identity"`
	Body     string `json:"body"`
	Repeat   int    `json:"repeat,omitempty"`
}

type listConfig struct {
	Docs []listDoc `json:"docs"`
}

func (d listDoc) content() []byte { return bytes.Repeat([]byte(d.Body), max(1, d.Repeat)) }

// Type implements intake.Source.
func (s *listSource) Type() string { return "list" }

func (s *listSource) parse(raw json.RawMessage) (listConfig, error) {
	var c listConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, intake.Invalid("list config", intake.FieldError{Message: err.Error()})
	}
	return c, nil
}

// Validate implements intake.Source.
func (s *listSource) Validate(_ context.Context, raw json.RawMessage) error {
	_, err := s.parse(raw)
	return err
}

// Plan implements intake.Source.
func (s *listSource) Plan(_ context.Context, raw json.RawMessage) (int, []byte, error) {
	c, err := s.parse(raw)
	return len(c.Docs), nil, err
}

// Next implements intake.Source.
func (s *listSource) Next(ctx context.Context, raw json.RawMessage, seq int, _ []byte) (*intake.Item, error) {
	c, err := s.parse(raw)
	if err != nil {
		return nil, err
	}
	if s.before != nil {
		if err := s.before(ctx, seq); err != nil {
			return nil, err
		}
	}
	d := c.Docs[seq-1]
	return &intake.Item{
		Name:        fmt.Sprintf("doc-%d", seq),
		ContentType: "text/plain",
		Identity:    d.Identity,
		Body:        io.NopCloser(bytes.NewReader(d.content())),
	}, nil
}

// Close implements intake.Source.
func (s *listSource) Close() error { return nil }

// createNext creates a job of sourceType whose previous job is prev, as a
// schedule does.
func (b *bundle) createNext(t testing.TB, sourceType string, config any, prev string) *intake.Job {
	t.Helper()
	raw, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := b.store.CreateJobs(context.Background(), []*intake.Job{{
		Tenant: intake.DefaultTenant, SourceType: sourceType, Config: raw, PreviousJobID: prev,
	}})
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	if jobs[0].PreviousJobID != prev {
		t.Fatalf("job created with previous job %q, want %q", jobs[0].PreviousJobID, prev)
	}
	return jobs[0]
}

// complete runs job id until it completes.
func complete(t testing.TB, b *bundle, w *Worker, id string) {
	t.Helper()
	for range 20 {
		runOnce(t, w, id)
		if b.job(t, id).Status.Terminal() {
			break
		}
	}
	wantStatus(t, b.job(t, id), intake.StatusCompleted)
}

// byIdentity maps a job's documents by identity; documents without one
// go under their name.
func byIdentity(t testing.TB, b *bundle, id string) map[string]*intake.Document {
	t.Helper()
	docs, err := b.store.ListDocuments(context.Background(), id, 0, intake.MaxPageSize)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*intake.Document{}
	for _, d := range docs {
		k := d.Identity
		if k == "" {
			k = d.Name
		}
		out[k] = d
	}
	return out
}

const big = compareBuffer + 512<<10 // a body hashed while it is stored

func TestChangeDetection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBundle(t)
	w, reg := b.worker(t, Config{BatchFraction: 10000}, nil, &listSource{})
	first := b.createJob(t, "list", listConfig{Docs: []listDoc{
		{Identity: "a", Body: "alpha"},
		{Identity: "b", Body: "bravo"},
		{Identity: "c", Body: "charlie"},
		{Identity: "big-same", Body: "x", Repeat: big},
		{Identity: "big-changed", Body: "y", Repeat: big},
		{Identity: "exact", Body: "e", Repeat: compareBuffer},
		{Body: "no identity"},
	}})
	complete(t, b, w, first.ID)
	firstDocs := byIdentity(t, b, first.ID)
	for k, d := range firstDocs {
		if d.Change != "" {
			t.Errorf("first job: %s has change %q, want none without a previous job", k, d.Change)
		}
	}
	if d := firstDocs["a"]; d.Identity != "a" {
		t.Errorf("first job: document a recorded with identity %q", d.Identity)
	}
	blobsBefore := len(b.blobKeys(t, "jobs/"))

	second := b.createNext(t, "list", listConfig{Docs: []listDoc{
		{Identity: "a", Body: "alpha"},
		{Identity: "b", Body: "BRAVO"},
		{Identity: "d", Body: "delta"},
		{Identity: "big-same", Body: "x", Repeat: big},
		{Identity: "big-changed", Body: "z", Repeat: big},
		{Identity: "exact", Body: "e", Repeat: compareBuffer},
		{Body: "no identity"},
	}}, first.ID)
	complete(t, b, w, second.ID)
	docs := byIdentity(t, b, second.ID)
	want := map[string]intake.Change{
		"a": intake.ChangeUnchanged, "b": intake.ChangeChanged, "d": intake.ChangeNew,
		"big-same": intake.ChangeUnchanged, "big-changed": intake.ChangeChanged,
		"exact": intake.ChangeUnchanged, "doc-7": "",
	}
	for k, change := range want {
		d, ok := docs[k]
		if !ok {
			t.Errorf("second job has no document %s", k)
			continue
		}
		if d.Change != change {
			t.Errorf("document %s: change %q, want %q", k, d.Change, change)
		}
		prev := firstDocs[k]
		switch {
		case change == intake.ChangeUnchanged && (d.BlobKey != prev.BlobKey || d.SHA256 != prev.SHA256 ||
			d.SizeBytes != prev.SizeBytes || d.ContentType != prev.ContentType):
			t.Errorf("unchanged document %s: blob %s (%s, %d bytes), want the previous %s (%s, %d bytes)",
				k, d.BlobKey, d.SHA256, d.SizeBytes, prev.BlobKey, prev.SHA256, prev.SizeBytes)
		case change != intake.ChangeUnchanged && !strings.HasPrefix(d.BlobKey, "jobs/"+second.ID+"/"):
			t.Errorf("%q document %s: blob %s is not the job's own", change, k, d.BlobKey)
		}
	}
	// Every document's blob holds its bytes, the unchanged ones' included.
	b.checkDocumentBlobs(t, second.ID)
	// Only the changed, new and identity-less documents stored a blob.
	if got := b.blobKeys(t, "jobs/"+second.ID+"/"); len(got) != 4 {
		t.Errorf("second job stored %d blobs, want 4 (b, d, big-changed, doc-7): %q", len(got), got)
	}
	if got := len(b.blobKeys(t, "jobs/")); got != blobsBefore+4 {
		t.Errorf("%d blobs in the bucket, want %d", got, blobsBefore+4)
	}
	counts, err := b.store.ChangeCounts(ctx, second.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := (intake.ChangeCounts{New: 1, Changed: 2, Unchanged: 3, Removed: 1}); *counts != want {
		t.Errorf("ChangeCounts = %+v, want %+v", *counts, want)
	}
	for change, n := range map[string]float64{"new": 1, "changed": 2, "unchanged": 3} {
		if got := testutil.ToFloat64(w.metrics.changes.WithLabelValues(change)); got != n {
			t.Errorf("intake_worker_document_changes_total{change=%q} = %v, want %v", change, got, n)
		}
	}
	if n := testutil.CollectAndCount(reg, "intake_worker_document_changes_total"); n != 3 {
		t.Errorf("changes metric has %d series, want 3", n)
	}

	// The orphan sweep keeps the blobs the second job shares with the
	// first.
	m := b.maintainer(t, MaintainerConfig{OrphanGrace: time.Hour, Clock: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	if deleted, err := m.SweepOrphans(ctx); err != nil || deleted != 0 {
		t.Fatalf("SweepOrphans = %d, %v; want nothing deleted", deleted, err)
	}
	b.checkDocumentBlobs(t, second.ID)
}

// checkDocumentBlobs checks that every document of job id has a blob whose
// bytes match its size and SHA-256.
func (b *bundle) checkDocumentBlobs(t testing.TB, id string) {
	t.Helper()
	for k, d := range byIdentity(t, b, id) {
		rc, _, err := b.blobs.Get(context.Background(), d.BlobKey)
		if err != nil {
			t.Errorf("document %s: get blob %s: %v", k, d.BlobKey, err)
			continue
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256Hex(body); got != d.SHA256 || int64(len(body)) != d.SizeBytes {
			t.Errorf("document %s: blob %s holds %d bytes (%s), metadata says %d (%s)", k, d.BlobKey, len(body), got, d.SizeBytes, d.SHA256)
		}
	}
}

// TestUnchangedRecordFailureKeepsPreviousBlob: when recording an unchanged
// document fails (the job was cancelled under the run), the previous
// job's blob, which the document would have referenced, is left alone, and
// the blob the run streamed for it is gone. Recording in groups, the
// first document is in the same failed group.
func TestUnchangedRecordFailureKeepsPreviousBlob(t *testing.T) {
	t.Parallel()
	for _, mode := range recordModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			testUnchangedRecordFailureKeepsPreviousBlob(t, mode.batch, mode.pick(1, 0))
		})
	}
}

func testUnchangedRecordFailureKeepsPreviousBlob(t *testing.T, recordBatch, want int) {
	ctx := context.Background()
	b := newBundle(t)
	docs := listConfig{Docs: []listDoc{{Identity: "a", Body: "alpha"}, {Identity: "big", Body: "x", Repeat: big}}}
	w, _ := b.worker(t, Config{BatchFraction: 10000}, nil, &listSource{})
	first := b.createJob(t, "list", docs)
	complete(t, b, w, first.ID)

	var second *intake.Job
	cancelling := &listSource{before: func(ctx context.Context, seq int) error {
		if seq < 2 {
			return nil
		}
		_, err := b.store.Cancel(ctx, second.ID) // the next record is fenced out
		return err
	}}
	w2, _ := b.worker(t, Config{BatchFraction: 10000, RecordBatch: recordBatch}, nil, cancelling)
	second = b.createNext(t, "list", docs, first.ID)
	if _, err := w2.RunOnce(ctx, second.ID); err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if j := b.job(t, second.ID); j.Status != intake.StatusCancelled || j.Collected != want {
		t.Fatalf("second job %s with %d documents, want cancelled with %d", j.Status, j.Collected, want)
	}
	b.checkDocumentBlobs(t, first.ID)
	if got := b.blobKeys(t, "jobs/"+second.ID+"/"); len(got) != 0 {
		t.Errorf("the cancelled job left blobs %q", got)
	}
}

// TestFilingsChangesOverDays: a schedule's jobs of the filings source on
// later simulated days find the filings the company filed since as new,
// and the rest unchanged, with a blob for the new ones only.
func TestFilingsChangesOverDays(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	const day = time.Second
	now := time.Unix(0, 0).Add(56 * 365 * day) // the start of an era
	src := filings.New(0, filings.WithDay(day), filings.WithClock(func() time.Time { return now }))
	w, _ := b.worker(t, Config{}, nil, src)
	config := filings.Config{CIN: "L27100MH1998PLC112233", CompanyName: "Sahyadri Steel Limited"}
	prev := b.createJob(t, "filings", config)
	complete(t, b, w, prev.ID)
	var counts intake.ChangeCounts
	for range 6 {
		now = now.Add(10 * day)
		job := b.createNext(t, "filings", config, prev.ID)
		complete(t, b, w, job.ID)
		c, err := b.store.ChangeCounts(context.Background(), job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if own := len(b.blobKeys(t, "jobs/"+job.ID+"/")); own != c.New+c.Changed {
			t.Errorf("job with %+v stored %d blobs, want one per new or changed filing", *c, own)
		}
		if got := b.job(t, job.ID); c.New+c.Changed+c.Unchanged != got.Total {
			t.Errorf("changes %+v do not add up to the job's %d documents", *c, got.Total)
		}
		b.checkDocumentBlobs(t, job.ID)
		counts.New += c.New
		counts.Changed += c.Changed
		counts.Unchanged += c.Unchanged
		counts.Removed += c.Removed
		prev = job
	}
	if counts.New == 0 || counts.Unchanged == 0 {
		t.Errorf("over 60 days: %+v, want new and unchanged filings", counts)
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
