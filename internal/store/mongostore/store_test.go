package mongostore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/store/mongostore"
	"github.com/intake-dev/intake/internal/store/storetest"
	"github.com/intake-dev/intake/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-pw"
	tests := []struct {
		name string
		cfg  mongostore.Config
		code string
	}{
		{"empty URI", mongostore.Config{}, intake.EINVALID},
		{"other scheme", mongostore.Config{URI: "postgres://u:" + secret + "@127.0.0.1/x"}, intake.EINVALID},
		{"malformed password escape", mongostore.Config{URI: "mongodb://u:" + secret + "%zz@127.0.0.1/x"}, intake.EINVALID},
		{"unescaped slash in password", mongostore.Config{URI: "mongodb://u:" + secret + "/x@127.0.0.1/x"}, intake.EINVALID},
		{"bad option", mongostore.Config{URI: "mongodb://u:" + secret + "@127.0.0.1/x?connectTimeoutMS=soon"}, intake.EINVALID},
		{"bad database in URI", mongostore.Config{URI: "mongodb://127.0.0.1/a.b"}, intake.EINVALID},
		{"bad database in config", mongostore.Config{URI: "mongodb://127.0.0.1/", Database: "has space"}, intake.EINVALID},
		// Nothing listens on port 1 of the loopback interface.
		{"unreachable", mongostore.Config{URI: "mongodb://u:" + secret + "@127.0.0.1:1/x?serverSelectionTimeoutMS=300"}, intake.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := mongostore.Open(t.Context(), tt.cfg)
			if err == nil {
				_ = s.Close()
			}
			if got := intake.ErrorCode(err); got != tt.code {
				t.Errorf("Open error %v (code %q), want code %q", err, got, tt.code)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("Open error %q leaks the password", err)
			}
		})
	}
}

func TestPendingFilterJSON(t *testing.T) {
	t.Parallel()
	// KEDA's MongoDB scaler takes the filter as a JSON query string.
	got, err := bson.MarshalExtJSON(mongostore.PendingFilter(), false, false)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"status":"pending"}` {
		t.Errorf("PendingFilter() = %s, want {\"status\":\"pending\"}", got)
	}
}

// TestPendingFilterCountsClaimable checks that the autoscaler's count is
// exactly the number of jobs a worker can claim, whatever the other jobs'
// states, uncommitted batches included.
func TestPendingFilterCountsClaimable(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(storetest.Epoch)
	s, db := open(t, clock.Now)
	ctx := t.Context()
	storetest.PendingCount(t, s, clock, func() int64 {
		t.Helper()
		n, err := db.raw.Collection("jobs").CountDocuments(ctx, mongostore.PendingFilter())
		if err != nil {
			t.Fatalf("count pending: %v", err)
		}
		return n
	}, func() {
		// An uncommitted batch, as a creator that crashed leaves it.
		jobs, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings"}, {SourceType: "filings"}, {SourceType: "filings"}})
		must(t, err)
		stage(t, db, jobs, false)
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// claimJob claims the job id (the next one when id is empty) under owner.
func claimJob(t *testing.T, s *store.Store, owner, id string) {
	t.Helper()
	if _, err := s.Claim(t.Context(), intake.ClaimParams{Owner: owner, LeaseTTL: time.Hour, JobID: id}); err != nil {
		t.Fatalf("Claim(%s, %s): %v", owner, id, err)
	}
}

// stage turns jobs back into a staged batch led by the first, as if its
// creator crashed after inserting it; with committed, the leader has
// committed and only the others are still staged.
func stage(t *testing.T, db *testDB, jobs []*intake.Job, committed bool) {
	t.Helper()
	for i, j := range jobs {
		if committed && i == 0 {
			continue
		}
		_, err := db.raw.Collection("jobs").UpdateOne(t.Context(), bson.D{{Key: "_id", Value: j.ID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "staged"}, {Key: "batch", Value: jobs[0].ID}}}})
		if err != nil {
			t.Fatalf("stage job: %v", err)
		}
	}
}

func TestStagedBatches(t *testing.T) {
	t.Parallel()
	t.Run("uncommitted batch is invisible, then deleted", func(t *testing.T) {
		t.Parallel()
		clock := testenv.NewClock(storetest.Epoch)
		s, db := open(t, clock.Now)
		ctx := t.Context()
		jobs, err := s.CreateJobs(ctx, []*intake.Job{
			{SourceType: "filings", IdempotencyKey: "k1"}, {SourceType: "filings"}, {SourceType: "filings"},
		})
		must(t, err)
		stage(t, db, jobs, false)

		for _, j := range jobs {
			_, err := s.GetJob(ctx, j.ID)
			if intake.ErrorCode(err) != intake.ENOTFOUND {
				t.Errorf("GetJob of an uncommitted job: %v, want ENOTFOUND", err)
			}
		}
		if p, err := s.ListJobs(ctx, intake.JobFilter{}); err != nil || len(p.Jobs) != 0 {
			t.Errorf("ListJobs = %d jobs, %v; want none", len(p.Jobs), err)
		}
		st, err := s.Stats(ctx)
		must(t, err)
		for status, n := range st.Jobs {
			if n != 0 {
				t.Errorf("Stats counts %d %s jobs, want 0", n, status)
			}
		}
		if _, err := s.Claim(ctx, intake.ClaimParams{Owner: "w", LeaseTTL: time.Minute}); !errors.Is(err, intake.ErrNoJob) {
			t.Errorf("Claim = %v, want ErrNoJob", err)
		}
		// A creator may still commit it: young batches stay.
		clock.Advance(mongostore.StagedTimeout - time.Millisecond)
		if r, err := s.Maintain(ctx, 5); err != nil || len(r.Promoted) != 0 {
			t.Errorf("Maintain = %+v, %v; want nothing promoted", r, err)
		}
		if n := countJobs(t, db); n != 3 {
			t.Errorf("Maintain deleted a young staged batch: %d jobs left, want 3", n)
		}
		clock.Advance(time.Millisecond)
		if r, err := s.Maintain(ctx, 5); err != nil || len(r.Promoted) != 0 {
			t.Errorf("Maintain = %+v, %v; want nothing promoted", r, err)
		}
		if n := countJobs(t, db); n != 0 {
			t.Errorf("after StagedTimeout, %d staged jobs are left, want 0", n)
		}
		// The deleted batch's idempotency key is free again.
		again, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings", IdempotencyKey: "k1"}})
		must(t, err)
		if again[0].ID == jobs[0].ID {
			t.Errorf("CreateJobs returned the deleted job %s", jobs[0].ID)
		}
	})
	for _, by := range []string{"Maintain", "GetJob"} {
		t.Run("committed batch is rolled forward by "+by, func(t *testing.T) {
			t.Parallel()
			s, db := open(t, testenv.NewClock(storetest.Epoch).Now)
			ctx := t.Context()
			jobs, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings"}, {SourceType: "filings"}, {SourceType: "filings"}})
			must(t, err)
			stage(t, db, jobs, true) // the leader committed; publishing the others failed
			if by == "GetJob" {
				got, err := s.GetJob(ctx, jobs[2].ID)
				if err != nil || got.Status != intake.StatusPending {
					t.Fatalf("GetJob of a committed batch's job = %+v, %v; want it pending", got, err)
				}
			}
			r, err := s.Maintain(ctx, 5)
			must(t, err)
			want := []string{jobs[1].ID, jobs[2].ID}
			if by == "GetJob" {
				want = nil // GetJob rolled the whole batch forward
			}
			if !slices.Equal(r.Promoted, want) {
				t.Errorf("Maintain promoted %v, want %v", r.Promoted, want)
			}
			p, err := s.ListJobs(ctx, intake.JobFilter{Status: intake.StatusPending})
			must(t, err)
			if len(p.Jobs) != 3 {
				t.Errorf("%d pending jobs, want 3", len(p.Jobs))
			}
		})
	}
	t.Run("key held by an in-flight batch", func(t *testing.T) {
		t.Parallel()
		s, db := open(t, testenv.NewClock(storetest.Epoch).Now)
		ctx := t.Context()
		jobs, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings", IdempotencyKey: "a"}, {SourceType: "filings", IdempotencyKey: "b"}})
		must(t, err)
		stage(t, db, jobs, false)
		// Nobody commits the batch holding key a: the request gives up.
		start := time.Now()
		_, err = s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings", IdempotencyKey: "a"}})
		if intake.ErrorCode(err) != intake.ECONFLICT || time.Since(start) < 4*time.Second {
			t.Errorf("CreateJobs with a key held by an uncommitted batch = %v after %s; want ECONFLICT after waiting",
				err, time.Since(start).Round(time.Millisecond))
		}
		// Its creator commits while a request for key b waits.
		go func() {
			time.Sleep(300 * time.Millisecond)
			_, err := db.raw.Collection("jobs").UpdateOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: jobs[0].ID}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "pending"}}}})
			if err != nil {
				t.Errorf("commit: %v", err)
			}
		}()
		got, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings", IdempotencyKey: "b"}})
		if err != nil || got[0].ID != jobs[1].ID || got[0].Status != intake.StatusPending {
			t.Errorf("CreateJobs with key b = %+v, %v; want the committed job %s", got, err, jobs[1].ID)
		}
	})
	t.Run("key held by a stale batch", func(t *testing.T) {
		t.Parallel()
		clock := testenv.NewClock(storetest.Epoch)
		s, db := open(t, clock.Now)
		ctx := t.Context()
		jobs, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings"}, {SourceType: "filings", IdempotencyKey: "k"}})
		must(t, err)
		stage(t, db, jobs, false)
		clock.Advance(mongostore.StagedTimeout)
		got, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings", IdempotencyKey: "k"}})
		must(t, err)
		if got[0].ID == jobs[1].ID {
			t.Errorf("CreateJobs returned the stale batch's job, want a new one")
		}
		if n := countJobs(t, db); n != 1 {
			t.Errorf("%d jobs stored, want only the new one", n)
		}
	})
}

func countJobs(t *testing.T, db *testDB) int64 {
	t.Helper()
	n, err := db.raw.Collection("jobs").CountDocuments(t.Context(), bson.D{})
	if err != nil {
		t.Fatalf("count jobs: %v", err)
	}
	return n
}

// TestIdempotencyConcurrent creates jobs with the same idempotency keys
// from concurrent requests: every request gets the one job of each key.
func TestIdempotencyConcurrent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		batch func(req int) []string // the keys request req sends
		keys  int
	}{
		{"single jobs, one key", func(int) []string { return []string{"k"} }, 1},
		{"overlapping batches", func(req int) []string {
			return []string{"shared", fmt.Sprintf("own-%d", req), fmt.Sprintf("pair-%d", req/2)}
		}, 1 + 8 + 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, db := open(t, time.Now)
			var (
				mu  sync.Mutex
				ids = map[string]map[string]bool{} // key → job IDs returned
				wg  sync.WaitGroup
			)
			for req := range 8 {
				wg.Go(func() {
					keys := tt.batch(req)
					in := make([]*intake.Job, len(keys))
					for i, k := range keys {
						in[i] = &intake.Job{SourceType: "filings", IdempotencyKey: k}
					}
					out, err := s.CreateJobs(t.Context(), in)
					if err != nil {
						t.Errorf("request %d: CreateJobs: %v", req, err)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					for i, j := range out {
						if ids[keys[i]] == nil {
							ids[keys[i]] = map[string]bool{}
						}
						ids[keys[i]][j.ID] = true
					}
				})
			}
			wg.Wait()
			for k, got := range ids {
				if len(got) != 1 {
					t.Errorf("key %s: requests got %d different jobs, want one", k, len(got))
				}
			}
			if n := countJobs(t, db); n != int64(tt.keys) {
				t.Errorf("%d jobs stored, want %d (one per key)", n, tt.keys)
			}
		})
	}
}

// TestRecordDocumentRollForward simulates a crash between RecordDocument's
// commit (the job's last_doc) and its copy into documents, by deleting
// that copy: the document stays recorded for every reader.
func TestRecordDocumentRollForward(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// check runs after document 3 of the job lost its copy.
		check func(t *testing.T, s *store.Store, job string, docs []*intake.Document)
	}{
		{"ReferencedBlobKeys", func(t *testing.T, s *store.Store, _ string, docs []*intake.Document) {
			keys := []string{docs[0].BlobKey, docs[2].BlobKey, "jobs/x/000003-zombie"}
			got, err := s.ReferencedBlobKeys(t.Context(), keys)
			must(t, err)
			if !got[docs[0].BlobKey] || !got[docs[2].BlobKey] || len(got) != 2 {
				t.Errorf("ReferencedBlobKeys = %v, want the keys of documents 1 and 3", got)
			}
		}},
		{"GetDocument", func(t *testing.T, s *store.Store, job string, docs []*intake.Document) {
			got, err := s.GetDocument(t.Context(), job, 3)
			if err != nil || got.ID != docs[2].ID || got.BlobKey != docs[2].BlobKey {
				t.Errorf("GetDocument(3) = %+v, %v; want %+v", got, err, docs[2])
			}
		}},
		{"ListDocuments", func(t *testing.T, s *store.Store, job string, _ []*intake.Document) {
			for _, tc := range []struct{ after, limit, want int }{{0, 10, 3}, {2, 10, 1}, {0, 2, 2}, {3, 10, 0}} {
				got, err := s.ListDocuments(t.Context(), job, tc.after, tc.limit)
				must(t, err)
				if len(got) != tc.want || (len(got) > 0 && got[len(got)-1].Seq != tc.after+tc.want) {
					t.Errorf("ListDocuments(after %d, limit %d) = %d documents, want %d ending at %d",
						tc.after, tc.limit, len(got), tc.want, tc.after+tc.want)
				}
			}
		}},
		{"Claim before the next commit", func(t *testing.T, s *store.Store, job string, _ []*intake.Document) {
			must(t, s.FinishRun(t.Context(), job, "w1", false))
			claimJob(t, s, "w2", job)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, db := open(t, time.Now)
			ctx := t.Context()
			jobs, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings"}})
			must(t, err)
			job := jobs[0].ID
			claimJob(t, s, "w1", "")
			var docs []*intake.Document
			for seq := 1; seq <= 3; seq++ {
				d := &intake.Document{JobID: job, Seq: seq, Name: "d.txt", DocumentType: "MGT-7", ContentType: "text/plain",
					SizeBytes: 10, SHA256: strings.Repeat("a", 64), BlobKey: intake.DocumentBlobKey(job, seq, "w1")}
				must(t, s.RecordDocument(ctx, "w1", d, nil))
				docs = append(docs, d)
			}
			documents := db.raw.Collection("documents")
			if _, err := documents.DeleteOne(ctx, bson.D{{Key: "job_id", Value: job}, {Key: "seq", Value: 3}}); err != nil {
				t.Fatal(err)
			}
			tt.check(t, s, job, docs)
			n, err := documents.CountDocuments(ctx, bson.D{{Key: "job_id", Value: job}})
			must(t, err)
			if wantCopy := tt.name != "ReferencedBlobKeys"; (n == 3) != wantCopy {
				t.Errorf("documents holds %d of the job's documents after %s; want 3: %v", n, tt.name, wantCopy)
			}
		})
	}
}

// TestRecordDocumentSettlesFirst checks that a commit never overwrites a
// last_doc that is not in documents when this store failed to copy it:
// the next RecordDocument copies it first, or refuses to commit.
func TestRecordDocumentSettlesFirst(t *testing.T) {
	t.Parallel()
	s, db := open(t, time.Now)
	ctx := t.Context()
	jobs, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings"}})
	must(t, err)
	job := jobs[0].ID
	claimJob(t, s, "w1", "")
	doc := func(seq int) *intake.Document {
		return &intake.Document{JobID: job, Seq: seq, Name: "d", ContentType: "text/plain", SizeBytes: 1,
			SHA256: strings.Repeat("b", 64), BlobKey: intake.DocumentBlobKey(job, seq, "w1")}
	}
	must(t, s.RecordDocument(ctx, "w1", doc(1), nil))
	// Copying document 2 fails: a conflicting document already sits at
	// its _id in documents.
	d2 := doc(2)
	d2.ID = intake.NewID()
	documents := db.raw.Collection("documents")
	if _, err := documents.InsertOne(ctx, bson.D{{Key: "_id", Value: d2.ID}, {Key: "job_id", Value: "other"}, {Key: "seq", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	must(t, s.RecordDocument(ctx, "w1", d2, nil)) // committed; the copy failed
	err = s.RecordDocument(ctx, "w1", doc(3), nil)
	if err == nil {
		t.Fatal("RecordDocument(3) committed while document 2 is not in documents")
	}
	if got, _ := s.GetJob(ctx, job); got.Collected != 2 {
		t.Errorf("Collected = %d after a refused commit, want 2", got.Collected)
	}
	// Once the obstacle is gone, the next call copies document 2 first.
	if _, err := documents.DeleteOne(ctx, bson.D{{Key: "_id", Value: d2.ID}}); err != nil {
		t.Fatal(err)
	}
	must(t, s.RecordDocument(ctx, "w1", doc(3), nil))
	n, err := documents.CountDocuments(ctx, bson.D{{Key: "job_id", Value: job}})
	must(t, err)
	if n != 3 {
		t.Errorf("documents holds %d of the job's documents, want 3", n)
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	s := db.open(t, time.Now)
	ctx := t.Context()
	current, want, err := s.SchemaStatus(ctx)
	if err != nil || current != 0 || want < 1 {
		t.Fatalf("SchemaStatus before Migrate = %d, %d, %v; want 0, >= 1", current, want, err)
	}
	// Replicas migrate concurrently.
	var wg sync.WaitGroup
	for range 4 {
		other := db.open(t, time.Now)
		wg.Go(func() {
			if err := other.Migrate(ctx); err != nil {
				t.Errorf("Migrate: %v", err)
			}
		})
	}
	wg.Wait()
	current, want2, err := s.SchemaStatus(ctx)
	if err != nil || current != want || want2 != want {
		t.Errorf("SchemaStatus after Migrate = %d, %d, %v; want %d, %d", current, want2, err, want, want)
	}
	must(t, s.Migrate(ctx))
	for coll, names := range map[string][]string{
		"jobs": {"jobs_claim", "jobs_status_id", "jobs_lease_expiry", "jobs_idempotency", "jobs_last_doc_blob_key", "jobs_batch",
			"jobs_schedule", "jobs_notify_due"},
		"documents":  {"documents_job_seq", "documents_blob_key", "documents_job_identity"},
		"schedules":  {"schedules_due"},
		"deliveries": {"deliveries_job"},
	} {
		specs, err := db.raw.Collection(coll).Indexes().ListSpecifications(ctx)
		must(t, err)
		var got []string
		for _, sp := range specs {
			got = append(got, sp.Name)
		}
		for _, n := range names {
			if !slices.Contains(got, n) {
				t.Errorf("collection %s has indexes %v, want %s", coll, got, n)
			}
		}
	}
	if n, err := db.raw.Collection("intake_schema").CountDocuments(ctx, bson.D{{Key: "_id", Value: "migrate_lock"}}); err != nil || n != 0 {
		t.Errorf("migration lock left behind: %d, %v", n, err)
	}
}

// TestUniqueIndexes checks the unique constraints the store relies on, by
// writing around it.
func TestUniqueIndexes(t *testing.T) {
	t.Parallel()
	s, db := open(t, time.Now)
	ctx := t.Context()
	jobs, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings", Tenant: "t", IdempotencyKey: "k"}})
	must(t, err)
	tests := []struct {
		coll string
		doc  bson.D
	}{
		{"jobs", bson.D{{Key: "_id", Value: intake.NewID()}, {Key: "idem", Value: "1:t:k"}}},
		{"documents", bson.D{{Key: "_id", Value: "a"}, {Key: "job_id", Value: jobs[0].ID}, {Key: "seq", Value: 1}}},
	}
	if _, err := db.raw.Collection("documents").InsertOne(ctx, tests[1].doc); err != nil {
		t.Fatal(err)
	}
	tests[1].doc[0].Value = "b"
	for _, tt := range tests {
		_, err := db.raw.Collection(tt.coll).InsertOne(ctx, tt.doc)
		if !mongo.IsDuplicateKeyError(err) {
			t.Errorf("insert %v into %s: %v, want a duplicate key error", tt.doc, tt.coll, err)
		}
	}
}

// TestCloseDuringUse checks that operations racing Close fail as
// unavailable rather than panic.
func TestCloseDuringUse(t *testing.T) {
	t.Parallel()
	s, _ := open(t, time.Now)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				_, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings"}})
				if err != nil {
					if code := intake.ErrorCode(err); code != intake.EUNAVAILABLE {
						t.Errorf("CreateJobs during Close: %v (code %q), want EUNAVAILABLE", err, code)
					}
					return
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	must(t, s.Close())
	wg.Wait()
}
