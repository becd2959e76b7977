package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

// hardeningTests are the suite's cases for what hostile input leaves to
// the store: sequence numbers beyond 32 bits and text at the edges of
// UTF-8. Run runs them with the others.
var hardeningTests = []suiteCase{
	{"Documents/SeqBeyondMax", testSeqBeyondMax},
	{"Text/RoundTrip", testTextRoundTrip},
	{"Text/SanitizedRoundTrip", testSanitizedRoundTrip},
}

// testSeqBeyondMax asks for documents past intake.MaxSeq: not found, and
// an empty page, on every store (a 32-bit column must not turn them into
// errors).
func testSeqBeyondMax(t *testing.T, h Harness) {
	b := setup(t, h)
	job := b.create(1)[0]
	b.claimID(job.ID, "w1")
	b.record(job.ID, 1, "w1")
	for _, seq := range []int{intake.MaxSeq, intake.MaxSeq + 1, 1 << 40, -1, -(intake.MaxSeq + 2)} {
		_, err := b.store.GetDocument(b.ctx, job.ID, seq)
		wantCode(t, fmt.Sprintf("GetDocument(%d)", seq), err, intake.ENOTFOUND)
	}
	for _, after := range []int{intake.MaxSeq, intake.MaxSeq + 1, 1 << 40} {
		page, err := b.store.ListDocuments(b.ctx, job.ID, after, 10)
		if err != nil || len(page) != 0 {
			t.Errorf("ListDocuments(after %d) = %d documents, %v; want none", after, len(page), err)
		}
	}
	page, err := b.store.ListDocuments(b.ctx, job.ID, -(intake.MaxSeq + 2), 10)
	if err != nil || len(page) != 1 {
		t.Errorf("ListDocuments(after a negative beyond 32 bits) = %d documents, %v; want 1", len(page), err)
	}
}

// trickyText is valid text that stores must keep byte for byte: the
// replacement character that sanitising writes, controls other than NUL,
// separators, characters beyond the BMP, and a combining sequence.
var trickyText = []string{
	"\uFFFD", "a\x01b\x7f\u0080", "line\u2028sep\u2029", "\U0001F600\U00010348", "e\u0301", "\uFEFFbom", `quote" back\ slash`,
}

// testTextRoundTrip stores tricky text in every string a job and a
// document carry, and binary checkpoints with NUL and 0xff, and reads
// them back unchanged.
func testTextRoundTrip(t *testing.T, h Harness) {
	b := setup(t, h)
	for i, s := range trickyText {
		cfg, _ := json.Marshal(map[string]string{"cin": s})
		in := &intake.Job{SourceType: "filings", Config: cfg, IdempotencyKey: fmt.Sprintf("k%d-%s", i, s)}
		jobs, err := b.store.CreateJobs(b.ctx, []*intake.Job{in})
		if err != nil {
			t.Fatalf("CreateJobs with %q: %v", s, err)
		}
		id := jobs[0].ID
		got := b.get(id)
		if got.IdempotencyKey != in.IdempotencyKey {
			t.Errorf("idempotency key %q, want %q", got.IdempotencyKey, in.IdempotencyKey)
		}
		var c map[string]string
		if err := json.Unmarshal(got.Config, &c); err != nil || c["cin"] != s {
			t.Errorf("config %s, want cin %q (%v)", got.Config, s, err)
		}
		owner := fmt.Sprintf("w%d", i)
		b.claimID(id, owner)
		cp := []byte{0, 0xff, 0xfe, 'x', 0}
		if err := b.store.Plan(b.ctx, id, owner, 2, cp); err != nil {
			t.Fatalf("Plan: %v", err)
		}
		d := b.doc(id, 1, owner)
		d.Name, d.DocumentType, d.ContentType = s+".txt", s, "text/plain; charset="+s
		cp2 := append([]byte(nil), append(cp, 0xc0)...)
		if err := b.store.RecordDocument(b.ctx, owner, d, cp2); err != nil {
			t.Fatalf("RecordDocument with %q: %v", s, err)
		}
		gd, err := b.store.GetDocument(b.ctx, id, 1)
		if err != nil {
			t.Fatalf("GetDocument: %v", err)
		}
		if gd.Name != d.Name || gd.DocumentType != d.DocumentType || gd.ContentType != d.ContentType {
			t.Errorf("document %q %q %q, want %q %q %q", gd.Name, gd.DocumentType, gd.ContentType, d.Name, d.DocumentType, d.ContentType)
		}
		if j := b.get(id); !bytes.Equal(j.Checkpoint, cp2) {
			t.Errorf("checkpoint %x, want %x", j.Checkpoint, cp2)
		}
		if err := b.store.Reschedule(b.ctx, id, owner, b.clock.Now().Add(time.Second), "error: "+s, true); err != nil {
			t.Fatalf("Reschedule: %v", err)
		}
		if j := b.get(id); j.LastError != "error: "+s {
			t.Errorf("last error %q, want %q", j.LastError, "error: "+s)
		}
	}
}

// hostileText is what clients and sources may send: bytes that are not
// UTF-8 and NUL, which the API refuses and the worker sanitises.
var hostileText = []string{"charset=\xff", "a\x00b", "caf\xe9", "\xed\xa0\x80surrogate", "\xc0\xaf"}

// testSanitizedRoundTrip stores what intake.SanitizeText makes of hostile
// text, as the worker records it, in every document field and as an
// error: every store keeps it unchanged.
func testSanitizedRoundTrip(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.create(len(hostileText))
	for i, raw := range hostileText {
		s := intake.SanitizeText(raw)
		if !intake.ValidText(s) {
			t.Fatalf("SanitizeText(%q) = %q is not valid text", raw, s)
		}
		id := jobs[i].ID
		b.claimID(id, "w1")
		d := b.doc(id, 1, "w1")
		d.Name, d.DocumentType, d.ContentType = s, s, "text/html; "+s
		if err := b.store.RecordDocument(b.ctx, "w1", d, nil); err != nil {
			t.Fatalf("RecordDocument with sanitised %q: %v", raw, err)
		}
		gd, err := b.store.GetDocument(b.ctx, id, 1)
		if err != nil {
			t.Fatalf("GetDocument: %v", err)
		}
		if gd.Name != s || gd.DocumentType != s || gd.ContentType != d.ContentType {
			t.Errorf("document %q %q %q, want %q", gd.Name, gd.DocumentType, gd.ContentType, s)
		}
		if err := b.store.Fail(b.ctx, id, "w1", "failed: "+s); err != nil {
			t.Fatalf("Fail with sanitised %q: %v", raw, err)
		}
		if j := b.get(id); j.LastError != "failed: "+s {
			t.Errorf("last error %q, want %q", j.LastError, "failed: "+s)
		}
	}
}
