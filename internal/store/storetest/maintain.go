package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

func testMaintainExpired(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	c := b.claim("w1")
	b.clock.Advance(lease - time.Millisecond)
	if r := b.maintain(5); len(r.Expired)+len(r.ExpiredFailed)+len(r.Promoted) != 0 {
		t.Errorf("Maintain before the lease expired: %+v", r)
	}
	b.clock.Advance(time.Millisecond) // exactly at LeaseExpiresAt
	r := b.maintain(5)
	if !slices.Equal(r.Expired, []string{j.ID}) || len(r.ExpiredFailed)+len(r.Promoted) != 0 {
		t.Fatalf("Maintain = %+v, want Expired [%s]", r, j.ID)
	}
	got := b.get(j.ID)
	if got.Status != intake.StatusPending || got.Attempts != 1 || got.LeaseOwner != "" ||
		!got.LeaseExpiresAt.IsZero() || got.LastError == "" {
		t.Errorf("after expiry: %+v; want pending, Attempts 1, no lease, a LastError", got)
	}
	wantTime(t, "AvailableAt", got.AvailableAt, c.LeaseExpiresAt)
	wantLeaseLost(t, "Heartbeat after expiry", b.store.Heartbeat(b.ctx, j.ID, "w1", lease))
	if c2 := b.claim("w2"); c2.ID != j.ID || c2.Runs != 2 {
		t.Errorf("claim after expiry: job %s Runs %d, want %s and 2", c2.ID, c2.Runs, j.ID)
	}
	wantLeaseLost(t, "RecordDocument by the expired run", b.store.RecordDocument(b.ctx, "w1", b.doc(j.ID, 1, "w1"), nil))
}

func testMaintainMaxAttempts(t *testing.T, h Harness) {
	const maxAttempts = 2
	b := setup(t, h)
	j := b.create(1)[0]
	// The first attempt fails through Reschedule, the second by lease expiry.
	b.claim("w1")
	if err := b.store.Reschedule(b.ctx, j.ID, "w1", b.clock.Now(), "transient", true); err != nil {
		t.Fatalf("Reschedule: %v", err)
	}
	if r := b.maintain(maxAttempts); !slices.Equal(r.Promoted, []string{j.ID}) {
		t.Fatalf("Maintain promoted %v, want [%s]", r.Promoted, j.ID)
	}
	b.claim("w2")
	b.clock.Advance(lease)
	r := b.maintain(maxAttempts)
	if !slices.Equal(r.ExpiredFailed, []string{j.ID}) || len(r.Expired)+len(r.Promoted) != 0 {
		t.Fatalf("Maintain = %+v, want ExpiredFailed [%s]", r, j.ID)
	}
	got := b.get(j.ID)
	if got.Status != intake.StatusFailed || got.Attempts != maxAttempts || got.LeaseOwner != "" || got.LastError == "" {
		t.Errorf("after the last attempt expired: %+v; want failed, Attempts %d, no lease, a LastError", got, maxAttempts)
	}
	wantTime(t, "CompletedAt", got.CompletedAt, b.now())
	_, err := b.store.Claim(b.ctx, intake.ClaimParams{Owner: "w3", LeaseTTL: lease})
	wantNoJob(t, "Claim of a failed job", err)
	_, err = b.store.Maintain(b.ctx, 0)
	wantCode(t, "Maintain(0)", err, intake.EINVALID)
}

func testMaintainIdempotent(t *testing.T, h Harness) {
	b := setup(t, h)
	if r := b.maintain(5); len(r.Promoted)+len(r.Expired)+len(r.ExpiredFailed) != 0 {
		t.Errorf("Maintain on an empty store: %+v", r)
	}
	jobs := b.create(2)
	b.claimID(jobs[0].ID, "w1")
	if err := b.store.Reschedule(b.ctx, jobs[0].ID, "w1", b.clock.Now().Add(time.Second), "x", true); err != nil {
		t.Fatalf("Reschedule: %v", err)
	}
	b.claimID(jobs[1].ID, "w2")
	b.clock.Advance(lease)
	r := b.maintain(5)
	if !slices.Equal(r.Promoted, []string{jobs[0].ID}) || !slices.Equal(r.Expired, []string{jobs[1].ID}) {
		t.Fatalf("Maintain = %+v, want Promoted [%s] Expired [%s]", r, jobs[0].ID, jobs[1].ID)
	}
	before := []*intake.Job{b.get(jobs[0].ID), b.get(jobs[1].ID)}
	if r := b.maintain(5); len(r.Promoted)+len(r.Expired)+len(r.ExpiredFailed) != 0 {
		t.Errorf("second Maintain changed jobs again: %+v", r)
	}
	for i, j := range jobs {
		wantSameJob(t, "job after a second Maintain", b.get(j.ID), before[i])
	}
}

func testMaintainConcurrent(t *testing.T, h Harness) {
	const each, replicas = 20, 4
	b := setup(t, h)
	jobs := b.create(2 * each)
	for i, j := range jobs {
		b.claimID(j.ID, fmt.Sprintf("w%d", i))
		if i < each {
			if err := b.store.Reschedule(b.ctx, j.ID, fmt.Sprintf("w%d", i), b.clock.Now().Add(time.Second), "x", true); err != nil {
				t.Fatalf("Reschedule: %v", err)
			}
		}
	}
	b.clock.Advance(lease)

	var (
		mu       sync.Mutex
		promoted = map[string]int{}
		expired  = map[string]int{}
		wg       sync.WaitGroup
	)
	for range replicas {
		wg.Go(func() {
			r, err := b.store.Maintain(b.ctx, 5)
			if err != nil {
				t.Errorf("Maintain: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range r.Promoted {
				promoted[id]++
			}
			for _, id := range r.Expired {
				expired[id]++
			}
		})
	}
	wg.Wait()
	for i, j := range jobs {
		got, want := promoted, "promoted"
		if i >= each {
			got, want = expired, "expired"
		}
		if got[j.ID] != 1 {
			t.Errorf("job %s was %s %d times by %d concurrent Maintain calls, want once", j.ID, want, got[j.ID], replicas)
		}
		if s := b.get(j.ID).Status; s != intake.StatusPending {
			t.Errorf("job %s status %s, want pending", j.ID, s)
		}
	}
	if len(promoted)+len(expired) != len(jobs) {
		t.Errorf("Maintain reported %d promoted and %d expired jobs, want %d and %d", len(promoted), len(expired), each, each)
	}
}

func testStats(t *testing.T, h Harness) {
	b := setup(t, h)
	want := func(what string, counts map[intake.Status]int64, oldest time.Time, docs, bytes int64) {
		t.Helper()
		s, err := b.store.Stats(b.ctx)
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		if len(s.Jobs) != len(intake.Statuses) {
			t.Errorf("%s: Stats.Jobs has %d statuses, want every one of %d", what, len(s.Jobs), len(intake.Statuses))
		}
		for _, st := range intake.Statuses {
			if n, ok := s.Jobs[st]; !ok || n != counts[st] {
				t.Errorf("%s: Stats.Jobs[%s] = %d (present %v), want %d", what, st, n, ok, counts[st])
			}
		}
		if oldest.IsZero() != s.OldestPending.IsZero() {
			t.Errorf("%s: OldestPending = %v, want %v", what, s.OldestPending, oldest)
		} else {
			wantTime(t, what+": OldestPending", s.OldestPending, oldest)
		}
		if s.Documents != docs || s.Bytes != bytes {
			t.Errorf("%s: Documents %d Bytes %d, want %d and %d", what, s.Documents, s.Bytes, docs, bytes)
		}
	}
	want("empty store", nil, time.Time{}, 0, 0)

	jobs := b.create(5)
	b.clock.Advance(10 * time.Second)
	oldest := b.now()
	b.create(1)
	b.clock.Advance(10 * time.Second)
	b.create(1)

	b.claimID(jobs[0].ID, "w0") // processing, with two documents
	b.record(jobs[0].ID, 1, "w0")
	b.record(jobs[0].ID, 2, "w0")
	b.claimID(jobs[1].ID, "w1") // scheduled
	if err := b.store.Reschedule(b.ctx, jobs[1].ID, "w1", b.clock.Now().Add(time.Hour), "x", true); err != nil {
		t.Fatalf("Reschedule: %v", err)
	}
	b.claimID(jobs[2].ID, "w2") // completed, with one document
	b.record(jobs[2].ID, 1, "w2")
	if err := b.store.FinishRun(b.ctx, jobs[2].ID, "w2", true); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	b.claimID(jobs[3].ID, "w3") // failed
	if err := b.store.Fail(b.ctx, jobs[3].ID, "w3", "x"); err != nil {
		t.Fatalf("Fail: %v", err)
	}
	if _, err := b.store.Cancel(b.ctx, jobs[4].ID); err != nil { // cancelled
		t.Fatalf("Cancel: %v", err)
	}
	want("one job in every status", map[intake.Status]int64{
		intake.StatusPending:    2,
		intake.StatusScheduled:  1,
		intake.StatusProcessing: 1,
		intake.StatusCompleted:  1,
		intake.StatusFailed:     1,
		intake.StatusCancelled:  1,
	}, oldest, 3, 100+200+100)
}

func testDocuments(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.create(2)
	b.claimID(jobs[0].ID, "w1")
	var docs []*intake.Document
	for seq := 1; seq <= 5; seq++ {
		docs = append(docs, b.record(jobs[0].ID, seq, "w1"))
		b.clock.Advance(time.Second)
	}
	b.claimID(jobs[1].ID, "w2")
	b.record(jobs[1].ID, 1, "w2")

	got, err := b.store.GetDocument(b.ctx, jobs[0].ID, 3)
	if err != nil {
		t.Fatalf("GetDocument: %v", err)
	}
	wantSameDoc(t, "GetDocument(3)", got, docs[2])
	for _, k := range []struct {
		job string
		seq int
	}{{jobs[0].ID, 6}, {jobs[0].ID, 0}, {intake.NewID(), 1}} {
		_, err := b.store.GetDocument(b.ctx, k.job, k.seq)
		wantCode(t, fmt.Sprintf("GetDocument(%s, %d)", k.job, k.seq), err, intake.ENOTFOUND)
	}

	tests := []struct {
		job          string
		after, limit int
		want         []int
	}{
		{jobs[0].ID, 0, 2, []int{1, 2}},
		{jobs[0].ID, 2, 2, []int{3, 4}},
		{jobs[0].ID, 4, 2, []int{5}},
		{jobs[0].ID, 5, 2, []int{}},
		{jobs[0].ID, 0, 0, []int{1, 2, 3, 4, 5}},
		{jobs[0].ID, 1, intake.MaxPageSize + 1, []int{2, 3, 4, 5}},
		{jobs[1].ID, 0, 10, []int{1}},
		{intake.NewID(), 0, 10, []int{}},
	}
	for _, tt := range tests {
		page, err := b.store.ListDocuments(b.ctx, tt.job, tt.after, tt.limit)
		if err != nil {
			t.Errorf("ListDocuments(%s, %d, %d): %v", tt.job, tt.after, tt.limit, err)
			continue
		}
		seqs := []int{}
		for _, d := range page {
			seqs = append(seqs, d.Seq)
			if d.JobID != tt.job {
				t.Errorf("ListDocuments(%s) returned a document of job %s", tt.job, d.JobID)
			}
			if tt.job == jobs[0].ID {
				wantSameDoc(t, "listed document", d, docs[d.Seq-1])
			}
		}
		if !slices.Equal(seqs, tt.want) {
			t.Errorf("ListDocuments(%s, after %d, limit %d) seqs %v, want %v", tt.job, tt.after, tt.limit, seqs, tt.want)
		}
	}
}

func testReferencedBlobKeys(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	b.claim("w1")
	k1 := b.record(j.ID, 1, "w1").BlobKey
	k2 := b.record(j.ID, 2, "w1").BlobKey

	// More keys than one statement may bind (SQLite allows 32766
	// parameters), as an orphan sweep over a large bucket may pass.
	keys := []string{k1, intake.DocumentBlobKey(j.ID, 1, "zombie"), k2, k1}
	for i := range 33_000 {
		keys = append(keys, intake.DocumentBlobKey(j.ID, i, "orphan"))
	}
	got, err := b.store.ReferencedBlobKeys(b.ctx, keys)
	if err != nil {
		t.Fatalf("ReferencedBlobKeys: %v", err)
	}
	if len(got) != 2 || !got[k1] || !got[k2] {
		t.Errorf("ReferencedBlobKeys = %v, want exactly %s and %s", got, k1, k2)
	}
	got, err = b.store.ReferencedBlobKeys(b.ctx, nil)
	if err != nil || len(got) != 0 {
		t.Errorf("ReferencedBlobKeys(nil) = %v, %v; want none", got, err)
	}
}

func testPingClose(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	if err := b.store.Ping(b.ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := b.store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	err := b.store.Ping(b.ctx)
	wantCode(t, "Ping after Close", err, intake.EUNAVAILABLE)
	wantRetryAfter(t, "Ping after Close", err)
	_, err = b.store.GetJob(b.ctx, j.ID)
	wantCode(t, "GetJob after Close", err, intake.EUNAVAILABLE)
	wantRetryAfter(t, "GetJob after Close", err)
	_, err = b.store.Claim(b.ctx, intake.ClaimParams{Owner: "w1", LeaseTTL: lease})
	wantCode(t, "Claim after Close", err, intake.EUNAVAILABLE)
	wantRetryAfter(t, "Claim after Close", err)
	if err := b.store.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
