package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

// scheduleTests are the cases of schedules: their definitions, the due
// query and the compare-and-set that makes a tick fire once.
var scheduleTests = []suiteCase{
	{"Schedules/CRUD", testScheduleCRUD},
	{"Schedules/Invalid", testScheduleInvalid},
	{"Schedules/Paging", testSchedulePaging},
	{"Schedules/Due", testScheduleDue},
	{"Schedules/Advance", testScheduleAdvance},
	{"Schedules/ExactlyOnce", testScheduleExactlyOnce},
	{"Schedules/Jobs", testScheduleJobs},
	{"Schedules/TickJob", testScheduleTickJob},
	{"Schedules/Health", testScheduleHealth},
	{"CreateJobs/ScheduleFields", testCreateScheduleFields},
}

// newSchedule returns a valid schedule to create, distinguished by n, due
// at next.
func newSchedule(n int, next time.Time) *intake.Schedule {
	return &intake.Schedule{
		Name:       fmt.Sprintf("schedule %d", n),
		SourceType: "filings",
		Config:     json.RawMessage(fmt.Sprintf(`{"cin":"L%05d"}`, n)),
		Interval:   intake.Duration(time.Hour),
		NextFireAt: next,
	}
}

// createSchedule creates s and fails the test on an error.
func (b *bundle) createSchedule(s *intake.Schedule) *intake.Schedule {
	b.t.Helper()
	got, err := b.store.CreateSchedule(b.ctx, s)
	if err != nil {
		b.t.Fatalf("CreateSchedule(%s): %v", s.Name, err)
	}
	return got
}

func (b *bundle) getSchedule(id string) *intake.Schedule {
	b.t.Helper()
	s, err := b.store.GetSchedule(b.ctx, id)
	if err != nil {
		b.t.Fatalf("GetSchedule(%s): %v", id, err)
	}
	return s
}

// normalSchedule returns a copy of s that compares equal with
// reflect.DeepEqual to any other representation of the same schedule.
func normalSchedule(t *testing.T, s *intake.Schedule) intake.Schedule {
	t.Helper()
	c := *s
	c.Config = canonicalJSON(t, s.Config)
	for _, p := range []*time.Time{&c.NextFireAt, &c.LastFireAt, &c.CreatedAt, &c.UpdatedAt} {
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

// wantSameSchedule fails the test unless got and want describe the same
// schedule.
func wantSameSchedule(t *testing.T, what string, got, want *intake.Schedule) {
	t.Helper()
	if g, w := normalSchedule(t, got), normalSchedule(t, want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func testScheduleCRUD(t *testing.T, h Harness) {
	b := setup(t, h)
	in := &intake.Schedule{
		ID: "caller-chosen", Version: 7, LastJobID: "x", // the store's fields
		Tenant: "acme", Name: "daily filings", SourceType: "filings",
		Config:   json.RawMessage(`{"cin": "L12345MH2001PLC123456"}`),
		Cron:     "30 2 * * *",
		TimeZone: "Asia/Kolkata",
		Jitter:   intake.Duration(90 * time.Second),
		Notify: &intake.Notify{URL: "http://127.0.0.1:9/hook", Secret: "HOOK",
			Events: []intake.Event{intake.EventJobChanged}},
		NextFireAt: b.clock.Now().Add(time.Hour),
	}
	s := b.createSchedule(in)
	if !intake.ValidID(s.ID) || s.Version != 1 || s.LastJobID != "" || !s.LastFireAt.IsZero() {
		t.Errorf("created %+v; want a UUID, Version 1, no last fire", s)
	}
	if s.Misfire != intake.MisfireFireOnce || s.Overlap != intake.OverlapSkip {
		t.Errorf("policies %q, %q; want the defaults", s.Misfire, s.Overlap)
	}
	now := b.now()
	wantTime(t, "CreatedAt", s.CreatedAt, now)
	wantTime(t, "UpdatedAt", s.UpdatedAt, now)
	wantTime(t, "NextFireAt", s.NextFireAt, in.NextFireAt)
	wantSameSchedule(t, "GetSchedule after CreateSchedule", b.getSchedule(s.ID), s)
	if d := b.createSchedule(newSchedule(1, now)); d.Tenant != intake.DefaultTenant {
		t.Errorf("tenant %q, want %q", d.Tenant, intake.DefaultTenant)
	}

	// The schedule fires once, then a client replaces its definition.
	if ok, err := b.store.AdvanceSchedule(b.ctx, s.ID, s.NextFireAt, s.NextFireAt.Add(24*time.Hour), ""); err != nil || !ok {
		t.Fatalf("AdvanceSchedule = %v, %v", ok, err)
	}
	cur := b.getSchedule(s.ID)
	b.clock.Advance(time.Second)
	edit := *cur
	edit.Name, edit.Cron, edit.Interval, edit.Paused = "hourly", "", intake.Duration(time.Hour), true
	edit.Misfire, edit.Overlap, edit.Notify = intake.MisfireSkip, intake.OverlapQueueOne, nil
	edit.Config = json.RawMessage(`{"cin":"U1"}`)
	edit.NextFireAt = b.clock.Now().Add(time.Minute)
	edit.Tenant, edit.LastJobID, edit.CreatedAt = "other", intake.NewID(), time.Time{} // kept by the store
	up, err := b.store.UpdateSchedule(b.ctx, &edit)
	if err != nil {
		t.Fatalf("UpdateSchedule: %v", err)
	}
	want := edit
	want.Tenant, want.LastJobID, want.LastFireAt, want.CreatedAt = cur.Tenant, cur.LastJobID, cur.LastFireAt, cur.CreatedAt
	want.Version, want.UpdatedAt = cur.Version+1, b.now()
	wantSameSchedule(t, "UpdateSchedule", up, &want)
	wantSameSchedule(t, "GetSchedule after UpdateSchedule", b.getSchedule(s.ID), &want)

	_, err = b.store.UpdateSchedule(b.ctx, &edit) // edit still has the old version
	wantCode(t, "UpdateSchedule with a stale version", err, intake.ECONFLICT)
	missing := edit
	missing.ID = intake.NewID()
	_, err = b.store.UpdateSchedule(b.ctx, &missing)
	wantCode(t, "UpdateSchedule of a missing schedule", err, intake.ENOTFOUND)

	if err := b.store.DeleteSchedule(b.ctx, s.ID); err != nil {
		t.Fatalf("DeleteSchedule: %v", err)
	}
	_, err = b.store.GetSchedule(b.ctx, s.ID)
	wantCode(t, "GetSchedule after DeleteSchedule", err, intake.ENOTFOUND)
	wantCode(t, "DeleteSchedule again", b.store.DeleteSchedule(b.ctx, s.ID), intake.ENOTFOUND)
	for _, id := range []string{"", "not-a-uuid", "'; DROP TABLE schedules; --"} {
		_, err := b.store.GetSchedule(b.ctx, id)
		wantCode(t, "GetSchedule("+id+")", err, intake.ENOTFOUND)
		wantCode(t, "DeleteSchedule("+id+")", b.store.DeleteSchedule(b.ctx, id), intake.ENOTFOUND)
		bad := edit
		bad.ID = id
		_, err = b.store.UpdateSchedule(b.ctx, &bad)
		wantCode(t, "UpdateSchedule("+id+")", err, intake.ENOTFOUND)
		if ok, err := b.store.AdvanceSchedule(b.ctx, id, now, now, ""); ok || err != nil {
			t.Errorf("AdvanceSchedule(%q) = %v, %v; want false", id, ok, err)
		}
	}
}

func testScheduleInvalid(t *testing.T, h Harness) {
	b := setup(t, h)
	now := b.clock.Now()
	tests := []struct {
		name string
		edit func(s *intake.Schedule)
	}{
		{"no source type", func(s *intake.Schedule) { s.SourceType = "" }},
		{"config not JSON", func(s *intake.Schedule) { s.Config = json.RawMessage(`{"cin":`) }},
		{"no next fire", func(s *intake.Schedule) { s.NextFireAt = time.Time{} }},
		{"unknown misfire", func(s *intake.Schedule) { s.Misfire = "sometimes" }},
		{"unknown overlap", func(s *intake.Schedule) { s.Overlap = "pile_up" }},
		{"negative jitter", func(s *intake.Schedule) { s.Jitter = -1 }},
	}
	for _, tt := range tests {
		s := newSchedule(1, now)
		tt.edit(s)
		_, err := b.store.CreateSchedule(b.ctx, s)
		wantCode(t, "CreateSchedule with "+tt.name, err, intake.EINVALID)
	}
	_, err := b.store.CreateSchedule(b.ctx, nil)
	wantCode(t, "CreateSchedule(nil)", err, intake.EINVALID)
	good := b.createSchedule(newSchedule(1, now))
	for _, tt := range tests {
		s := *good
		tt.edit(&s)
		_, err := b.store.UpdateSchedule(b.ctx, &s)
		wantCode(t, "UpdateSchedule with "+tt.name, err, intake.EINVALID)
	}
	wantSameSchedule(t, "schedule after refused updates", b.getSchedule(good.ID), good)
	if p, err := b.store.ListSchedules(b.ctx, intake.ScheduleFilter{}); err != nil || len(p.Schedules) != 1 {
		t.Errorf("ListSchedules after refused creates: %+v, %v; want 1 schedule", p, err)
	}
	_, err = b.store.ListSchedules(b.ctx, intake.ScheduleFilter{Cursor: "bm90IGEgam9iIGlk"})
	wantError(t, "ListSchedules with a bad cursor", err, intake.EINVALID, "list schedules: invalid cursor")
	_, err = b.store.AdvanceSchedule(b.ctx, good.ID, now, now, "job-1")
	wantCode(t, "AdvanceSchedule with a job ID that is not a UUID", err, intake.EINVALID)
}

func testSchedulePaging(t *testing.T, h Harness) {
	b := setup(t, h)
	var want []string
	for i := range 5 {
		s := b.createSchedule(newSchedule(i, b.clock.Now()))
		want = append([]string{s.ID}, want...) // newest first
	}
	var got []string
	f := intake.ScheduleFilter{Limit: 2}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("ListSchedules does not end")
		}
		p, err := b.store.ListSchedules(b.ctx, f)
		if err != nil {
			t.Fatalf("ListSchedules: %v", err)
		}
		if len(p.Schedules) > 2 {
			t.Errorf("page of %d schedules, want at most 2", len(p.Schedules))
		}
		for _, s := range p.Schedules {
			got = append(got, s.ID)
		}
		if p.NextCursor == "" {
			break
		}
		f.Cursor = p.NextCursor
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("paged schedule IDs %v, want %v", got, want)
	}
	empty := setup(t, h)
	if p, err := empty.store.ListSchedules(empty.ctx, intake.ScheduleFilter{}); err != nil || p.Schedules == nil ||
		len(p.Schedules) != 0 || p.NextCursor != "" {
		t.Errorf("ListSchedules on an empty store = %+v, %v; want an empty last page", p, err)
	}
}

func testScheduleDue(t *testing.T, h Harness) {
	b := setup(t, h)
	now := b.clock.Now()
	late := b.createSchedule(newSchedule(1, now.Add(-time.Minute)))
	later := b.createSchedule(newSchedule(2, now.Add(-2*time.Minute)))
	exact := b.createSchedule(newSchedule(3, now))
	future := b.createSchedule(newSchedule(4, now.Add(time.Minute)))
	paused := newSchedule(5, now.Add(-3*time.Minute))
	paused.Paused = true
	b.createSchedule(paused)

	due := func(until time.Time, limit int) []string {
		t.Helper()
		list, err := b.store.DueSchedules(b.ctx, until, limit)
		if err != nil {
			t.Fatalf("DueSchedules: %v", err)
		}
		out := []string{}
		for _, s := range list {
			out = append(out, s.ID)
		}
		return out
	}
	if got, want := due(now, 10), []string{later.ID, late.ID, exact.ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("DueSchedules(now) = %v, want %v (earliest first, not paused)", got, want)
	}
	if got, want := due(now, 1), []string{later.ID}; !reflect.DeepEqual(got, want) {
		t.Errorf("DueSchedules(now, 1) = %v, want %v", got, want)
	}
	if got := due(now.Add(time.Minute), 10); len(got) != 4 || got[3] != future.ID {
		t.Errorf("DueSchedules(now+1m) = %v, want 4 ending with %s", got, future.ID)
	}
	if got := due(now.Add(-time.Hour), 10); len(got) != 0 {
		t.Errorf("DueSchedules(an hour ago) = %v, want none", got)
	}
}

func testScheduleAdvance(t *testing.T, h Harness) {
	b := setup(t, h)
	tick := b.clock.Now().Truncate(time.Millisecond)
	s := b.createSchedule(newSchedule(1, tick))
	job := b.create(1)[0]
	next := tick.Add(time.Hour)
	b.clock.Advance(time.Second)
	if ok, err := b.store.AdvanceSchedule(b.ctx, s.ID, tick.Add(time.Millisecond), next, job.ID); ok || err != nil {
		t.Errorf("AdvanceSchedule from another tick = %v, %v; want false", ok, err)
	}
	if ok, err := b.store.AdvanceSchedule(b.ctx, s.ID, tick, next, job.ID); !ok || err != nil {
		t.Fatalf("AdvanceSchedule = %v, %v; want true", ok, err)
	}
	got := b.getSchedule(s.ID)
	wantTime(t, "NextFireAt", got.NextFireAt, next)
	wantTime(t, "LastFireAt", got.LastFireAt, tick)
	wantTime(t, "UpdatedAt", got.UpdatedAt, b.now())
	if got.LastJobID != job.ID || got.Version != s.Version+1 {
		t.Errorf("LastJobID %q Version %d; want %q and %d", got.LastJobID, got.Version, job.ID, s.Version+1)
	}
	if ok, err := b.store.AdvanceSchedule(b.ctx, s.ID, tick, next, job.ID); ok || err != nil {
		t.Errorf("AdvanceSchedule of the same tick again = %v, %v; want false", ok, err)
	}
	// A skipped tick keeps the last job.
	if ok, err := b.store.AdvanceSchedule(b.ctx, s.ID, next, next.Add(time.Hour), ""); !ok || err != nil {
		t.Fatalf("AdvanceSchedule without a job = %v, %v", ok, err)
	}
	if got := b.getSchedule(s.ID); got.LastJobID != job.ID || !got.LastFireAt.Equal(next) {
		t.Errorf("after a skip: LastJobID %q LastFireAt %v; want %q and %v", got.LastJobID, got.LastFireAt, job.ID, next)
	}
	if ok, err := b.store.AdvanceSchedule(b.ctx, intake.NewID(), tick, next, ""); ok || err != nil {
		t.Errorf("AdvanceSchedule of a missing schedule = %v, %v; want false", ok, err)
	}
}

// testScheduleExactlyOnce runs the maintenance loop's tick protocol from
// several replicas at once, tick after tick: each finds the due schedule,
// creates the tick's job under ScheduleTickKey and advances the schedule.
// One replica crashes between creating the job and advancing on every
// other tick. Every tick must produce exactly one job and one successful
// advance.
func testScheduleExactlyOnce(t *testing.T, h Harness) {
	const ticks, replicas, interval = 25, 3, time.Minute
	b := setup(t, h)
	sch := b.createSchedule(newSchedule(1, b.clock.Now()))
	var (
		mu       sync.Mutex
		jobsOf   = map[int64]map[string]bool{} // tick (unix ms) → job IDs replicas got
		advanced = map[int64]int{}
	)
	pass := func(replica, tick int) {
		due, err := b.store.DueSchedules(b.ctx, b.clock.Now(), 10)
		if err != nil {
			t.Errorf("DueSchedules: %v", err)
			return
		}
		for _, s := range due {
			at := s.NextFireAt
			jobs, err := b.store.CreateJobs(b.ctx, []*intake.Job{{Tenant: s.Tenant, SourceType: s.SourceType,
				Config: s.Config, IdempotencyKey: intake.ScheduleTickKey(s.ID, at), ScheduleID: s.ID}})
			if err != nil {
				t.Errorf("CreateJobs: %v", err)
				return
			}
			mu.Lock()
			if jobsOf[at.UnixMilli()] == nil {
				jobsOf[at.UnixMilli()] = map[string]bool{}
			}
			jobsOf[at.UnixMilli()][jobs[0].ID] = true
			mu.Unlock()
			if replica == 0 && tick%2 == 0 {
				continue // crashed before advancing
			}
			ok, err := b.store.AdvanceSchedule(b.ctx, s.ID, at, at.Add(interval), jobs[0].ID)
			if err != nil {
				t.Errorf("AdvanceSchedule: %v", err)
				return
			}
			if ok {
				mu.Lock()
				advanced[at.UnixMilli()]++
				mu.Unlock()
			}
		}
	}
	for tick := range ticks {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for r := range replicas {
			wg.Go(func() {
				<-start
				pass(r, tick)
				pass(r, tick) // a second pass finds nothing left to do
			})
		}
		close(start)
		wg.Wait()
		b.clock.Advance(interval)
	}
	if len(jobsOf) != ticks {
		t.Errorf("%d ticks produced jobs, want %d", len(jobsOf), ticks)
	}
	first := sch.NextFireAt
	var lastJob string
	for i := range ticks {
		at := first.Add(time.Duration(i) * interval).UnixMilli()
		if n := len(jobsOf[at]); n != 1 {
			t.Errorf("tick %d: %d distinct jobs, want 1", i, n)
		}
		if n := advanced[at]; n != 1 {
			t.Errorf("tick %d: %d successful advances, want 1", i, n)
		}
		for id := range jobsOf[at] {
			lastJob = id
		}
	}
	p := b.list(intake.JobFilter{Limit: intake.MaxPageSize})
	if len(p.Jobs) != ticks {
		t.Errorf("the store holds %d jobs, want %d", len(p.Jobs), ticks)
	}
	for _, j := range p.Jobs {
		if j.ScheduleID != sch.ID {
			t.Errorf("job %s has ScheduleID %q, want %q", j.ID, j.ScheduleID, sch.ID)
		}
	}
	got := b.getSchedule(sch.ID)
	wantTime(t, "NextFireAt after the ticks", got.NextFireAt, first.Add(ticks*interval))
	if got.LastJobID != lastJob {
		t.Errorf("LastJobID %q, want the last tick's job %q", got.LastJobID, lastJob)
	}
}

// scheduledJobs creates n jobs of the schedule and returns them.
func (b *bundle) scheduledJobs(scheduleID string, n int) []*intake.Job {
	b.t.Helper()
	in := make([]*intake.Job, n)
	for i := range in {
		in[i] = newJob(i)
		in[i].ScheduleID = scheduleID
	}
	out, err := b.store.CreateJobs(b.ctx, in)
	if err != nil {
		b.t.Fatalf("CreateJobs: %v", err)
	}
	return out
}

// complete claims the job and finishes it as done.
func (b *bundle) complete(id string) {
	b.t.Helper()
	owner := "done-" + id
	b.claimID(id, owner)
	if err := b.store.FinishRun(b.ctx, id, owner, true); err != nil {
		b.t.Fatalf("FinishRun(%s): %v", id, err)
	}
}

func testScheduleJobs(t *testing.T, h Harness) {
	b := setup(t, h)
	s := b.createSchedule(newSchedule(1, b.clock.Now()))
	other := b.createSchedule(newSchedule(2, b.clock.Now()))
	tick := b.clock.Now()
	if sj, err := b.store.ScheduleJobs(b.ctx, s, tick); err != nil || *sj != (intake.ScheduleJobs{}) {
		t.Errorf("ScheduleJobs without jobs = %+v, %v; want none", sj, err)
	}
	jobs := b.scheduledJobs(s.ID, 7)
	b.scheduledJobs(other.ID, 2)
	b.create(2) // jobs of no schedule
	// jobs[1] completes before jobs[0], which completes last.
	b.complete(jobs[1].ID)
	b.clock.Advance(time.Second)
	b.complete(jobs[0].ID)
	b.claimID(jobs[2].ID, "w2")
	if err := b.store.Fail(b.ctx, jobs[2].ID, "w2", "broken"); err != nil {
		t.Fatalf("Fail: %v", err)
	}
	if _, err := b.store.Cancel(b.ctx, jobs[3].ID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	b.claimID(jobs[4].ID, "w4") // processing
	b.claimID(jobs[5].ID, "w5")
	if err := b.store.Reschedule(b.ctx, jobs[5].ID, "w5", b.clock.Now().Add(time.Hour), "later", true); err != nil {
		t.Fatalf("Reschedule: %v", err)
	}
	// jobs[6] stays pending.
	sj, err := b.store.ScheduleJobs(b.ctx, s, tick)
	if err != nil {
		t.Fatalf("ScheduleJobs: %v", err)
	}
	if want := (intake.ScheduleJobs{Active: 3, LastCompletedID: jobs[0].ID}); *sj != want {
		t.Errorf("ScheduleJobs = %+v, want %+v", *sj, want)
	}
	if sj, err := b.store.ScheduleJobs(b.ctx, other, tick); err != nil || *sj != (intake.ScheduleJobs{Active: 2}) {
		t.Errorf("ScheduleJobs of the other schedule = %+v, %v; want 2 active", sj, err)
	}
	invalid := &intake.Schedule{ID: "not-a-uuid", Tenant: intake.DefaultTenant}
	if sj, err := b.store.ScheduleJobs(b.ctx, invalid, tick); err != nil || *sj != (intake.ScheduleJobs{}) {
		t.Errorf("ScheduleJobs(not-a-uuid) = %+v, %v; want none", sj, err)
	}
}

// testScheduleTickJob checks ScheduleJobs' TickJobID: the job of the tick's
// key in the schedule's tenant, whatever its status, and no other.
func testScheduleTickJob(t *testing.T, h Harness) {
	b := setup(t, h)
	s := b.createSchedule(newSchedule(1, b.clock.Now()))
	t0, t1, t2 := s.NextFireAt, s.NextFireAt.Add(time.Hour), s.NextFireAt.Add(2*time.Hour)
	tickJob := func(tenant string, tick time.Time) *intake.Job {
		j := newJob(0)
		j.Tenant, j.ScheduleID, j.IdempotencyKey = tenant, s.ID, intake.ScheduleTickKey(s.ID, tick)
		return j
	}
	created, err := b.store.CreateJobs(b.ctx, []*intake.Job{
		tickJob(s.Tenant, t0), tickJob(s.Tenant, t1), tickJob("acme", t2),
	})
	if err != nil {
		t.Fatalf("CreateJobs: %v", err)
	}
	b.complete(created[0].ID) // a tick's job is its own whatever its status
	acme := *s
	acme.Tenant = "acme"
	for _, tt := range []struct {
		name string
		s    *intake.Schedule
		tick time.Time
		want string
	}{
		{"completed job of the tick", s, t0, created[0].ID},
		{"pending job of the tick", s, t1, created[1].ID},
		{"a tick without a job", s, t1.Add(time.Millisecond), ""},
		{"a tick whose job is another tenant's", s, t2, ""},
		{"the other tenant's tick", &acme, t2, created[2].ID},
		{"the other tenant has no job of the tick", &acme, t0, ""},
	} {
		sj, err := b.store.ScheduleJobs(b.ctx, tt.s, tt.tick)
		if err != nil {
			t.Fatalf("%s: ScheduleJobs: %v", tt.name, err)
		}
		if sj.TickJobID != tt.want {
			t.Errorf("%s: TickJobID = %q, want %q", tt.name, sj.TickJobID, tt.want)
		}
		if sj.Active != 2 || sj.LastCompletedID != created[0].ID {
			t.Errorf("%s: %d active, last completed %q; want 2, %q", tt.name, sj.Active, sj.LastCompletedID, created[0].ID)
		}
	}
}

func testScheduleHealth(t *testing.T, h Harness) {
	b := setup(t, h)
	if got, err := b.store.ScheduleHealth(b.ctx); err != nil || got == nil || len(got) != 0 {
		t.Errorf("ScheduleHealth on an empty store = %v, %v; want an empty list", got, err)
	}
	s1 := b.createSchedule(newSchedule(1, b.clock.Now()))
	s2 := b.createSchedule(newSchedule(2, b.clock.Now()))
	jobs := b.scheduledJobs(s1.ID, 3)
	b.complete(jobs[0].ID)
	b.clock.Advance(time.Minute)
	b.complete(jobs[1].ID)
	last := b.now()
	b.clock.Advance(time.Minute)
	b.claimID(jobs[2].ID, "w")
	if err := b.store.Fail(b.ctx, jobs[2].ID, "w", "broken"); err != nil {
		t.Fatalf("Fail: %v", err)
	}
	got, err := b.store.ScheduleHealth(b.ctx)
	if err != nil {
		t.Fatalf("ScheduleHealth: %v", err)
	}
	if len(got) != 2 || got[0].ScheduleID != s1.ID || got[1].ScheduleID != s2.ID {
		t.Fatalf("ScheduleHealth = %+v, want %s then %s", got, s1.ID, s2.ID)
	}
	wantTime(t, "LastCompletedAt of a schedule with completed jobs", got[0].LastCompletedAt, last)
	if !got[1].LastCompletedAt.IsZero() {
		t.Errorf("LastCompletedAt of a schedule without completed jobs = %v, want zero", got[1].LastCompletedAt)
	}
}

// testCreateScheduleFields creates jobs with a schedule, a previous job and
// a notify: every read returns them.
func testCreateScheduleFields(t *testing.T, h Harness) {
	b := setup(t, h)
	prev := b.create(1)[0]
	sid := intake.NewID() // jobs outlive their schedule
	in := newJob(1)
	in.ScheduleID, in.PreviousJobID = sid, prev.ID
	in.Notify = &intake.Notify{URL: "http://127.0.0.1:9/hook", Events: []intake.Event{intake.EventJobCompleted, intake.EventJobChanged},
		Secret: "HOOK"}
	out, err := b.store.CreateJobs(b.ctx, []*intake.Job{in})
	if err != nil {
		t.Fatalf("CreateJobs: %v", err)
	}
	j := out[0]
	if j.ScheduleID != sid || j.PreviousJobID != prev.ID || !reflect.DeepEqual(j.Notify, in.Notify) ||
		!j.NotifyDueAt.IsZero() || j.NotifyAttempts != 0 {
		t.Errorf("created %+v; want the schedule, previous job and notify, nothing due", j)
	}
	wantSameJob(t, "GetJob", b.get(j.ID), j)
	wantSameJob(t, "ListJobs", b.list(intake.JobFilter{Limit: 1}).Jobs[0], j)
	if got := b.get(prev.ID); got.ScheduleID != "" || got.PreviousJobID != "" || got.Notify != nil {
		t.Errorf("a job created without them has ScheduleID %q PreviousJobID %q Notify %+v", got.ScheduleID,
			got.PreviousJobID, got.Notify)
	}
	// A crash between CreateJobs and AdvanceSchedule re-runs the tick: the
	// same key returns the same job.
	key := intake.ScheduleTickKey(sid, b.clock.Now())
	first, err := b.store.CreateJobs(b.ctx, []*intake.Job{{SourceType: "filings", IdempotencyKey: key, ScheduleID: sid}})
	if err != nil {
		t.Fatalf("CreateJobs with a tick key: %v", err)
	}
	again, err := b.store.CreateJobs(b.ctx, []*intake.Job{{SourceType: "filings", IdempotencyKey: key, ScheduleID: sid}})
	if err != nil || again[0].ID != first[0].ID {
		t.Errorf("CreateJobs with the same tick key = %v, %v; want job %s", again, err, first[0].ID)
	}
	bad := newJob(2)
	bad.ScheduleID = "schedule-1"
	_, err = b.store.CreateJobs(b.ctx, []*intake.Job{bad})
	wantCode(t, "CreateJobs with a schedule ID that is not a UUID", err, intake.EINVALID)
}
