package schedule

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/dispatch/poll"
	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/testenv"
)

// start is the test clock's start: a whole hour, so that hourly interval
// ticks fall on it.
var start = time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)

// fixture is a real sqlite store on a test clock, and a dispatcher that
// records what it is told.
type fixture struct {
	t     *testing.T
	path  string
	clock *testenv.Clock
	store *store.Store
	disp  *recordingDispatcher
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, path: filepath.Join(t.TempDir(), "intake.db"), clock: testenv.NewClock(start)}
	f.store = f.open()
	if err := f.store.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	f.disp = &recordingDispatcher{Dispatcher: poll.New()}
	t.Cleanup(func() { _ = f.disp.Close() })
	return f
}

// open opens another handle on the fixture's database, as another replica
// would.
func (f *fixture) open() *store.Store {
	f.t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+f.path, store.Options{Clock: f.clock.Now})
	if err != nil {
		f.t.Fatalf("open store: %v", err)
	}
	f.t.Cleanup(func() { _ = st.Close() })
	return st
}

// scheduler returns a Scheduler on st with its own metrics.
func (f *fixture) scheduler(st intake.Store, cfg Config) *Scheduler {
	f.t.Helper()
	cfg.Clock = f.clock.Now
	s, err := New(cfg, st, f.disp, slog.New(slog.NewTextHandler(f.t.Output(), nil)), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// schedule creates an hourly schedule whose first tick is at start.
func (f *fixture) schedule(edit func(*intake.Schedule)) *intake.Schedule {
	f.t.Helper()
	s := &intake.Schedule{
		Tenant:     intake.DefaultTenant,
		SourceType: "filings",
		Config:     json.RawMessage(`{"cin":"L00001"}`),
		Interval:   intake.Duration(time.Hour),
		NextFireAt: start,
	}
	if edit != nil {
		edit(s)
	}
	got, err := f.store.CreateSchedule(f.t.Context(), s)
	if err != nil {
		f.t.Fatalf("create schedule: %v", err)
	}
	return got
}

func (f *fixture) get(id string) *intake.Schedule {
	f.t.Helper()
	s, err := f.store.GetSchedule(f.t.Context(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// jobs returns the schedule's jobs, oldest first.
func (f *fixture) jobs(scheduleID string) []*intake.Job {
	f.t.Helper()
	var out []*intake.Job
	page, err := f.store.ListJobs(f.t.Context(), intake.JobFilter{Limit: intake.MaxPageSize})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, j := range page.Jobs {
		if j.ScheduleID == scheduleID {
			out = append(out, j)
		}
	}
	slices.Reverse(out)
	return out
}

// complete runs job id to completion as a worker would.
func (f *fixture) complete(id string) {
	f.t.Helper()
	ctx := f.t.Context()
	if _, err := f.store.Claim(ctx, intake.ClaimParams{Owner: "w-" + id, LeaseTTL: time.Minute, JobID: id}); err != nil {
		f.t.Fatalf("claim: %v", err)
	}
	if err := f.store.FinishRun(ctx, id, "w-"+id, true); err != nil {
		f.t.Fatalf("finish: %v", err)
	}
}

func (f *fixture) fireDue(s *Scheduler) int {
	f.t.Helper()
	n, err := s.FireDue(f.t.Context())
	if err != nil {
		f.t.Fatalf("FireDue: %v", err)
	}
	return n
}

type recordingDispatcher struct {
	intake.Dispatcher
	mu  sync.Mutex
	ids []string
}

// Notify implements intake.Dispatcher.
func (d *recordingDispatcher) Notify(ctx context.Context, ids ...string) error {
	d.mu.Lock()
	d.ids = append(d.ids, ids...)
	d.mu.Unlock()
	return d.Dispatcher.Notify(ctx, ids...)
}

func (d *recordingDispatcher) notified(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Contains(d.ids, id)
}

// TestFireDueExactlyOnce races three Schedulers, each on its own handle of
// the database, over ten ticks: each tick makes exactly one job, and the
// three count exactly one fire per tick between them.
func TestFireDueExactlyOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sch := f.schedule(nil)
	var replicas []*Scheduler
	for range 3 {
		replicas = append(replicas, f.scheduler(f.open(), Config{}))
	}
	const ticks = 10
	for tick := range ticks {
		var wg sync.WaitGroup
		fired := make([]int, len(replicas))
		for i, r := range replicas {
			wg.Go(func() {
				n, err := r.FireDue(t.Context())
				if err != nil {
					t.Errorf("replica %d: FireDue: %v", i, err)
				}
				fired[i] = n
			})
		}
		wg.Wait()
		jobs := f.jobs(sch.ID)
		if len(jobs) != tick+1 {
			t.Fatalf("tick %d: %d jobs, want %d", tick, len(jobs), tick+1)
		}
		if sum := fired[0] + fired[1] + fired[2]; sum != 1 {
			t.Fatalf("tick %d: replicas fired %v, want one fire in all", tick, fired)
		}
		last := jobs[len(jobs)-1]
		got := f.get(sch.ID)
		wantTick := start.Add(time.Duration(tick) * time.Hour)
		if got.LastJobID != last.ID || !got.LastFireAt.Equal(wantTick) || !got.NextFireAt.Equal(wantTick.Add(time.Hour)) {
			t.Fatalf("tick %d: schedule last job %s at %s, next %s; want %s at %s, next %s", tick,
				got.LastJobID, got.LastFireAt, got.NextFireAt, last.ID, wantTick, wantTick.Add(time.Hour))
		}
		if last.IdempotencyKey != intake.ScheduleTickKey(sch.ID, wantTick) || !f.disp.notified(last.ID) {
			t.Fatalf("tick %d: job key %q, announced %v", tick, last.IdempotencyKey, f.disp.notified(last.ID))
		}
		f.complete(last.ID)
		f.clock.Advance(time.Hour)
	}
	var fires float64
	for _, r := range replicas {
		fires += testutil.ToFloat64(r.metrics.fires)
		if n := testutil.ToFloat64(r.metrics.misfires); n != 0 {
			t.Errorf("misfires = %v, want 0", n)
		}
	}
	if fires != ticks {
		t.Fatalf("fires across replicas = %v, want %d", fires, ticks)
	}
}

// TestFireDueMisfire checks both policies with a tick handled late, and
// with ticks missed.
func TestFireDueMisfire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		policy   intake.MisfirePolicy
		late     time.Duration
		jobs     int
		misfired bool
		next     time.Time
	}{
		{"fire once within grace", intake.MisfireFireOnce, time.Minute, 1, false, start.Add(time.Hour)},
		{"skip within grace", intake.MisfireSkip, time.Minute, 1, false, start.Add(time.Hour)},
		{"fire once past grace", intake.MisfireFireOnce, 2 * time.Minute, 1, true, start.Add(time.Hour)},
		{"skip past grace", intake.MisfireSkip, 2 * time.Minute, 0, true, start.Add(time.Hour)},
		{"fire once for five missed ticks", intake.MisfireFireOnce, 5*time.Hour + time.Second, 1, true, start.Add(6 * time.Hour)},
		{"skip five missed ticks", intake.MisfireSkip, 5*time.Hour + time.Second, 0, true, start.Add(6 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			sch := f.schedule(func(s *intake.Schedule) { s.Misfire = tt.policy })
			s := f.scheduler(f.store, Config{})
			f.clock.Advance(tt.late)
			fired := f.fireDue(s)
			if fired != tt.jobs || len(f.jobs(sch.ID)) != tt.jobs {
				t.Fatalf("fired %d, %d jobs; want %d", fired, len(f.jobs(sch.ID)), tt.jobs)
			}
			if got := f.get(sch.ID); !got.NextFireAt.Equal(tt.next) || !got.LastFireAt.Equal(start) {
				t.Fatalf("next %s, last %s; want %s, %s", got.NextFireAt, got.LastFireAt, tt.next, start)
			}
			wantMisfires, wantSkips := 0.0, 0.0
			if tt.misfired {
				wantMisfires = 1
			}
			if tt.jobs == 0 {
				wantSkips = 1
			}
			if n := testutil.ToFloat64(s.metrics.misfires); n != wantMisfires {
				t.Errorf("misfires = %v, want %v", n, wantMisfires)
			}
			if n := testutil.ToFloat64(s.metrics.skips.WithLabelValues("misfire")); n != wantSkips {
				t.Errorf("skips{misfire} = %v, want %v", n, wantSkips)
			}
			if n := f.fireDue(s); n != 0 {
				t.Fatalf("a second pass fired %d", n)
			}
		})
	}
}

// TestFireDueOverlap checks the overlap policies against the schedule's
// jobs that have not ended.
func TestFireDueOverlap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy intake.OverlapPolicy
		active int
		fires  bool
	}{
		{"skip, none active", intake.OverlapSkip, 0, true},
		{"skip, one active", intake.OverlapSkip, 1, false},
		{"default is skip", "", 1, false},
		{"queue one, one active", intake.OverlapQueueOne, 1, true},
		{"queue one, two active", intake.OverlapQueueOne, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			sch := f.schedule(func(s *intake.Schedule) { s.Overlap = tt.policy })
			s := f.scheduler(f.store, Config{})
			for i := range tt.active {
				// Jobs of earlier ticks that have not ended.
				j := s.job(sch, "")
				j.IdempotencyKey = intake.ScheduleTickKey(sch.ID, start.Add(-time.Duration(i+1)*time.Hour))
				if _, err := f.store.CreateJobs(t.Context(), []*intake.Job{j}); err != nil {
					t.Fatal(err)
				}
			}
			fired := f.fireDue(s)
			want, skips := 0, 1.0
			if tt.fires {
				want, skips = 1, 0
			}
			if fired != want || len(f.jobs(sch.ID)) != tt.active+want {
				t.Fatalf("fired %d, %d jobs; want %d, %d", fired, len(f.jobs(sch.ID)), want, tt.active+want)
			}
			if n := testutil.ToFloat64(s.metrics.skips.WithLabelValues("overlap")); n != skips {
				t.Errorf("skips{overlap} = %v, want %v", n, skips)
			}
			if got := f.get(sch.ID); !got.NextFireAt.Equal(start.Add(time.Hour)) {
				t.Errorf("next %s, want %s", got.NextFireAt, start.Add(time.Hour))
			}
		})
	}
}

// TestFireDueJob checks the job a tick creates: the schedule's source,
// its previous completed job and its Notify, or the deployment default.
func TestFireDueJob(t *testing.T) {
	t.Parallel()
	def := &intake.Notify{URL: "https://hooks.example.com/default", Secret: "HOOK"}
	own := &intake.Notify{URL: "https://hooks.example.com/own", Events: []intake.Event{intake.EventJobChanged}, Secret: "OWN"}
	for _, tt := range []struct {
		name   string
		notify *intake.Notify
		want   *intake.Notify
	}{
		{"default notify", nil, def},
		{"own notify", own, own},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			sch := f.schedule(func(s *intake.Schedule) { s.Notify = tt.notify })
			s := f.scheduler(f.store, Config{DefaultNotify: def})
			f.fireDue(s)
			first := f.jobs(sch.ID)[0]
			if first.PreviousJobID != "" || first.SourceType != "filings" || first.Tenant != intake.DefaultTenant {
				t.Fatalf("first job %+v", first)
			}
			if first.Notify == nil || first.Notify.URL != tt.want.URL || first.Notify.Secret != tt.want.Secret || !slices.Equal(first.Notify.Events, tt.want.Events) {
				t.Fatalf("notify %+v, want %+v", first.Notify, tt.want)
			}
			f.complete(first.ID)
			f.clock.Advance(time.Hour)
			f.fireDue(s)
			second := f.jobs(sch.ID)[1]
			if second.PreviousJobID != first.ID {
				t.Fatalf("previous job %q, want %q", second.PreviousJobID, first.ID)
			}
		})
	}
}

// TestFireDueAfterCrash checks a tick whose job was created by a replica
// that crashed before it advanced the schedule (or that is about to
// advance): the next pass finds the job by the tick's key and records the
// tick as fired with it, whatever the policies, creating no other job. The
// job is not one of the schedule's active jobs that would overlap it, nor
// is its tick skipped as misfired.
func TestFireDueAfterCrash(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		overlap  intake.OverlapPolicy
		misfire  intake.MisfirePolicy
		late     time.Duration
		misfired bool
	}{
		{"queue one", intake.OverlapQueueOne, intake.MisfireFireOnce, 0, false},
		{"overlap skip", intake.OverlapSkip, intake.MisfireFireOnce, 0, false},
		{"misfire skip past grace", intake.OverlapSkip, intake.MisfireSkip, 2 * time.Minute, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			sch := f.schedule(func(s *intake.Schedule) { s.Overlap, s.Misfire = tt.overlap, tt.misfire })
			s := f.scheduler(f.store, Config{})
			created, err := f.store.CreateJobs(t.Context(), []*intake.Job{s.job(sch, "")})
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(tt.late)
			if n := f.fireDue(s); n != 1 {
				t.Fatalf("fired %d, want 1", n)
			}
			jobs := f.jobs(sch.ID)
			got := f.get(sch.ID)
			if len(jobs) != 1 || jobs[0].ID != created[0].ID || !got.NextFireAt.Equal(start.Add(time.Hour)) {
				t.Fatalf("%d jobs (first %s), next %s; want only %s, next %s", len(jobs), jobs[0].ID, got.NextFireAt, created[0].ID, start.Add(time.Hour))
			}
			if got.LastJobID != created[0].ID || !got.LastFireAt.Equal(start) || !f.disp.notified(created[0].ID) {
				t.Fatalf("last job %q at %s, announced %v; want %s at %s, announced", got.LastJobID, got.LastFireAt,
					f.disp.notified(created[0].ID), created[0].ID, start)
			}
			wantMisfires := 0.0
			if tt.misfired {
				wantMisfires = 1
			}
			wantCounts(t, s, 1, 0, wantMisfires)
		})
	}
}

// wantCounts checks a Scheduler's fires, skips (of both reasons) and
// misfires.
func wantCounts(t *testing.T, s *Scheduler, fires, skips, misfires float64) {
	t.Helper()
	gotSkips := testutil.ToFloat64(s.metrics.skips.WithLabelValues("overlap")) + testutil.ToFloat64(s.metrics.skips.WithLabelValues("misfire"))
	if f, m := testutil.ToFloat64(s.metrics.fires), testutil.ToFloat64(s.metrics.misfires); f != fires || gotSkips != skips || m != misfires {
		t.Errorf("counted %v fires, %v skips, %v misfires; want %v, %v, %v", f, gotSkips, m, fires, skips, misfires)
	}
}

// interleaved is a real store on which another replica acts, once, right
// before the Scheduler calls a method: the interleavings that races between
// replicas produce.
type interleaved struct {
	intake.Store
	before map[string]func()
}

func (s *interleaved) run(method string) {
	if fn := s.before[method]; fn != nil {
		delete(s.before, method)
		fn()
	}
}

// GetSchedule implements intake.Store.
func (s *interleaved) GetSchedule(ctx context.Context, id string) (*intake.Schedule, error) {
	s.run("GetSchedule")
	return s.Store.GetSchedule(ctx, id)
}

// AdvanceSchedule implements intake.Store.
func (s *interleaved) AdvanceSchedule(ctx context.Context, id string, from, next time.Time, jobID string) (bool, error) {
	s.run("AdvanceSchedule")
	return s.Store.AdvanceSchedule(ctx, id, from, next, jobID)
}

// TestFireDueRaces checks the ticks that two replicas decide differently,
// one skipping while an earlier job runs and the other firing after it
// ended: the tick is counted once, as a fire exactly when it has a job.
func TestFireDueRaces(t *testing.T) {
	t.Parallel()
	t.Run("job created before the skip advances", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		sch := f.schedule(nil)
		other := f.open()
		st := &interleaved{Store: f.open()}
		s := f.scheduler(st, Config{})
		earlier := f.earlierJob(s, sch)
		var tickJob *intake.Job
		st.before = map[string]func(){"AdvanceSchedule": func() {
			// The earlier job ends, and another replica fires the tick
			// (and then loses the advance).
			f.complete(earlier.ID)
			created, err := other.CreateJobs(t.Context(), []*intake.Job{s.job(sch, earlier.ID)})
			if err != nil {
				t.Fatal(err)
			}
			tickJob = created[0]
		}}
		if n := f.fireDue(s); n != 1 {
			t.Fatalf("fired %d, want 1", n)
		}
		wantCounts(t, s, 1, 0, 0)
		if got := f.get(sch.ID); !got.NextFireAt.Equal(start.Add(time.Hour)) || !f.disp.notified(tickJob.ID) {
			t.Fatalf("next %s, tick's job announced %v; want %s, announced", got.NextFireAt, f.disp.notified(tickJob.ID), start.Add(time.Hour))
		}
	})
	t.Run("tick skipped before the fire creates its job", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		sch := f.schedule(nil)
		other := f.open()
		st := &interleaved{Store: f.open()}
		s := f.scheduler(st, Config{})
		st.before = map[string]func(){"GetSchedule": func() {
			// Another replica saw an earlier job running and skipped.
			if ok, err := other.AdvanceSchedule(t.Context(), sch.ID, start, start.Add(time.Hour), ""); err != nil || !ok {
				t.Fatalf("advance = %v, %v", ok, err)
			}
		}}
		if n := f.fireDue(s); n != 0 {
			t.Fatalf("fired %d, want 0", n)
		}
		wantCounts(t, s, 0, 0, 0)
		if jobs := f.jobs(sch.ID); len(jobs) != 0 {
			t.Fatalf("%d jobs of a skipped tick", len(jobs))
		}
	})
}

// earlierJob creates a job of sch's tick before start, which has not ended.
func (f *fixture) earlierJob(s *Scheduler, sch *intake.Schedule) *intake.Job {
	f.t.Helper()
	j := s.job(sch, "")
	j.IdempotencyKey = intake.ScheduleTickKey(sch.ID, start.Add(-time.Hour))
	created, err := f.store.CreateJobs(f.t.Context(), []*intake.Job{j})
	if err != nil {
		f.t.Fatal(err)
	}
	return created[0]
}

// TestFireDueWaits checks that nothing fires before a tick's jittered
// time, and that a paused schedule does not fire.
func TestFireDueWaits(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	jittered := f.schedule(func(s *intake.Schedule) { s.Jitter = intake.Duration(30 * time.Minute) })
	paused := f.schedule(func(s *intake.Schedule) { s.Paused = true })
	s := f.scheduler(f.store, Config{})
	at := FireAt(jittered, start)
	if !at.After(start) {
		t.Fatal("the schedule needs a jitter at its tick")
	}
	f.clock.Advance(at.Sub(start) - time.Millisecond)
	if n := f.fireDue(s); n != 0 {
		t.Fatalf("fired %d before the jittered time", n)
	}
	f.clock.Advance(time.Millisecond)
	if n := f.fireDue(s); n != 1 || len(f.jobs(jittered.ID)) != 1 || len(f.jobs(paused.ID)) != 0 {
		t.Fatalf("fired %d: %d jittered jobs, %d paused jobs; want 1, 1, 0", n, len(f.jobs(jittered.ID)), len(f.jobs(paused.ID)))
	}
}
