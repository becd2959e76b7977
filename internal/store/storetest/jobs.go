package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

func testCreateSetsFields(t *testing.T, h Harness) {
	b := setup(t, h)
	in := []*intake.Job{
		{
			// Fields the store owns are ignored when a caller sets them.
			ID: "caller-chosen", Status: intake.StatusCompleted, Collected: 9, Runs: 3,
			SourceType: "filings", Config: json.RawMessage(`{"cin": "L12345MH2001PLC123456", "company_name": "Acme"}`),
			RequestHash: "hash-1",
		},
		{Tenant: "acme", SourceType: "api", Config: json.RawMessage(`{"url":"http://127.0.0.1/x"}`)},
	}
	got, err := b.store.CreateJobs(b.ctx, in)
	if err != nil {
		t.Fatalf("CreateJobs: %v", err)
	}
	if len(got) != len(in) {
		t.Fatalf("CreateJobs returned %d jobs, want %d", len(got), len(in))
	}
	now := b.now()
	for i, j := range got {
		if !intake.ValidID(j.ID) {
			t.Errorf("job %d: ID %q is not a UUID", i, j.ID)
		}
		if j.Status != intake.StatusPending || j.Total != intake.TotalUnknown || j.Planned ||
			j.Collected != 0 || j.Runs != 0 || j.Attempts != 0 || j.LeaseOwner != "" || j.LastError != "" {
			t.Errorf("job %d: %+v, want a fresh pending job", i, j)
		}
		wantTime(t, "AvailableAt", j.AvailableAt, now)
		wantTime(t, "CreatedAt", j.CreatedAt, now)
		wantTime(t, "UpdatedAt", j.UpdatedAt, now)
		if !j.StartedAt.IsZero() || !j.CompletedAt.IsZero() || !j.LeaseExpiresAt.IsZero() {
			t.Errorf("job %d: StartedAt %v, CompletedAt %v, LeaseExpiresAt %v, want zero", i, j.StartedAt, j.CompletedAt, j.LeaseExpiresAt)
		}
		if j.SourceType != in[i].SourceType || string(canonicalJSON(t, j.Config)) != string(canonicalJSON(t, in[i].Config)) {
			t.Errorf("job %d: source %q config %s, want %q %s", i, j.SourceType, j.Config, in[i].SourceType, in[i].Config)
		}
		wantSameJob(t, "GetJob after CreateJobs", b.get(j.ID), j)
	}
	if got[0].Tenant != intake.DefaultTenant || got[1].Tenant != "acme" {
		t.Errorf("tenants %q, %q; want %q, %q", got[0].Tenant, got[1].Tenant, intake.DefaultTenant, "acme")
	}
	if got[0].RequestHash != "hash-1" {
		t.Errorf("RequestHash = %q, want hash-1", got[0].RequestHash)
	}
	if got[0].ID >= got[1].ID {
		t.Errorf("IDs %s, %s do not ascend in creation order", got[0].ID, got[1].ID)
	}

	empty, err := b.store.CreateJobs(b.ctx, nil)
	if err != nil || len(empty) != 0 {
		t.Errorf("CreateJobs(nil) = %v, %v; want no jobs and no error", empty, err)
	}
}

func testCreateAtomic(t *testing.T, h Harness) {
	bad := []struct {
		name string
		job  *intake.Job
	}{
		{"nil job", nil},
		{"no source type", &intake.Job{Config: json.RawMessage(`{}`)}},
		{"config not JSON", &intake.Job{SourceType: "filings", Config: json.RawMessage(`{"cin":`)}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, h)
			good := newJob(1)
			good.IdempotencyKey = "key-1"
			_, err := b.store.CreateJobs(b.ctx, []*intake.Job{good, newJob(2), tt.job})
			wantCode(t, "CreateJobs with a bad job", err, intake.EINVALID)
			if p := b.list(intake.JobFilter{}); len(p.Jobs) != 0 {
				t.Errorf("a failed batch inserted %d jobs", len(p.Jobs))
			}
			// The idempotency key of the failed batch is not taken.
			again, err := b.store.CreateJobs(b.ctx, []*intake.Job{good})
			if err != nil {
				t.Fatalf("CreateJobs after a failed batch: %v", err)
			}
			if p := b.list(intake.JobFilter{}); len(p.Jobs) != 1 || p.Jobs[0].ID != again[0].ID {
				t.Errorf("after retrying, the store holds %d jobs, want only %s", len(p.Jobs), again[0].ID)
			}
		})
	}
}

func testCreateIdempotency(t *testing.T, h Harness) {
	b := setup(t, h)
	keyed := func(tenant, key, hash string, n int) *intake.Job {
		j := newJob(n)
		j.Tenant, j.IdempotencyKey, j.RequestHash = tenant, key, hash
		return j
	}
	first, err := b.store.CreateJobs(b.ctx, []*intake.Job{keyed("t1", "k", "h1", 1)})
	if err != nil {
		t.Fatalf("CreateJobs: %v", err)
	}
	b.clock.Advance(time.Second)
	got, err := b.store.CreateJobs(b.ctx, []*intake.Job{
		keyed("t1", "k", "h2", 2), // same tenant and key, different request
		keyed("t2", "k", "h1", 1), // same key, other tenant
		keyed("t1", "", "h1", 1),  // no key
		keyed("t1", "", "h1", 1),  // no key again
	})
	if err != nil {
		t.Fatalf("CreateJobs: %v", err)
	}
	wantSameJob(t, "existing job returned for a reused key", got[0], first[0])
	if got[0].RequestHash != "h1" {
		t.Errorf("existing job's RequestHash = %q, want h1 (the original request's)", got[0].RequestHash)
	}
	seen := map[string]bool{first[0].ID: true}
	for i, j := range got[1:] {
		if seen[j.ID] {
			t.Errorf("job %d reused ID %s, want a new job", i+1, j.ID)
		}
		seen[j.ID] = true
	}

	// The same key twice in one batch creates one job.
	twice, err := b.store.CreateJobs(b.ctx, []*intake.Job{keyed("t1", "k2", "h", 1), keyed("t1", "k2", "h", 1)})
	if err != nil {
		t.Fatalf("CreateJobs: %v", err)
	}
	if twice[0].ID != twice[1].ID {
		t.Errorf("one key twice in a batch created %s and %s, want one job", twice[0].ID, twice[1].ID)
	}
	// An empty tenant is the default tenant.
	d1, err := b.store.CreateJobs(b.ctx, []*intake.Job{keyed("", "k3", "h", 1)})
	if err != nil {
		t.Fatalf("CreateJobs: %v", err)
	}
	d2, err := b.store.CreateJobs(b.ctx, []*intake.Job{keyed(intake.DefaultTenant, "k3", "h", 1)})
	if err != nil {
		t.Fatalf("CreateJobs: %v", err)
	}
	if d1[0].ID != d2[0].ID {
		t.Errorf("key k3 with tenant \"\" and %q created two jobs", intake.DefaultTenant)
	}
	if n := len(b.list(intake.JobFilter{}).Jobs); n != 6 {
		t.Errorf("store holds %d jobs, want 6", n)
	}
}

func testGetNotFound(t *testing.T, h Harness) {
	b := setup(t, h)
	for _, id := range []string{intake.NewID(), "not-a-uuid", ""} {
		_, err := b.store.GetJob(b.ctx, id)
		wantCode(t, "GetJob("+id+")", err, intake.ENOTFOUND)
	}
}

func testListOrderAndFilter(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.create(5)
	claimed := b.claimID(jobs[0].ID, "w1")

	all := b.list(intake.JobFilter{})
	wantIDs(t, "all jobs", all.Jobs, ids(jobs, true)...)
	if all.NextCursor != "" {
		t.Errorf("single page has NextCursor %q", all.NextCursor)
	}
	wantSameJob(t, "listed job", all.Jobs[len(all.Jobs)-1], claimed)

	wantIDs(t, "processing", b.list(intake.JobFilter{Status: intake.StatusProcessing}).Jobs, jobs[0].ID)
	wantIDs(t, "pending", b.list(intake.JobFilter{Status: intake.StatusPending}).Jobs, ids(jobs[1:], true)...)
	wantIDs(t, "completed", b.list(intake.JobFilter{Status: intake.StatusCompleted}).Jobs)

	_, err := b.store.ListJobs(b.ctx, intake.JobFilter{Status: "bogus"})
	wantCode(t, "ListJobs with an unknown status", err, intake.EINVALID)
	_, err = b.store.ListJobs(b.ctx, intake.JobFilter{Cursor: "not a cursor!"})
	wantCode(t, "ListJobs with a malformed cursor", err, intake.EINVALID)
}

// pageAll lists every page of f, creating extra jobs after the first page
// when extra > 0, and returns the IDs seen in order.
func (b *bundle) pageAll(f intake.JobFilter, extra int) []string {
	b.t.Helper()
	var seen []string
	for page := 0; ; page++ {
		p := b.list(f)
		if len(p.Jobs) > f.Limit {
			b.t.Fatalf("page %d has %d jobs, limit %d", page, len(p.Jobs), f.Limit)
		}
		if len(p.Jobs) == 0 && p.NextCursor != "" {
			b.t.Fatalf("empty page %d has a NextCursor", page)
		}
		seen = append(seen, ids(p.Jobs, false)...)
		if page == 0 && extra > 0 {
			b.create(extra)
		}
		if p.NextCursor == "" {
			return seen
		}
		if page > 100 {
			b.t.Fatal("paging does not end")
		}
		f.Cursor = p.NextCursor
	}
}

func testListPaging(t *testing.T, h Harness) {
	tests := []struct {
		name       string
		jobs       int
		limit      int
		extra      int // jobs created after the first page
		processing int // jobs claimed (the oldest ones) before listing
		status     intake.Status
		pages      int
	}{
		{name: "partial last page", jobs: 7, limit: 3, pages: 3},
		{name: "full last page has no cursor", jobs: 6, limit: 3, pages: 2},
		{name: "inserts while paging", jobs: 7, limit: 3, extra: 4, pages: 3},
		{name: "status filter", jobs: 9, limit: 2, processing: 4, status: intake.StatusPending, pages: 3},
		{name: "page size one", jobs: 3, limit: 1, extra: 2, pages: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, h)
			jobs := b.create(tt.jobs)
			for _, j := range jobs[:tt.processing] {
				b.claimID(j.ID, "w-"+j.ID)
			}
			pages := 0
			f := intake.JobFilter{Status: tt.status, Limit: tt.limit}
			// Count pages separately: pageAll checks cursors and limits.
			for c := ""; ; {
				f.Cursor = c
				p := b.list(f)
				pages++
				if c = p.NextCursor; c == "" {
					break
				}
			}
			if pages != tt.pages {
				t.Errorf("listed %d pages, want %d", pages, tt.pages)
			}
			f.Cursor = ""
			got := b.pageAll(f, tt.extra)
			want := ids(jobs[tt.processing:], true)
			if len(got) != len(want) {
				t.Fatalf("paged IDs %v, want %v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("paged IDs %v, want %v", got, want)
				}
			}
		})
	}
}

func testListPageCap(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.create(intake.MaxPageSize + 1)
	for _, limit := range []int{0, -1, intake.MaxPageSize + 100} {
		p := b.list(intake.JobFilter{Limit: limit})
		if len(p.Jobs) != intake.MaxPageSize || p.NextCursor == "" {
			t.Fatalf("Limit %d: %d jobs, cursor %q; want MaxPageSize jobs and a cursor", limit, len(p.Jobs), p.NextCursor)
		}
		rest := b.list(intake.JobFilter{Limit: limit, Cursor: p.NextCursor})
		wantIDs(t, "last page", rest.Jobs, jobs[0].ID)
	}
}

func testCancel(t *testing.T, h Harness) {
	t.Run("pending and scheduled", func(t *testing.T) {
		t.Parallel()
		b := setup(t, h)
		jobs := b.create(2)
		b.claimID(jobs[1].ID, "w1")
		if err := b.store.Reschedule(b.ctx, jobs[1].ID, "w1", b.clock.Now().Add(time.Minute), "later", true); err != nil {
			t.Fatalf("Reschedule: %v", err)
		}
		b.clock.Advance(time.Second)
		for _, j := range jobs {
			got, err := b.store.Cancel(b.ctx, j.ID)
			if err != nil {
				t.Fatalf("Cancel: %v", err)
			}
			if got.Status != intake.StatusCancelled {
				t.Errorf("Cancel returned status %s", got.Status)
			}
			wantTime(t, "CompletedAt", got.CompletedAt, b.now())
			wantSameJob(t, "GetJob after Cancel", b.get(j.ID), got)
		}
		b.clock.Advance(time.Hour)
		if r := b.maintain(5); len(r.Promoted) != 0 {
			t.Errorf("Maintain promoted cancelled jobs %v", r.Promoted)
		}
		_, err := b.store.Claim(b.ctx, intake.ClaimParams{Owner: "w2", LeaseTTL: lease})
		wantNoJob(t, "Claim with only cancelled jobs", err)
	})
	t.Run("processing", func(t *testing.T) {
		t.Parallel()
		b := setup(t, h)
		j := b.create(1)[0]
		b.claimID(j.ID, "w1")
		got, err := b.store.Cancel(b.ctx, j.ID)
		if err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		if got.Status != intake.StatusCancelled || got.LeaseOwner != "" {
			t.Errorf("Cancel returned status %s owner %q, want cancelled without a lease", got.Status, got.LeaseOwner)
		}
		// The worker stops at its next fenced call.
		wantLeaseLost(t, "Heartbeat after Cancel", b.store.Heartbeat(b.ctx, j.ID, "w1", lease))
		wantLeaseLost(t, "RecordDocument after Cancel", b.store.RecordDocument(b.ctx, "w1", b.doc(j.ID, 1, "w1"), nil))
		wantLeaseLost(t, "FinishRun after Cancel", b.store.FinishRun(b.ctx, j.ID, "w1", true))
		b.clock.Advance(2 * lease)
		if r := b.maintain(5); len(r.Expired)+len(r.ExpiredFailed) != 0 {
			t.Errorf("Maintain expired a cancelled job: %+v", r)
		}
		if s := b.get(j.ID).Status; s != intake.StatusCancelled {
			t.Errorf("status = %s, want cancelled", s)
		}
	})
	t.Run("terminal and unknown", func(t *testing.T) {
		t.Parallel()
		b := setup(t, h)
		jobs := b.create(3)
		b.claimID(jobs[0].ID, "w1")
		if err := b.store.FinishRun(b.ctx, jobs[0].ID, "w1", true); err != nil {
			t.Fatalf("FinishRun: %v", err)
		}
		b.claimID(jobs[1].ID, "w2")
		if err := b.store.Fail(b.ctx, jobs[1].ID, "w2", "broken"); err != nil {
			t.Fatalf("Fail: %v", err)
		}
		if _, err := b.store.Cancel(b.ctx, jobs[2].ID); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		for _, j := range jobs {
			before := b.get(j.ID)
			_, err := b.store.Cancel(b.ctx, j.ID)
			wantCode(t, "Cancel of a "+string(before.Status)+" job", err, intake.ECONFLICT)
			wantSameJob(t, "job after a refused Cancel", b.get(j.ID), before)
		}
		_, err := b.store.Cancel(b.ctx, intake.NewID())
		wantCode(t, "Cancel of an unknown job", err, intake.ENOTFOUND)
	})
}
