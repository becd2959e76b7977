package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

// errorTests are the suite's cases for the errors every store returns
// alike: the same code and caller-safe message for the same mistake,
// whatever the database, and a RetryAfter with every EUNAVAILABLE error.
var errorTests = []suiteCase{
	{"Errors/Invalid", testErrorsInvalid},
	{"Errors/MalformedIDs", testErrorsMalformedIDs},
	{"Errors/Unavailable", testErrorsUnavailable},
}

// wantError fails the test unless err has the code and the caller-safe
// message.
func wantError(t *testing.T, what string, err error, code, msg string) {
	t.Helper()
	if got := intake.ErrorCode(err); got != code || intake.ErrorMessage(err) != msg {
		t.Errorf("%s: error %v (code %q, message %q), want code %q and message %q",
			what, err, got, intake.ErrorMessage(err), code, msg)
	}
}

// testErrorsInvalid makes every mistake a caller can make in an argument:
// each is an EINVALID error with the same message on every store, and
// changes nothing.
func testErrorsInvalid(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	b.claimID(j.ID, "w1")
	id := j.ID
	doc := func(edit func(d *intake.Document)) *intake.Document {
		d := b.doc(id, 1, "w1")
		edit(d)
		return d
	}
	_, createErr := b.store.CreateJobs(b.ctx, []*intake.Job{newJob(1), nil})
	_, claimErr := b.store.Claim(b.ctx, intake.ClaimParams{Owner: "w2"})
	_, statusErr := b.store.ListJobs(b.ctx, intake.JobFilter{Status: "bogus"})
	_, cursorErr := b.store.ListJobs(b.ctx, intake.JobFilter{Cursor: "bm90IGEgam9iIGlk"})
	_, maintainErr := b.store.Maintain(b.ctx, 0)
	tests := []struct {
		what string
		err  error
		msg  string
	}{
		{"CreateJobs with a nil job", createErr, "create jobs: job 1 is nil"},
		{"Claim without a lease TTL", claimErr, "claim job: owner and a positive lease TTL are required"},
		{"ListJobs with an unknown status", statusErr, `list jobs: unknown status "bogus"`},
		{"ListJobs with a cursor that holds no job ID", cursorErr, "list jobs: invalid cursor"},
		{"Heartbeat without a TTL", b.store.Heartbeat(b.ctx, id, "w1", 0), "heartbeat job " + id + ": lease TTL must be positive"},
		{"Plan with a negative total", b.store.Plan(b.ctx, id, "w1", -2, nil), "plan job " + id + ": invalid total -2"},
		{"StartBatch with a negative batch", b.store.StartBatch(b.ctx, id, "w1", -1), "start batch of job " + id + ": invalid batch -1"},
		{"RecordDocument without a document", b.store.RecordDocument(b.ctx, "w1", nil, nil),
			"record document: a document with a job ID is required"},
		{"RecordDocument without a job ID", b.store.RecordDocument(b.ctx, "w1", doc(func(d *intake.Document) { d.JobID = "" }), nil),
			"record document: a document with a job ID is required"},
		{"RecordDocument with a bad blob key", b.store.RecordDocument(b.ctx, "w1", doc(func(d *intake.Document) { d.BlobKey = "../x" }), nil),
			`invalid blob key "../x"`},
		{"RecordDocument with a document ID that is not a UUID", b.store.RecordDocument(b.ctx, "w1",
			doc(func(d *intake.Document) { d.ID = "doc-1" }), nil),
			"record document 1 of job " + id + `: document ID "doc-1" is not a UUID`},
		{"Maintain without attempts", maintainErr, "maintain: maxAttempts must be at least 1, not 0"},
	}
	for _, tt := range tests {
		wantError(t, tt.what, tt.err, intake.EINVALID, tt.msg)
	}
	if got := b.get(id); got.Collected != 0 || got.Planned || got.Status != intake.StatusProcessing {
		t.Errorf("after refused calls: %+v; want the claimed job unchanged", got)
	}
	if p := b.list(intake.JobFilter{}); len(p.Jobs) != 1 {
		t.Errorf("after a refused CreateJobs the store holds %d jobs, want 1", len(p.Jobs))
	}
}

// testErrorsMalformedIDs passes IDs that no job can have: every store
// answers as for a job that does not exist, never with a database error.
func testErrorsMalformedIDs(t *testing.T, h Harness) {
	b := setup(t, h)
	b.create(1)
	for _, id := range []string{"not-a-uuid", "", "'; DROP TABLE jobs; --", "01890a5d-ac96-774b-bcce-b302099a8057x"} {
		_, err := b.store.GetJob(b.ctx, id)
		wantError(t, "GetJob("+id+")", err, intake.ENOTFOUND, "job "+id+" not found")
		_, err = b.store.Cancel(b.ctx, id)
		wantError(t, "Cancel("+id+")", err, intake.ENOTFOUND, "job "+id+" not found")
		_, err = b.store.GetDocument(b.ctx, id, 1)
		wantError(t, "GetDocument("+id+")", err, intake.ENOTFOUND, "document 1 of job "+id+" not found")
		if id == "" {
			continue // Claim without a job ID claims any job; a document needs a job ID
		}
		_, err = b.store.Claim(b.ctx, intake.ClaimParams{Owner: "w1", LeaseTTL: lease, JobID: id})
		wantNoJob(t, "Claim("+id+")", err)
		d := b.doc(id, 1, "w1")
		d.BlobKey = intake.DocumentBlobKey(intake.NewID(), 1, "w1")
		for name, err := range map[string]error{
			"Heartbeat":      b.store.Heartbeat(b.ctx, id, "w1", lease),
			"Plan":           b.store.Plan(b.ctx, id, "w1", 1, nil),
			"StartBatch":     b.store.StartBatch(b.ctx, id, "w1", 1),
			"RecordDocument": b.store.RecordDocument(b.ctx, "w1", d, nil),
			"FinishRun":      b.store.FinishRun(b.ctx, id, "w1", true),
			"Reschedule":     b.store.Reschedule(b.ctx, id, "w1", b.clock.Now(), "later", true),
			"Fail":           b.store.Fail(b.ctx, id, "w1", "broken"),
		} {
			wantLeaseLost(t, name+"("+id+")", err)
		}
		runs, err := b.store.ListRuns(b.ctx, id, 0, 10)
		if err != nil || runs == nil || len(runs) != 0 {
			t.Errorf("ListRuns(%s) = %v, %v; want an empty list", id, runs, err)
		}
		docs, err := b.store.ListDocuments(b.ctx, id, 0, 10)
		if err != nil || docs == nil || len(docs) != 0 {
			t.Errorf("ListDocuments(%s) = %v, %v; want an empty list", id, docs, err)
		}
	}
}

// testErrorsUnavailable calls the store with a context that is done, as
// when a request's client went away or its deadline passed: every call
// fails as EUNAVAILABLE with the same message and a RetryAfter.
func testErrorsUnavailable(t *testing.T, h Harness) {
	b := setup(t, h)
	j := b.create(1)[0]
	b.claimID(j.ID, "w1")
	ctx, cancel := context.WithCancel(b.ctx)
	cancel()
	calls := []struct {
		msg  string
		call func() error
	}{
		{"create jobs", func() error { _, err := b.store.CreateJobs(ctx, []*intake.Job{newJob(1)}); return err }},
		{"get job " + j.ID, func() error { _, err := b.store.GetJob(ctx, j.ID); return err }},
		{"list jobs", func() error { _, err := b.store.ListJobs(ctx, intake.JobFilter{}); return err }},
		{"claim job", func() error {
			_, err := b.store.Claim(ctx, intake.ClaimParams{Owner: "w2", LeaseTTL: lease})
			return err
		}},
		{"heartbeat job " + j.ID, func() error { return b.store.Heartbeat(ctx, j.ID, "w1", lease) }},
		{"record document 1 of job " + j.ID, func() error {
			return b.store.RecordDocument(ctx, "w1", b.doc(j.ID, 1, "w1"), nil)
		}},
		{"record documents 1 to 2 of job " + j.ID, func() error {
			_, err := b.store.RecordDocuments(ctx, "w1", b.group(j.ID, 1, 2, "w1"))
			return err
		}},
		{"finish run of job " + j.ID, func() error { return b.store.FinishRun(ctx, j.ID, "w1", true) }},
		{"maintain jobs", func() error { _, err := b.store.Maintain(ctx, 3); return err }},
		{"job stats", func() error { _, err := b.store.Stats(ctx); return err }},
		{"list runs of job " + j.ID, func() error { _, err := b.store.ListRuns(ctx, j.ID, 0, 10); return err }},
		{"list documents of job " + j.ID, func() error { _, err := b.store.ListDocuments(ctx, j.ID, 0, 10); return err }},
		{"referenced blob keys", func() error { _, err := b.store.ReferencedBlobKeys(ctx, []string{"a/b"}); return err }},
		{"create schedule", func() error {
			_, err := b.store.CreateSchedule(ctx, newSchedule(1, b.clock.Now()))
			return err
		}},
		{"due schedules", func() error { _, err := b.store.DueSchedules(ctx, b.clock.Now(), 10); return err }},
		{"advance schedule " + j.ID, func() error {
			_, err := b.store.AdvanceSchedule(ctx, j.ID, b.clock.Now(), b.clock.Now(), "")
			return err
		}},
		{"claim notifications", func() error { _, err := b.store.ClaimNotifications(ctx, time.Minute, 10); return err }},
		{"find document of job " + j.ID, func() error { _, err := b.store.FindDocument(ctx, j.ID, "x"); return err }},
		{"list deliveries of job " + j.ID, func() error { _, err := b.store.ListDeliveries(ctx, j.ID, "", 10); return err }},
		{"ping job store", func() error { return b.store.Ping(ctx) }},
	}
	for _, c := range calls {
		err := c.call()
		wantError(t, c.msg, err, intake.EUNAVAILABLE, c.msg+": job store unavailable")
		wantRetryAfter(t, c.msg, err)
	}
	// Nothing changed.
	if got := b.get(j.ID); got.Status != intake.StatusProcessing || got.Collected != 0 {
		t.Errorf("after calls on a cancelled context: %+v; want the job still processing, nothing recorded", got)
	}
}

// wantRetryAfter fails the test unless err is an *intake.Error with a
// positive RetryAfter.
func wantRetryAfter(t *testing.T, what string, err error) {
	t.Helper()
	var ie *intake.Error
	if !errors.As(err, &ie) || ie.RetryAfter <= 0 || ie.RetryAfter > time.Minute {
		t.Errorf("%s: error %v has no RetryAfter hint", what, err)
	}
}
