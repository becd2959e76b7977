package mongostore_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/store/mongostore"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// collect creates a job (comparing with previous when set), claims it and
// records one document per identity, each with the given change and a
// hash of its identity; with done, the job completes.
func collect(t *testing.T, s *store.Store, previous string, identities []string, changes []intake.Change, done bool) string {
	t.Helper()
	ctx := t.Context()
	jobs, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings", PreviousJobID: previous}})
	must(t, err)
	job := jobs[0].ID
	owner := "w-" + job
	claimJob(t, s, owner, job)
	for i, id := range identities {
		d := &intake.Document{JobID: job, Seq: i + 1, Name: "d.txt", ContentType: "text/plain", SizeBytes: 1,
			SHA256: strings.Repeat(string(rune('a'+len(id)%6)), 64), BlobKey: intake.DocumentBlobKey(job, i+1, owner),
			Identity: id}
		if changes != nil {
			d.Change = changes[i]
		}
		must(t, s.RecordDocument(ctx, owner, d, nil))
	}
	if done {
		must(t, s.FinishRun(ctx, job, owner, true))
	}
	return job
}

// unmaterialise deletes a job's document seq from documents, as a crash
// between RecordDocument's commit and its copy leaves it: the document is
// then only its job's last_doc.
func unmaterialise(t *testing.T, db *testDB, job string, seq int) {
	t.Helper()
	res, err := db.raw.Collection("documents").DeleteOne(t.Context(), bson.D{{Key: "job_id", Value: job}, {Key: "seq", Value: seq}})
	if err != nil || res.DeletedCount != 1 {
		t.Fatalf("delete document %d of %s: %v, %v", seq, job, res, err)
	}
}

// TestChangesRollForward checks that change detection counts a committed
// document that is still only its job's last_doc, in the previous job and
// in the job itself.
func TestChangesRollForward(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		check func(t *testing.T, s *store.Store, prev, cur string)
	}{
		{"FindDocument in the previous job", func(t *testing.T, s *store.Store, prev, _ string) {
			got, err := s.FindDocument(t.Context(), prev, "C")
			if err != nil || got.Seq != 3 || got.Identity != "C" {
				t.Errorf("FindDocument(prev, C) = %+v, %v; want seq 3", got, err)
			}
		}},
		{"FindDocument in the job", func(t *testing.T, s *store.Store, _, cur string) {
			got, err := s.FindDocument(t.Context(), cur, "D")
			if err != nil || got.Seq != 2 || got.Change != intake.ChangeNew {
				t.Errorf("FindDocument(cur, D) = %+v, %v; want seq 2, new", got, err)
			}
		}},
		{"ChangeCounts", func(t *testing.T, s *store.Store, _, cur string) {
			got, err := s.ChangeCounts(t.Context(), cur)
			want := intake.ChangeCounts{New: 1, Unchanged: 1, Removed: 2}
			if err != nil || *got != want {
				t.Errorf("ChangeCounts = %+v, %v; want %+v", got, err, want)
			}
		}},
		{"ListRemoved", func(t *testing.T, s *store.Store, _, cur string) {
			got, err := s.ListRemoved(t.Context(), cur, 0, 10)
			must(t, err)
			if len(got) != 2 || got[0].Identity != "B" || got[1].Identity != "C" || got[1].Seq != 3 {
				t.Errorf("ListRemoved = %+v, want B and C (seq 3)", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, db := open(t, time.Now)
			prev := collect(t, s, "", []string{"A", "B", "C"}, nil, true)
			unmaterialise(t, db, prev, 3)
			cur := collect(t, s, prev, []string{"A", "D"}, []intake.Change{intake.ChangeUnchanged, intake.ChangeNew}, false)
			unmaterialise(t, db, cur, 2)
			tt.check(t, s, prev, cur)
		})
	}
}

// TestRemovedChunks checks the removed scan across the boundaries of the
// chunks it reads the previous job in: repeated identities, documents
// without one, and pages that end inside a chunk.
func TestRemovedChunks(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	drv := db.driver(t)
	mongostore.SetRemovedChunk(drv, 2)
	s := store.New(drv, store.Options{Clock: time.Now})
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	must(t, s.Migrate(ctx))

	// Seq:            1    2    3    4   5    6    7    8    9
	prev := collect(t, s, "", []string{"1", "2", "3", "", "3", "5", "6", "7", "8"}, nil, true)
	cur := collect(t, s, prev, []string{"2", "5", "6", "9"},
		[]intake.Change{intake.ChangeUnchanged, intake.ChangeChanged, intake.ChangeUnchanged, intake.ChangeNew}, true)

	counts, err := s.ChangeCounts(ctx, cur)
	must(t, err)
	if want := (intake.ChangeCounts{New: 1, Changed: 1, Unchanged: 2, Removed: 5}); *counts != want {
		t.Errorf("ChangeCounts = %+v, want %+v", *counts, want)
	}
	var pages [][]int
	for after := 0; ; {
		page, err := s.ListRemoved(ctx, cur, after, 2)
		must(t, err)
		if len(page) == 0 {
			break
		}
		var seqs []int
		for _, d := range page {
			seqs = append(seqs, d.Seq)
		}
		pages = append(pages, seqs)
		after = seqs[len(seqs)-1]
	}
	if want := [][]int{{1, 3}, {5, 8}, {9}}; !reflect.DeepEqual(pages, want) {
		t.Errorf("ListRemoved pages (seqs) = %v, want %v", pages, want)
	}
}
