package storetest

import (
	"fmt"
	"testing"

	"github.com/intake-dev/intake"
)

// changeTests are the cases of change detection: documents keep their
// identity and change, and a job compares with its previous job.
var changeTests = []suiteCase{
	{"Changes/FindDocument", testFindDocument},
	{"Changes/Counts", testChangeCounts},
	{"Changes/ListRemovedPaging", testListRemovedPaging},
}

// recordAs records document seq of a job under owner with an identity,
// a change and the content hash sum.
func (b *bundle) recordAs(jobID string, seq int, owner, identity string, change intake.Change, sum string) *intake.Document {
	b.t.Helper()
	d := b.doc(jobID, seq, owner)
	d.Identity, d.Change = identity, change
	if sum != "" {
		d.SHA256 = sum
	}
	if err := b.store.RecordDocument(b.ctx, owner, d, nil); err != nil {
		b.t.Fatalf("RecordDocument(%s, %d): %v", jobID, seq, err)
	}
	return d
}

func testFindDocument(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	b.claimID(j.ID, "w1")
	d1 := b.recordAs(j.ID, 1, "w1", "MGT-7/2024", "", "")
	b.recordAs(j.ID, 2, "w1", "AOC-4/2024", intake.ChangeNew, "")
	d3 := b.recordAs(j.ID, 3, "w1", "MGT-7/2024", intake.ChangeChanged, "")
	b.recordAs(j.ID, 4, "w1", "", "", "")

	got, err := b.store.FindDocument(b.ctx, j.ID, "MGT-7/2024")
	if err != nil {
		t.Fatalf("FindDocument: %v", err)
	}
	wantSameDoc(t, "FindDocument of a duplicated identity (the highest Seq)", got, d3)
	gd, err := b.store.GetDocument(b.ctx, j.ID, 1)
	if err != nil {
		t.Fatalf("GetDocument: %v", err)
	}
	wantSameDoc(t, "GetDocument keeps Identity", gd, d1)
	docs, err := b.store.ListDocuments(b.ctx, j.ID, 2, 1)
	if err != nil || len(docs) != 1 {
		t.Fatalf("ListDocuments = %v, %v", docs, err)
	}
	wantSameDoc(t, "ListDocuments keeps Identity and Change", docs[0], d3)
	for _, tt := range []struct{ job, identity string }{
		{j.ID, "MGT-7/2023"}, {j.ID, ""}, {intake.NewID(), "MGT-7/2024"}, {"not-a-uuid", "MGT-7/2024"},
	} {
		_, err := b.store.FindDocument(b.ctx, tt.job, tt.identity)
		wantCode(t, fmt.Sprintf("FindDocument(%s, %q)", tt.job, tt.identity), err, intake.ENOTFOUND)
	}
	bad := b.doc(j.ID, 5, "w1")
	bad.Change = intake.ChangeRemoved
	wantCode(t, "RecordDocument with change removed", b.store.RecordDocument(b.ctx, "w1", bad, nil), intake.EINVALID)
}

// testChangeCounts collects a job, then a job that compares with it, the
// way the worker records them.
func testChangeCounts(t *testing.T, h Harness) {
	b := setup(t, h)
	prev := b.create(1)[0]
	b.claimID(prev.ID, "w1")
	for i, id := range []string{"a", "b", "c", "", "e"} {
		b.recordAs(prev.ID, i+1, "w1", id, "", fmt.Sprintf("%064d", i))
	}
	in := newJob(2)
	in.PreviousJobID = prev.ID
	out, err := b.store.CreateJobs(b.ctx, []*intake.Job{in})
	if err != nil {
		t.Fatalf("CreateJobs: %v", err)
	}
	next := out[0]
	b.claimID(next.ID, "w2")
	b.recordAs(next.ID, 1, "w2", "a", intake.ChangeUnchanged, fmt.Sprintf("%064d", 0))
	b.recordAs(next.ID, 2, "w2", "b", intake.ChangeChanged, "")
	b.recordAs(next.ID, 3, "w2", "d", intake.ChangeNew, "")
	b.recordAs(next.ID, 4, "w2", "f", intake.ChangeNew, "")
	b.recordAs(next.ID, 5, "w2", "", "", "") // no identity: not compared

	c, err := b.store.ChangeCounts(b.ctx, next.ID)
	if err != nil {
		t.Fatalf("ChangeCounts: %v", err)
	}
	if want := (intake.ChangeCounts{New: 2, Changed: 1, Unchanged: 1, Removed: 2}); *c != want || !c.Any() {
		t.Errorf("ChangeCounts = %+v, want %+v", *c, want)
	}
	removed, err := b.store.ListRemoved(b.ctx, next.ID, 0, 10)
	if err != nil {
		t.Fatalf("ListRemoved: %v", err)
	}
	if len(removed) != 2 || removed[0].Seq != 3 || removed[0].Identity != "c" || removed[1].Seq != 5 ||
		removed[1].JobID != prev.ID {
		t.Errorf("ListRemoved = %+v, want documents 3 (c) and 5 (e) of the previous job", removed)
	}
	// A job without a previous job counts its own documents only.
	c, err = b.store.ChangeCounts(b.ctx, prev.ID)
	if err != nil || *c != (intake.ChangeCounts{}) || c.Any() {
		t.Errorf("ChangeCounts of a first collection = %+v, %v; want nothing", c, err)
	}
	if docs, err := b.store.ListRemoved(b.ctx, prev.ID, 0, 10); err != nil || docs == nil || len(docs) != 0 {
		t.Errorf("ListRemoved of a first collection = %v, %v; want an empty list", docs, err)
	}
	_, err = b.store.ChangeCounts(b.ctx, intake.NewID())
	wantCode(t, "ChangeCounts of a missing job", err, intake.ENOTFOUND)
	_, err = b.store.ChangeCounts(b.ctx, "not-a-uuid")
	wantCode(t, "ChangeCounts(not-a-uuid)", err, intake.ENOTFOUND)
	for _, id := range []string{intake.NewID(), "not-a-uuid"} {
		if docs, err := b.store.ListRemoved(b.ctx, id, 0, 10); err != nil || docs == nil || len(docs) != 0 {
			t.Errorf("ListRemoved(%s) = %v, %v; want an empty list", id, docs, err)
		}
	}
}

func testListRemovedPaging(t *testing.T, h Harness) {
	b := setup(t, h)
	prev := b.create(1)[0]
	b.claimID(prev.ID, "w1")
	for i := range 5 {
		b.recordAs(prev.ID, i+1, "w1", fmt.Sprintf("id-%d", i+1), "", "")
	}
	in := newJob(2)
	in.PreviousJobID = prev.ID
	out, err := b.store.CreateJobs(b.ctx, []*intake.Job{in})
	if err != nil {
		t.Fatalf("CreateJobs: %v", err)
	}
	next := out[0]
	b.claimID(next.ID, "w2")
	b.recordAs(next.ID, 1, "w2", "id-2", intake.ChangeUnchanged, "")
	var seqs []int
	for after := 0; ; {
		page, err := b.store.ListRemoved(b.ctx, next.ID, after, 2)
		if err != nil {
			t.Fatalf("ListRemoved(after %d): %v", after, err)
		}
		if len(page) > 2 {
			t.Errorf("page of %d, want at most 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, d := range page {
			seqs = append(seqs, d.Seq)
		}
		after = page[len(page)-1].Seq
	}
	if fmt.Sprint(seqs) != "[1 3 4 5]" {
		t.Errorf("removed documents %v, want [1 3 4 5]", seqs)
	}
	if c, err := b.store.ChangeCounts(b.ctx, next.ID); err != nil || c.Removed != 4 || c.Unchanged != 1 {
		t.Errorf("ChangeCounts = %+v, %v; want 4 removed, 1 unchanged", c, err)
	}
	if page, err := b.store.ListRemoved(b.ctx, next.ID, intake.MaxSeq, 2); err != nil || len(page) != 0 {
		t.Errorf("ListRemoved(after MaxSeq) = %v, %v; want none", page, err)
	}
}
