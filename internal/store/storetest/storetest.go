// Package storetest is the conformance suite of intake's job store. Every
// driver (sqlitestore, postgresstore, mongostore) runs it unchanged from
// its own tests with a Harness that opens a fresh, empty, migrated
// database; the suite wraps the driver in store.Store, the portable type
// callers hold, and tests the intake.Store contract through it:
//
//	func TestConformance(t *testing.T) {
//		t.Parallel()
//		storetest.Run(t, open) // open(tb testing.TB) driver.Driver
//	}
//
// The suite tests the contract through intake.Store's methods only, never
// through a database's query language. Time comes from a testenv.Clock
// that tests move forward instead of sleeping; stores keep times at
// millisecond precision in UTC, and the suite compares them at that
// precision.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/store/driver"
	"github.com/intake-dev/intake/internal/testenv"
)

// Harness opens a fresh, empty, migrated database for one (sub)test or
// benchmark and returns its driver. The suite closes the store it wraps
// around the driver when the test ends; a cleanup the harness registers
// may close the driver again.
type Harness func(tb testing.TB) driver.Driver

// Epoch is the time every suite clock starts at. It carries sub-millisecond
// digits on purpose: stores truncate to milliseconds, and the suite checks
// that they do so consistently.
var Epoch = time.Date(2030, time.January, 2, 3, 4, 5, 678_901_234, time.UTC)

// open wraps a fresh driver of h in a store that reads clock, and closes
// the store when tb ends.
func open(tb testing.TB, h Harness, clock func() time.Time) *store.Store {
	tb.Helper()
	s := store.New(h(tb), store.Options{Clock: clock})
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// suiteCase is one named case of the suite.
type suiteCase struct {
	name string
	fn   func(*testing.T, Harness)
}

// Run runs the conformance suite against the drivers that h opens. Each
// test runs in parallel with its own store.
func Run(t *testing.T, h Harness) {
	t.Helper()
	tests := []suiteCase{
		{"CreateJobs/SetsFields", testCreateSetsFields},
		{"CreateJobs/AtomicBatch", testCreateAtomic},
		{"CreateJobs/IdempotencyKey", testCreateIdempotency},
		{"GetJob/NotFound", testGetNotFound},
		{"ListJobs/NewestFirstAndFilter", testListOrderAndFilter},
		{"ListJobs/CursorPaging", testListPaging},
		{"ListJobs/PageSizeCap", testListPageCap},
		{"Claim/Empty", testClaimEmpty},
		{"Claim/Order", testClaimOrder},
		{"Claim/SetsLease", testClaimSetsLease},
		{"Claim/ByJobID", testClaimByJobID},
		{"Claim/ConcurrentExclusive", testClaimConcurrent},
		{"Heartbeat", testHeartbeat},
		{"Plan", testPlan},
		{"RecordDocument", testRecordDocument},
		{"FinishRun/NotDone", testFinishNotDone},
		{"FinishRun/Done", testFinishDone},
		{"Reschedule", testReschedule},
		{"Fail", testFail},
		{"Cancel", testCancel},
		{"Maintain/ExpiredLease", testMaintainExpired},
		{"Maintain/MaxAttempts", testMaintainMaxAttempts},
		{"Maintain/Idempotent", testMaintainIdempotent},
		{"Maintain/Concurrent", testMaintainConcurrent},
		{"Stats", testStats},
		{"Documents", testDocuments},
		{"ReferencedBlobKeys", testReferencedBlobKeys},
		{"PingAndClose", testPingClose},
	}
	tests = append(tests, runTests...)
	tests = append(tests, countsTests...)
	tests = append(tests, claimManyTests...)
	tests = append(tests, finishManyTests...)
	tests = append(tests, hardeningTests...)
	tests = append(tests, errorTests...)
	tests = append(tests, scheduleTests...)
	tests = append(tests, changeTests...)
	tests = append(tests, outboxTests...)
	tests = append(tests, recordTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, h)
		})
	}
}

// lease is the lease TTL the suite claims with unless a test says otherwise.
const lease = time.Minute

// bundle is one test's store, clock and context.
type bundle struct {
	t     *testing.T
	ctx   context.Context
	store intake.Store
	clock *testenv.Clock
}

func setup(t *testing.T, h Harness) *bundle {
	t.Helper()
	clock := testenv.NewClock(Epoch)
	return &bundle{t: t, ctx: t.Context(), store: open(t, h, clock.Now), clock: clock}
}

// now returns the clock's time at the precision stores keep.
func (b *bundle) now() time.Time { return b.clock.Now().Truncate(time.Millisecond) }

// newJob returns a valid job to create, distinguished by n.
func newJob(n int) *intake.Job {
	return &intake.Job{
		SourceType: "filings",
		Config:     json.RawMessage(fmt.Sprintf(`{"cin":"L%05d","n":%d}`, n, n)),
	}
}

// create creates n jobs in one batch and returns them in creation order.
func (b *bundle) create(n int) []*intake.Job {
	b.t.Helper()
	in := make([]*intake.Job, n)
	for i := range in {
		in[i] = newJob(i)
	}
	out, err := b.store.CreateJobs(b.ctx, in)
	if err != nil {
		b.t.Fatalf("CreateJobs(%d): %v", n, err)
	}
	if len(out) != n {
		b.t.Fatalf("CreateJobs(%d) returned %d jobs", n, len(out))
	}
	return out
}

// claimID claims the job with id under owner.
func (b *bundle) claimID(id, owner string) *intake.Job {
	b.t.Helper()
	j, err := b.store.Claim(b.ctx, intake.ClaimParams{Owner: owner, LeaseTTL: lease, JobID: id})
	if err != nil {
		b.t.Fatalf("Claim(%s, %s): %v", id, owner, err)
	}
	return j
}

// claim claims the next job under owner.
func (b *bundle) claim(owner string) *intake.Job {
	b.t.Helper()
	return b.claimID("", owner)
}

func (b *bundle) get(id string) *intake.Job {
	b.t.Helper()
	j, err := b.store.GetJob(b.ctx, id)
	if err != nil {
		b.t.Fatalf("GetJob(%s): %v", id, err)
	}
	return j
}

// doc returns the metadata of document seq of a job, as a worker with owner
// would record it.
func (b *bundle) doc(jobID string, seq int, owner string) *intake.Document {
	return &intake.Document{
		JobID:        jobID,
		Seq:          seq,
		Name:         fmt.Sprintf("MGT-7_%d.txt", seq),
		DocumentType: "MGT-7",
		ContentType:  "text/plain; charset=utf-8",
		SizeBytes:    int64(100 * seq),
		SHA256:       fmt.Sprintf("%064x", seq),
		BlobKey:      intake.DocumentBlobKey(jobID, seq, owner),
		CollectedAt:  b.clock.Now(),
	}
}

// record records document seq of a job under owner with checkpoint "cp<seq>".
func (b *bundle) record(jobID string, seq int, owner string) *intake.Document {
	b.t.Helper()
	d := b.doc(jobID, seq, owner)
	if err := b.store.RecordDocument(b.ctx, owner, d, []byte(fmt.Sprintf("cp%d", seq))); err != nil {
		b.t.Fatalf("RecordDocument(%s, %d, %s): %v", jobID, seq, owner, err)
	}
	return d
}

func (b *bundle) list(f intake.JobFilter) *intake.JobPage {
	b.t.Helper()
	p, err := b.store.ListJobs(b.ctx, f)
	if err != nil {
		b.t.Fatalf("ListJobs(%+v): %v", f, err)
	}
	return p
}

func (b *bundle) maintain(maxAttempts int) *intake.MaintainResult {
	b.t.Helper()
	r, err := b.store.Maintain(b.ctx, maxAttempts)
	if err != nil {
		b.t.Fatalf("Maintain(%d): %v", maxAttempts, err)
	}
	return r
}

// wantCode fails the test unless err carries the intake error code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := intake.ErrorCode(err); got != code {
		t.Errorf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
}

// wantLeaseLost fails the test unless err is (or wraps) intake.ErrLeaseLost.
func wantLeaseLost(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, intake.ErrLeaseLost) || intake.ErrorCode(err) != intake.ELEASELOST {
		t.Errorf("%s: error %v, want intake.ErrLeaseLost", what, err)
	}
}

// wantNoJob fails the test unless err is (or wraps) intake.ErrNoJob.
func wantNoJob(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, intake.ErrNoJob) || intake.ErrorCode(err) != intake.ENOTFOUND {
		t.Errorf("%s: error %v, want intake.ErrNoJob", what, err)
	}
}

// wantTime fails the test unless got equals want at millisecond precision.
func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Truncate(time.Millisecond).Equal(want.Truncate(time.Millisecond)) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// wantIDs fails the test unless the jobs have exactly the given IDs, in order.
func wantIDs(t *testing.T, what string, jobs []*intake.Job, ids ...string) {
	t.Helper()
	got := make([]string, len(jobs))
	for i, j := range jobs {
		got[i] = j.ID
	}
	if len(ids) == 0 {
		ids = []string{}
	}
	if !reflect.DeepEqual(got, ids) {
		t.Errorf("%s: IDs %v, want %v", what, got, ids)
	}
}

// ids returns the IDs of jobs, optionally in reverse order.
func ids(jobs []*intake.Job, reverse bool) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		if reverse {
			out[len(jobs)-1-i] = j.ID
		} else {
			out[i] = j.ID
		}
	}
	return out
}

// normalJob returns a copy of j that compares equal with reflect.DeepEqual
// to any other representation of the same job: times in UTC at millisecond
// precision, config in canonical JSON, an empty checkpoint as nil.
func normalJob(t *testing.T, j *intake.Job) intake.Job {
	t.Helper()
	c := *j
	c.Config = canonicalJSON(t, j.Config)
	if len(c.Checkpoint) == 0 {
		c.Checkpoint = nil
	}
	for _, p := range []*time.Time{&c.AvailableAt, &c.LeaseExpiresAt, &c.CreatedAt, &c.UpdatedAt, &c.StartedAt,
		&c.CompletedAt, &c.NotifyDueAt} {
		*p = normalTime(*p)
	}
	if c.Notify != nil {
		n := *c.Notify
		if len(n.Events) == 0 {
			n.Events = nil
		}
		c.Notify = &n
	}
	return c
}

func normalTime(v time.Time) time.Time {
	if v.IsZero() {
		return time.Time{}
	}
	return v.UTC().Truncate(time.Millisecond)
}

// canonicalJSON re-encodes a JSON document with sorted keys, so that stores
// that keep JSON in a binary form compare equal.
func canonicalJSON(t *testing.T, raw json.RawMessage) json.RawMessage {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("config %q is not JSON: %v", raw, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("re-encode config: %v", err)
	}
	return out
}

// wantSameJob fails the test unless got and want describe the same job.
func wantSameJob(t *testing.T, what string, got, want *intake.Job) {
	t.Helper()
	g, w := normalJob(t, got), normalJob(t, want)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

// wantSameDoc fails the test unless got and want describe the same document.
func wantSameDoc(t *testing.T, what string, got, want *intake.Document) {
	t.Helper()
	g, w := *got, *want
	g.CollectedAt, w.CollectedAt = normalTime(g.CollectedAt), normalTime(w.CollectedAt)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

// wantCheckpoint fails the test unless the job's checkpoint is want.
func wantCheckpoint(t *testing.T, j *intake.Job, want string) {
	t.Helper()
	if !bytes.Equal(j.Checkpoint, []byte(want)) {
		t.Errorf("job %s checkpoint = %q, want %q", j.ID, j.Checkpoint, want)
	}
}
