package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

// recordTests are the suite's cases for RecordDocuments, a group of a
// job's documents recorded under the fence.
var recordTests = []suiteCase{
	{"RecordDocuments/InOrder", testRecordDocumentsInOrder},
	{"RecordDocuments/NotNext", testRecordDocumentsNotNext},
	{"RecordDocuments/Invalid", testRecordDocumentsInvalid},
	{"RecordDocuments/LeaseLost", testRecordDocumentsLeaseLost},
	{"RecordDocuments/LeaseLostMidway", testRecordDocumentsLeaseLostMidway},
}

// group returns documents from..to of a job as a worker with owner would
// record them, each with the checkpoint "cp<seq>".
func (b *bundle) group(jobID string, from, to int, owner string) []intake.DocumentRecord {
	recs := make([]intake.DocumentRecord, 0, to-from+1)
	for seq := from; seq <= to; seq++ {
		recs = append(recs, intake.DocumentRecord{Document: b.doc(jobID, seq, owner), Checkpoint: fmt.Appendf(nil, "cp%d", seq)})
	}
	return recs
}

// recordGroup records documents from..to of a job under owner, failing the
// test unless all of them are recorded.
func (b *bundle) recordGroup(jobID string, from, to int, owner string) []intake.DocumentRecord {
	b.t.Helper()
	recs := b.group(jobID, from, to, owner)
	n, err := b.store.RecordDocuments(b.ctx, owner, recs)
	if err != nil || n != len(recs) {
		b.t.Fatalf("RecordDocuments(%s, %d..%d, %s) = %d, %v; want %d, nil", jobID, from, to, owner, n, err, len(recs))
	}
	return recs
}

// wantRecorded fails the test unless the job has exactly documents 1..n
// (ListDocuments), Collected n and the checkpoint after document n (cp0,
// Plan's, when n is 0).
func (b *bundle) wantRecorded(t *testing.T, what, jobID string, n int) {
	t.Helper()
	j := b.get(jobID)
	if j.Collected != n {
		t.Errorf("%s: Collected = %d, want %d", what, j.Collected, n)
	}
	wantCheckpoint(t, j, fmt.Sprintf("cp%d", n))
	docs, err := b.store.ListDocuments(b.ctx, jobID, 0, intake.MaxPageSize)
	if err != nil {
		t.Fatalf("%s: ListDocuments: %v", what, err)
	}
	for i, d := range docs {
		if d.Seq != i+1 {
			t.Errorf("%s: document %d of the list has Seq %d", what, i+1, d.Seq)
		}
	}
	if len(docs) != n {
		t.Errorf("%s: %d documents listed, want %d", what, len(docs), n)
	}
}

// plan claims job j under owner and plans it with checkpoint cp0.
func (b *bundle) plan(j *intake.Job, owner string, total int) {
	b.t.Helper()
	b.claimID(j.ID, owner)
	if err := b.store.Plan(b.ctx, j.ID, owner, total, []byte("cp0")); err != nil {
		b.t.Fatalf("Plan: %v", err)
	}
}

// testRecordDocumentsInOrder records groups and single documents in turn:
// each document is stored as RecordDocument stores it, with an ID (the
// caller's when it set one), Collected and the checkpoint follow the last,
// and the run record and the stats count every one.
func testRecordDocumentsInOrder(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	b.plan(j, "w1", 10)
	if n, err := b.store.RecordDocuments(b.ctx, "w1", nil); n != 0 || err != nil {
		t.Errorf("RecordDocuments of nothing = %d, %v; want 0, nil", n, err)
	}
	b.wantRecorded(t, "after an empty group", j.ID, 0)

	b.clock.Advance(time.Second)
	recs := b.group(j.ID, 1, 3, "w1")
	chosen := intake.NewID()
	recs[1].Document.ID = chosen
	if n, err := b.store.RecordDocuments(b.ctx, "w1", recs); n != 3 || err != nil {
		t.Fatalf("RecordDocuments(1..3) = %d, %v; want 3, nil", n, err)
	}
	if recs[1].Document.ID != chosen {
		t.Errorf("document 2 has ID %s, want the caller's %s", recs[1].Document.ID, chosen)
	}
	for _, rec := range recs {
		if !intake.ValidID(rec.Document.ID) {
			t.Errorf("document %d has ID %q, want a UUID", rec.Document.Seq, rec.Document.ID)
		}
		stored, err := b.store.GetDocument(b.ctx, j.ID, rec.Document.Seq)
		if err != nil {
			t.Fatalf("GetDocument(%d): %v", rec.Document.Seq, err)
		}
		wantSameDoc(t, fmt.Sprintf("GetDocument(%d)", rec.Document.Seq), stored, rec.Document)
	}
	b.wantRecorded(t, "after a group of 3", j.ID, 3)
	wantTime(t, "UpdatedAt", b.get(j.ID).UpdatedAt, b.now())

	b.record(j.ID, 4, "w1") // one at a time in between
	one := b.recordGroup(j.ID, 5, 5, "w1")
	b.recordGroup(j.ID, 6, 8, "w1")
	b.wantRecorded(t, "after groups and a single document", j.ID, 8)
	if stored, err := b.store.GetDocument(b.ctx, j.ID, 5); err != nil || stored.ID != one[0].Document.ID {
		t.Errorf("GetDocument(5) = %+v, %v; want the group of one's document", stored, err)
	}

	st, err := b.store.Stats(b.ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	var size int64
	for seq := 1; seq <= 8; seq++ {
		size += b.doc(j.ID, seq, "w1").SizeBytes
	}
	if st.Documents != 8 || st.Bytes != size {
		t.Errorf("Stats: %d documents of %d bytes, want 8 of %d", st.Documents, st.Bytes, size)
	}
	if err := b.store.FinishRun(b.ctx, j.ID, "w1", false); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	runs, err := b.store.ListRuns(b.ctx, j.ID, 0, 10)
	if err != nil || len(runs) != 1 || runs[0].Collected != 8 {
		t.Errorf("ListRuns = %+v, %v; want one run that collected 8", runs, err)
	}
}

// testRecordDocumentsNotNext offers groups whose first Seq is not
// Collected+1: a retry of a group that was recorded, one that overlaps it,
// one that skips ahead. Each is an ECONFLICT error that records nothing,
// like RecordDocument's, and the group that is next still records.
func testRecordDocumentsNotNext(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	b.plan(j, "w1", 10)
	done := b.recordGroup(j.ID, 1, 3, "w1")
	ids := make([]string, len(done))
	for i, rec := range done {
		ids[i] = rec.Document.ID
	}
	tests := []struct {
		name     string
		recs     []intake.DocumentRecord
		from, to int
	}{
		{"the same group again", done, 1, 3},
		{"a group from the start", b.group(j.ID, 1, 5, "w1"), 1, 5},
		{"a group that overlaps the last", b.group(j.ID, 3, 5, "w1"), 3, 5},
		{"a group that skips one", b.group(j.ID, 5, 6, "w1"), 5, 6},
	}
	for _, tt := range tests {
		n, err := b.store.RecordDocuments(b.ctx, "w1", tt.recs)
		wantError(t, "RecordDocuments of "+tt.name, err, intake.ECONFLICT,
			fmt.Sprintf("document seq %d is not next: the job has 3 documents", tt.from))
		if n != 0 {
			t.Errorf("RecordDocuments of %s recorded %d, want 0", tt.name, n)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("record documents %d to %d of job %s", tt.from, tt.to, j.ID)) {
			t.Errorf("RecordDocuments of %s: error %q does not name the documents and the job", tt.name, err)
		}
	}
	b.wantRecorded(t, "after the refused groups", j.ID, 3)
	for i, id := range ids {
		if d, err := b.store.GetDocument(b.ctx, j.ID, i+1); err != nil || d.ID != id {
			t.Errorf("GetDocument(%d) = %+v, %v; want the first recording, ID %s", i+1, d, err, id)
		}
	}
	b.recordGroup(j.ID, 4, 6, "w1")
	b.wantRecorded(t, "after the next group", j.ID, 6)
}

// testRecordDocumentsInvalid offers groups that are not one job's
// consecutive documents, or hold a document RecordDocument refuses: each
// is an EINVALID error that records nothing, not even the valid documents
// before the bad one.
func testRecordDocumentsInvalid(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.create(2)
	j := jobs[0]
	b.plan(j, "w1", 10)
	edit := func(edit func(recs []intake.DocumentRecord)) []intake.DocumentRecord {
		recs := b.group(j.ID, 1, 3, "w1")
		edit(recs)
		return recs
	}
	tests := []struct {
		name string
		recs []intake.DocumentRecord
		msg  string
	}{
		{"a gap", edit(func(r []intake.DocumentRecord) { r[2].Document.Seq = 4 }),
			"record document 4 of job " + j.ID + ": documents 1 to 3 of job " + j.ID + " are not consecutive"},
		{"a repeated seq", edit(func(r []intake.DocumentRecord) { r[1].Document.Seq = 1 }),
			"record document 1 of job " + j.ID + ": documents 1 to 3 of job " + j.ID + " are not consecutive"},
		{"another job's document", edit(func(r []intake.DocumentRecord) { r[1].Document.JobID = jobs[1].ID }),
			"record document 2 of job " + jobs[1].ID + ": documents 1 to 3 of job " + j.ID + " are not consecutive"},
		{"a nil document", edit(func(r []intake.DocumentRecord) { r[2].Document = nil }),
			"record document: a document with a job ID is required"},
		{"a bad blob key", edit(func(r []intake.DocumentRecord) { r[1].Document.BlobKey = "../x" }),
			`invalid blob key "../x"`},
		{"an unknown change", edit(func(r []intake.DocumentRecord) { r[2].Document.Change = "removed" }),
			"record document 3 of job " + j.ID + `: unknown change "removed"`},
	}
	for _, tt := range tests {
		n, err := b.store.RecordDocuments(b.ctx, "w1", tt.recs)
		wantError(t, "RecordDocuments with "+tt.name, err, intake.EINVALID, tt.msg)
		if n != 0 {
			t.Errorf("RecordDocuments with %s recorded %d, want 0", tt.name, n)
		}
	}
	b.wantRecorded(t, "after the refused groups", j.ID, 0)
}

// testRecordDocumentsLeaseLost offers groups without the lease: another
// owner's, a malformed job ID's, a cancelled job's, and the group of a run
// whose lease expired and was claimed again. Each is ErrLeaseLost and
// records nothing; the new owner's group records.
func testRecordDocumentsLeaseLost(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.create(2)
	j, other := jobs[0], jobs[1]
	b.plan(j, "w1", 10)
	b.recordGroup(j.ID, 1, 2, "w1")

	n, err := b.store.RecordDocuments(b.ctx, "w2", b.group(j.ID, 3, 4, "w2"))
	wantLeaseLost(t, "RecordDocuments by another owner", err)
	if n != 0 {
		t.Errorf("RecordDocuments by another owner recorded %d", n)
	}
	malformed := b.group(j.ID, 3, 4, "w1")
	for _, rec := range malformed {
		rec.Document.JobID = "not-a-uuid"
	}
	_, err = b.store.RecordDocuments(b.ctx, "w1", malformed)
	wantLeaseLost(t, "RecordDocuments with a malformed job ID", err)
	b.wantRecorded(t, "after the refused groups", j.ID, 2)

	// The lease expires and another run claims the job: the first run's
	// group is fenced out, the second run's records after what the first
	// recorded.
	b.clock.Advance(lease)
	b.maintain(5)
	b.claimID(j.ID, "w3")
	_, err = b.store.RecordDocuments(b.ctx, "w1", b.group(j.ID, 3, 4, "w1"))
	wantLeaseLost(t, "RecordDocuments by the expired run", err)
	b.recordGroup(j.ID, 3, 5, "w3")
	b.wantRecorded(t, "after the next run's group", j.ID, 5)

	b.claimID(other.ID, "w4")
	if _, err := b.store.Cancel(b.ctx, other.ID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	n, err = b.store.RecordDocuments(b.ctx, "w4", b.group(other.ID, 1, 3, "w4"))
	wantLeaseLost(t, "RecordDocuments after Cancel", err)
	if n != 0 {
		t.Errorf("RecordDocuments after Cancel recorded %d", n)
	}
	if got := b.get(other.ID); got.Collected != 0 {
		t.Errorf("the cancelled job has Collected %d, want 0", got.Collected)
	}
}

// testRecordDocumentsLeaseLostMidway cancels the job while a large group
// is being recorded. Whether the cancel lands before, inside or after the
// group, what RecordDocuments reports is what the job holds: the first n
// documents, Collected n and the checkpoint after document n; a store
// with transactions records all or none.
func testRecordDocumentsLeaseLostMidway(t *testing.T, h Harness) {
	const size = 50
	b := setup(t, h)
	j := b.create(1)[0]
	b.plan(j, "w1", size)
	recs := b.group(j.ID, 1, size, "w1")
	cancelled := make(chan error, 1)
	go func() {
		time.Sleep(time.Millisecond) // usually lands while the group is recorded
		// A store without transactions (MongoDB) may answer "the job kept
		// changing; try again" (EUNAVAILABLE) while the group advances the
		// job under it: a caller tries again, as this one does.
		var err error
		for range 100 {
			if _, err = b.store.Cancel(b.ctx, j.ID); intake.ErrorCode(err) != intake.EUNAVAILABLE {
				break
			}
		}
		cancelled <- err
	}()
	n, err := b.store.RecordDocuments(b.ctx, "w1", recs)
	if cerr := <-cancelled; cerr != nil {
		t.Fatalf("Cancel: %v", cerr)
	}
	switch {
	case err == nil && n != size:
		t.Fatalf("RecordDocuments = %d, nil; want all %d without an error", n, size)
	case err != nil && !errors.Is(err, intake.ErrLeaseLost):
		t.Fatalf("RecordDocuments = %d, %v; want ErrLeaseLost or nil", n, err)
	case n < 0 || n > size:
		t.Fatalf("RecordDocuments recorded %d of %d", n, size)
	}
	t.Logf("recorded %d of %d before the cancel", n, size)
	b.wantRecorded(t, "after the cancel", j.ID, n)
	for i, rec := range recs {
		if got := rec.Document.ID != ""; got != (i < n) {
			t.Errorf("document %d has ID %q after %d were recorded", i+1, rec.Document.ID, n)
		}
	}
	if got := b.get(j.ID); got.Status != intake.StatusCancelled {
		t.Errorf("job %s, want cancelled", got.Status)
	}
}
