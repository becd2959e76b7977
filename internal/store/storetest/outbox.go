package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

// outboxTests are the cases of the webhook outbox: a job's notification
// becomes due in the step that ends it, claims are exclusive and lapse,
// and deliveries are logged.
var outboxTests = []suiteCase{
	{"Outbox/DueWhenEnded", testOutboxDue},
	{"Outbox/ClaimExclusive", testOutboxClaimExclusive},
	{"Outbox/ClaimLapses", testOutboxClaimLapses},
	{"Outbox/Redeliver", testOutboxRedeliver},
	{"Outbox/Deliveries", testOutboxDeliveries},
}

// hook is the Notify of the suite's jobs.
var hook = &intake.Notify{URL: "http://127.0.0.1:9/hook", Secret: "HOOK"}

// notifyJobs creates n jobs that notify hook and returns them.
func (b *bundle) notifyJobs(n int) []*intake.Job {
	b.t.Helper()
	in := make([]*intake.Job, n)
	for i := range in {
		in[i] = newJob(i)
		in[i].Notify = hook
	}
	out, err := b.store.CreateJobs(b.ctx, in)
	if err != nil {
		b.t.Fatalf("CreateJobs: %v", err)
	}
	return out
}

// claimNotifications claims up to limit notifications for ttl.
func (b *bundle) claimNotifications(ttl time.Duration, limit int) []*intake.NotifyClaim {
	b.t.Helper()
	c, err := b.store.ClaimNotifications(b.ctx, ttl, limit)
	if err != nil {
		b.t.Fatalf("ClaimNotifications: %v", err)
	}
	return c
}

// claimedIDs returns the sorted job IDs of claims.
func claimedIDs(claims []*intake.NotifyClaim) []string {
	out := make([]string, len(claims))
	for i, c := range claims {
		out[i] = c.Job.ID
	}
	slices.Sort(out)
	return out
}

// testOutboxDue ends jobs every way a job ends: those with Notify that
// complete or fail owe a notification from the same step, due at once;
// cancelled jobs, jobs that go on, and jobs without Notify owe none.
func testOutboxDue(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.notifyJobs(6)
	plain := b.create(2)
	b.clock.Advance(time.Second)
	ended := b.now()

	b.complete(jobs[0].ID)
	b.claimID(jobs[1].ID, "w1")
	if err := b.store.Fail(b.ctx, jobs[1].ID, "w1", "broken"); err != nil {
		t.Fatalf("Fail: %v", err)
	}
	b.claimID(jobs[2].ID, "w2")
	if err := b.store.FinishRun(b.ctx, jobs[2].ID, "w2", false); err != nil {
		t.Fatalf("FinishRun not done: %v", err)
	}
	if _, err := b.store.Cancel(b.ctx, jobs[3].ID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	b.complete(plain[0].ID)
	b.claimID(plain[1].ID, "w3")
	if err := b.store.Fail(b.ctx, plain[1].ID, "w3", "broken"); err != nil {
		t.Fatalf("Fail: %v", err)
	}
	for i, id := range []string{jobs[0].ID, jobs[1].ID} {
		got := b.get(id)
		wantTime(t, fmt.Sprintf("NotifyDueAt of ended job %d", i), got.NotifyDueAt, ended)
		wantTime(t, fmt.Sprintf("NotifyDueAt of ended job %d is its CompletedAt", i), got.NotifyDueAt, got.CompletedAt)
		if got.NotifyAttempts != 0 || got.Notify == nil || got.Notify.URL != hook.URL {
			t.Errorf("job %d: NotifyAttempts %d Notify %+v", i, got.NotifyAttempts, got.Notify)
		}
	}
	for _, id := range []string{jobs[2].ID, jobs[3].ID, plain[0].ID, plain[1].ID} {
		if got := b.get(id); !got.NotifyDueAt.IsZero() {
			t.Errorf("job %s (%s, notify %v) has NotifyDueAt %v, want zero", id, got.Status, got.Notify != nil, got.NotifyDueAt)
		}
	}

	// A lease that expires on the last attempt fails the job: due then;
	// one that expires before the last attempt: not.
	b.claimID(jobs[4].ID, "w4")
	b.claimID(jobs[5].ID, "w5")
	if err := b.store.Reschedule(b.ctx, jobs[5].ID, "w5", b.clock.Now(), "again", true); err != nil {
		t.Fatalf("Reschedule: %v", err)
	}
	b.maintain(3)
	b.claimID(jobs[5].ID, "w5b")
	b.clock.Advance(lease)
	r := b.maintain(2)
	if !slices.Equal(r.ExpiredFailed, []string{jobs[5].ID}) || !slices.Equal(r.Expired, []string{jobs[4].ID}) {
		t.Fatalf("Maintain = %+v; want %s expired and %s failed", r, jobs[4].ID, jobs[5].ID)
	}
	wantTime(t, "NotifyDueAt of a job whose last lease expired", b.get(jobs[5].ID).NotifyDueAt, b.now())
	if got := b.get(jobs[4].ID); !got.NotifyDueAt.IsZero() {
		t.Errorf("a job whose lease expired before its last attempt has NotifyDueAt %v", got.NotifyDueAt)
	}
	claims := b.claimNotifications(time.Minute, 10)
	if got, want := claimedIDs(claims), sortedIDs(jobs[0].ID, jobs[1].ID, jobs[5].ID); !slices.Equal(got, want) {
		t.Errorf("claimed %v, want %v", got, want)
	}
}

func sortedIDs(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

// testOutboxClaimExclusive has replicas claim the same due notifications
// at once: each is claimed by exactly one.
func testOutboxClaimExclusive(t *testing.T, h Harness) {
	const n, replicas = 24, 3
	b := setup(t, h)
	jobs := b.notifyJobs(n)
	for _, j := range jobs {
		b.complete(j.ID)
	}
	var (
		mu      sync.Mutex
		claimed = map[string]int{}
		wg      sync.WaitGroup
	)
	for range replicas {
		wg.Go(func() {
			for range n + 1 { // bounded: a claim that never empties the outbox fails rather than hangs
				c, err := b.store.ClaimNotifications(b.ctx, time.Minute, 5)
				if err != nil {
					t.Errorf("ClaimNotifications: %v", err)
					return
				}
				if len(c) == 0 {
					return
				}
				mu.Lock()
				for _, cl := range c {
					claimed[cl.Job.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != n {
		t.Errorf("%d notifications claimed, want %d", len(claimed), n)
	}
	for id, k := range claimed {
		if k != 1 {
			t.Errorf("notification of job %s claimed %d times", id, k)
		}
	}
}

// testOutboxClaimLapses is the outbox surviving a crash between the
// commit and the delivery: a claim that is never settled lapses at Until
// and the notification is delivered again; the crashed claim can no
// longer settle.
func testOutboxClaimLapses(t *testing.T, h Harness) {
	const ttl = time.Minute
	b := setup(t, h)
	j := b.notifyJobs(1)[0]
	b.complete(j.ID)
	first := b.claimNotifications(ttl, 10)
	if len(first) != 1 || first[0].Job.ID != j.ID || first[0].Job.Notify == nil {
		t.Fatalf("claimed %+v, want job %s with its Notify", first, j.ID)
	}
	wantTime(t, "Until", first[0].Until, b.now().Add(ttl))
	wantTime(t, "claimed job's NotifyDueAt", first[0].Job.NotifyDueAt, first[0].Until)
	if c := b.claimNotifications(ttl, 10); len(c) != 0 {
		t.Errorf("a held claim was claimed again: %v", claimedIDs(c))
	}
	b.clock.Advance(ttl - time.Millisecond)
	if c := b.claimNotifications(ttl, 10); len(c) != 0 {
		t.Errorf("a claim was claimed again before it lapsed: %v", claimedIDs(c))
	}
	b.clock.Advance(time.Millisecond) // the deliverer crashed: its claim lapses
	second := b.claimNotifications(ttl, 10)
	if len(second) != 1 || second[0].Job.ID != j.ID {
		t.Fatalf("after the claim lapsed: claimed %v, want %s", claimedIDs(second), j.ID)
	}
	if ok, err := b.store.SettleNotification(b.ctx, j.ID, first[0].Until, time.Time{}); ok || err != nil {
		t.Errorf("SettleNotification with the lapsed claim = %v, %v; want false", ok, err)
	}
	// The delivery fails: due again after a backoff, one attempt counted.
	retry := b.clock.Now().Add(30 * time.Second)
	if ok, err := b.store.SettleNotification(b.ctx, j.ID, second[0].Until, retry); !ok || err != nil {
		t.Fatalf("SettleNotification with a retry = %v, %v; want true", ok, err)
	}
	got := b.get(j.ID)
	wantTime(t, "NotifyDueAt after a failed delivery", got.NotifyDueAt, retry)
	if got.NotifyAttempts != 1 {
		t.Errorf("NotifyAttempts = %d, want 1", got.NotifyAttempts)
	}
	if ok, err := b.store.SettleNotification(b.ctx, j.ID, second[0].Until, time.Time{}); ok || err != nil {
		t.Errorf("SettleNotification of a settled claim = %v, %v; want false", ok, err)
	}
	b.clock.Advance(30*time.Second - time.Millisecond)
	if c := b.claimNotifications(ttl, 10); len(c) != 0 {
		t.Errorf("a notification was claimed before its retry: %v", claimedIDs(c))
	}
	b.clock.Advance(time.Millisecond)
	third := b.claimNotifications(ttl, 10)
	if len(third) != 1 || third[0].Job.NotifyAttempts != 1 {
		t.Fatalf("at the retry: claimed %+v, want the job with 1 attempt", third)
	}
	if ok, err := b.store.SettleNotification(b.ctx, j.ID, third[0].Until, time.Time{}); !ok || err != nil {
		t.Fatalf("SettleNotification delivered = %v, %v; want true", ok, err)
	}
	if got := b.get(j.ID); !got.NotifyDueAt.IsZero() || got.NotifyAttempts != 0 {
		t.Errorf("after delivery: NotifyDueAt %v NotifyAttempts %d; want nothing owed", got.NotifyDueAt, got.NotifyAttempts)
	}
	b.clock.Advance(time.Hour)
	if c := b.claimNotifications(ttl, 10); len(c) != 0 {
		t.Errorf("a delivered notification was claimed again: %v", claimedIDs(c))
	}
	_, err := b.store.ClaimNotifications(b.ctx, 0, 10)
	wantCode(t, "ClaimNotifications without a TTL", err, intake.EINVALID)
	for _, id := range []string{intake.NewID(), "not-a-uuid"} {
		if ok, err := b.store.SettleNotification(b.ctx, id, third[0].Until, time.Time{}); ok || err != nil {
			t.Errorf("SettleNotification(%s) = %v, %v; want false", id, ok, err)
		}
	}
}

func testOutboxRedeliver(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.notifyJobs(3)
	plain := b.create(1)[0]
	b.complete(jobs[0].ID)
	b.complete(plain.ID)
	if _, err := b.store.Cancel(b.ctx, jobs[2].ID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	c := b.claimNotifications(time.Minute, 10)
	if len(c) != 1 {
		t.Fatalf("claimed %v, want 1", claimedIDs(c))
	}
	if ok, err := b.store.SettleNotification(b.ctx, jobs[0].ID, c[0].Until, b.clock.Now().Add(time.Hour)); !ok || err != nil {
		t.Fatalf("SettleNotification = %v, %v", ok, err)
	}
	b.clock.Advance(time.Second)
	j, err := b.store.Redeliver(b.ctx, jobs[0].ID)
	if err != nil {
		t.Fatalf("Redeliver: %v", err)
	}
	wantTime(t, "NotifyDueAt after Redeliver", j.NotifyDueAt, b.now())
	if j.NotifyAttempts != 0 {
		t.Errorf("NotifyAttempts after Redeliver = %d, want 0", j.NotifyAttempts)
	}
	wantSameJob(t, "GetJob after Redeliver", b.get(j.ID), j)
	if c := b.claimNotifications(time.Minute, 10); len(c) != 1 || c[0].Job.ID != jobs[0].ID {
		t.Errorf("after Redeliver: claimed %v, want %s", claimedIDs(c), jobs[0].ID)
	}
	for _, tt := range []struct {
		what, id, code string
	}{
		{"a missing job", intake.NewID(), intake.ENOTFOUND},
		{"a malformed ID", "not-a-uuid", intake.ENOTFOUND},
		{"a pending job", jobs[1].ID, intake.ECONFLICT},
		{"a cancelled job", jobs[2].ID, intake.ECONFLICT},
		{"a job without notify", plain.ID, intake.ECONFLICT},
	} {
		_, err := b.store.Redeliver(b.ctx, tt.id)
		wantCode(t, "Redeliver of "+tt.what, err, tt.code)
	}
	if got := b.get(jobs[1].ID); !got.NotifyDueAt.IsZero() {
		t.Errorf("a refused Redeliver set NotifyDueAt %v", got.NotifyDueAt)
	}
}

func testOutboxDeliveries(t *testing.T, h Harness) {
	b := setup(t, h)
	jobs := b.notifyJobs(2)
	var want []intake.Delivery
	for i := range 5 {
		b.clock.Advance(time.Second)
		d := &intake.Delivery{
			JobID: jobs[0].ID, MessageID: "msg_" + jobs[0].ID + "_job_completed", Event: intake.EventJobCompleted,
			URL: hook.URL, Attempt: i + 1, StatusCode: 500 + i, Error: fmt.Sprintf("HTTP %d", 500+i), DurationMS: int64(10 * i),
		}
		if i == 4 {
			d.StatusCode, d.OK, d.Error, d.AttemptedAt = 204, true, "", Epoch.Add(time.Hour)
		}
		if err := b.store.RecordDelivery(b.ctx, d); err != nil {
			t.Fatalf("RecordDelivery: %v", err)
		}
		if !intake.ValidID(d.ID) {
			t.Errorf("delivery ID %q is not a UUID", d.ID)
		}
		if i < 4 {
			wantTime(t, "AttemptedAt", d.AttemptedAt, b.now())
		}
		want = append(want, *d)
	}
	other := &intake.Delivery{JobID: jobs[1].ID, MessageID: "m", Event: intake.EventJobFailed, URL: hook.URL, Attempt: 1}
	if err := b.store.RecordDelivery(b.ctx, other); err != nil {
		t.Fatalf("RecordDelivery: %v", err)
	}
	var got []intake.Delivery
	for after, pages := "", 0; ; pages++ {
		if pages > 5 {
			t.Fatal("ListDeliveries does not end")
		}
		page, err := b.store.ListDeliveries(b.ctx, jobs[0].ID, after, 2)
		if err != nil {
			t.Fatalf("ListDeliveries: %v", err)
		}
		if len(page) > 2 {
			t.Errorf("page of %d deliveries, want at most 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, d := range page {
			c := *d
			c.AttemptedAt = normalTime(c.AttemptedAt)
			got = append(got, c)
		}
		after = page[len(page)-1].ID
	}
	for i := range want {
		want[i].AttemptedAt = normalTime(want[i].AttemptedAt)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListDeliveries:\n got %+v\nwant %+v", got, want)
	}
	for _, id := range []string{intake.NewID(), "not-a-uuid"} {
		if list, err := b.store.ListDeliveries(b.ctx, id, "", 10); err != nil || list == nil || len(list) != 0 {
			t.Errorf("ListDeliveries(%s) = %v, %v; want an empty list", id, list, err)
		}
	}
	_, err := b.store.ListDeliveries(b.ctx, jobs[0].ID, "not-a-uuid", 10)
	wantCode(t, "ListDeliveries after a malformed ID", err, intake.EINVALID)
	missing := *other
	missing.JobID = intake.NewID()
	wantCode(t, "RecordDelivery of a missing job", b.store.RecordDelivery(b.ctx, &missing), intake.ENOTFOUND)
	noEvent := *other
	noEvent.Event = ""
	wantCode(t, "RecordDelivery without an event", b.store.RecordDelivery(b.ctx, &noEvent), intake.EINVALID)
	wantCode(t, "RecordDelivery(nil)", b.store.RecordDelivery(b.ctx, nil), intake.EINVALID)
}
