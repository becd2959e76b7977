package schedule

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
)

// Defaults of Config.
const (
	DefaultMisfireGrace = time.Minute
	DefaultBatch        = 100
)

// Config configures a Scheduler. Zero fields take the documented defaults.
type Config struct {
	// MisfireGrace is how late a tick's job may fire before the tick
	// counts as misfired (and the schedule's Misfire policy applies).
	// Default 1m.
	MisfireGrace time.Duration
	// Batch is how many due schedules one pass reads. Default 100.
	Batch int
	// DefaultNotify is copied onto the jobs of schedules without a Notify
	// (INTAKE_WEBHOOK_URL); nil for none.
	DefaultNotify *intake.Notify
	// Clock returns the current time. Default time.Now.
	Clock func() time.Time
}

func (c Config) withDefaults() (Config, error) {
	c.MisfireGrace = cmp.Or(c.MisfireGrace, DefaultMisfireGrace)
	c.Batch = cmp.Or(c.Batch, DefaultBatch)
	if c.Clock == nil {
		c.Clock = time.Now
	}
	switch {
	case c.MisfireGrace < 0:
		return c, intake.Errorf(intake.EINVALID, "misfire grace must not be negative, got %s", c.MisfireGrace)
	case c.Batch < 1 || c.Batch > intake.MaxPageSize:
		return c, intake.Errorf(intake.EINVALID, "schedule batch must be in [1, %d], got %d", intake.MaxPageSize, c.Batch)
	}
	return c, nil
}

// Scheduler fires due schedules. Several replicas may run it at once, and
// each tick is counted once, by the replica whose AdvanceSchedule moves the
// schedule on: as a fire when the tick has a job, as a skip when it has
// none. A tick's job has the idempotency key ScheduleTickKey, so replicas
// that fire the same tick get the same job; and a replica that finds the
// tick's job already created (by a replica that is about to advance, lost
// the race, or crashed before advancing) records the tick as fired with
// that job rather than checking it against the misfire and overlap
// policies, which it would otherwise see as one of the schedule's active
// jobs.
//
// Replicas may still disagree on a tick: one reads the schedule's jobs
// while an earlier job is running and skips, another reads them after it
// ended and fires. A replica therefore creates a job only for a schedule
// that no replica has handled since it read it (GetSchedule, right before
// CreateJobs), and a replica that skips looks for the tick's job again once
// it has advanced, counting a fire when another replica created one
// meanwhile; the schedule's LastJobID is then left at the previous fire.
type Scheduler struct {
	cfg     Config
	store   intake.Store
	disp    intake.Dispatcher
	logger  *slog.Logger
	metrics *metrics
}

// New returns a Scheduler whose metrics are registered on reg (nil
// registers nothing).
func New(cfg Config, store intake.Store, disp intake.Dispatcher, logger *slog.Logger, reg prometheus.Registerer) (*Scheduler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("new scheduler: %w", err)
	}
	if store == nil || disp == nil || logger == nil {
		return nil, intake.Errorf(intake.EINVALID, "new scheduler: store, dispatcher and logger are required")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("new scheduler: %w", err)
	}
	return &Scheduler{cfg: cfg, store: store, disp: disp, logger: logger.With("component", "scheduler"), metrics: m}, nil
}

// action is what a pass does with a due tick.
type action int

const (
	actionWait         action = iota // the tick's jittered time has not come
	actionFire                       // create the tick's job
	actionSkipMisfire                // move on: the tick misfired and the policy skips
	actionCheckOverlap               // fire unless the schedule's jobs overlap
)

// decide returns what to do with schedule s's tick T at now, whether the
// tick misfired, and the tick to move on to: the first after now, so that
// missed ticks collapse into one.
func decide(s *intake.Schedule, now time.Time, grace time.Duration) (act action, misfired bool, next time.Time, err error) {
	tick := s.NextFireAt
	fireAt := FireAt(s, tick)
	if fireAt.After(now) {
		return actionWait, false, time.Time{}, nil
	}
	if next, err = Next(s, now); err != nil {
		return 0, false, time.Time{}, err
	}
	following, err := Next(s, tick)
	if err != nil {
		return 0, false, time.Time{}, err
	}
	misfired = !following.After(now) || now.Sub(fireAt) > grace
	if misfired && s.Misfire == intake.MisfireSkip {
		return actionSkipMisfire, true, next, nil
	}
	return actionCheckOverlap, misfired, next, nil
}

// overlaps reports whether the schedule's policy skips a tick while active
// of its jobs have not ended.
func overlaps(p intake.OverlapPolicy, active int) bool {
	if p == intake.OverlapQueueOne {
		return active >= 2
	}
	return active >= 1
}

// FireDue handles every due tick: it fires the tick's job, or skips the
// tick by the schedule's misfire or overlap policy, and moves the schedule
// on to its next tick. A schedule that fails is logged and left for the
// next pass; FireDue returns how many jobs it fired and the errors.
func (s *Scheduler) FireDue(ctx context.Context) (int, error) {
	now := s.cfg.Clock()
	due, err := s.store.DueSchedules(ctx, now, s.cfg.Batch)
	if err != nil {
		return 0, fmt.Errorf("due schedules: %w", err)
	}
	fired := 0
	var errs []error
	for _, sch := range due {
		ok, err := s.handle(ctx, sch, now)
		if err != nil {
			if ctx.Err() != nil {
				return fired, ctx.Err()
			}
			errs = append(errs, fmt.Errorf("schedule %s: %w", sch.ID, err))
			s.logger.ErrorContext(ctx, "schedule tick", "schedule_id", sch.ID, "tick", sch.NextFireAt, "err", err)
			continue
		}
		if ok {
			fired++
		}
	}
	return fired, errors.Join(errs...)
}

// handle handles the due tick of sch and reports whether it fired a job.
func (s *Scheduler) handle(ctx context.Context, sch *intake.Schedule, now time.Time) (bool, error) {
	act, misfired, next, err := decide(sch, now, s.cfg.MisfireGrace)
	if err != nil || act == actionWait {
		return false, err
	}
	jobs, err := s.store.ScheduleJobs(ctx, sch, sch.NextFireAt)
	if err != nil {
		return false, fmt.Errorf("schedule jobs: %w", err)
	}
	switch {
	case jobs.TickJobID != "":
		return s.fired(ctx, sch, next, misfired, jobs.TickJobID)
	case act == actionSkipMisfire:
		return s.skip(ctx, sch, next, misfired, "misfire")
	case overlaps(sch.Overlap, jobs.Active):
		return s.skip(ctx, sch, next, misfired, "overlap")
	}
	return s.fire(ctx, sch, next, misfired, jobs.LastCompletedID)
}

// fire creates the job of sch's tick, comparing with previous, and moves
// sch on to next. It creates nothing, and leaves the tick to the next pass,
// when sch changed since it was read: another replica handled the tick, or
// a client edited, paused or deleted the schedule.
func (s *Scheduler) fire(ctx context.Context, sch *intake.Schedule, next time.Time, misfired bool, previous string) (bool, error) {
	cur, err := s.store.GetSchedule(ctx, sch.ID)
	if intake.ErrorCode(err) == intake.ENOTFOUND {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get schedule: %w", err)
	}
	if cur.Version != sch.Version {
		return false, nil
	}
	created, err := s.store.CreateJobs(ctx, []*intake.Job{s.job(sch, previous)})
	if err != nil {
		return false, fmt.Errorf("create job: %w", err)
	}
	return s.fired(ctx, sch, next, misfired, created[0].ID)
}

// fired moves sch on from its tick, whose job is jobID, to next, and
// counts the fire and announces the job when this replica advanced it.
func (s *Scheduler) fired(ctx context.Context, sch *intake.Schedule, next time.Time, misfired bool, jobID string) (bool, error) {
	advanced, err := s.store.AdvanceSchedule(ctx, sch.ID, sch.NextFireAt, next, jobID)
	if err != nil {
		return false, fmt.Errorf("advance: %w", err)
	}
	if !advanced {
		return false, nil // another replica handled the tick
	}
	s.countFire(ctx, sch, next, misfired, jobID)
	return true, nil
}

// countFire counts the fire of sch's tick with its job jobID and announces
// the job.
func (s *Scheduler) countFire(ctx context.Context, sch *intake.Schedule, next time.Time, misfired bool, jobID string) {
	s.metrics.fires.Inc()
	if misfired {
		s.metrics.misfires.Inc()
	}
	s.logger.InfoContext(ctx, "schedule fired", "schedule_id", sch.ID, "tick", sch.NextFireAt, "job_id", jobID,
		"misfired", misfired, "next_tick", next)
	// Workers poll the store regardless: a lost announcement costs latency.
	if err := s.disp.Notify(ctx, jobID); err != nil {
		s.logger.WarnContext(ctx, "announce scheduled job", "job_id", jobID, "err", err)
	}
}

// job is the job of a tick of sch.
func (s *Scheduler) job(sch *intake.Schedule, previous string) *intake.Job {
	notify := sch.Notify
	if notify == nil {
		notify = s.cfg.DefaultNotify
	}
	return &intake.Job{
		Tenant:         sch.Tenant,
		SourceType:     sch.SourceType,
		Config:         sch.Config,
		IdempotencyKey: intake.ScheduleTickKey(sch.ID, sch.NextFireAt),
		ScheduleID:     sch.ID,
		PreviousJobID:  previous,
		Notify:         notify,
	}
}

// skip moves sch on to next without a job and, when this replica advanced
// it, counts the skip (and the misfire). A replica that decided to fire the
// tick may have created its job after this one looked: skip looks again
// once it has advanced, and counts a fire when there is one. Only a replica
// that checked the schedule before the advance, and created the job after
// the second look, goes unseen.
func (s *Scheduler) skip(ctx context.Context, sch *intake.Schedule, next time.Time, misfired bool, reason string) (bool, error) {
	tick := sch.NextFireAt
	advanced, err := s.store.AdvanceSchedule(ctx, sch.ID, tick, next, "")
	if err != nil {
		return false, fmt.Errorf("advance: %w", err)
	}
	if !advanced {
		return false, nil
	}
	jobs, err := s.store.ScheduleJobs(ctx, sch, tick)
	if err != nil {
		s.logger.WarnContext(ctx, "look for a skipped tick's job", "schedule_id", sch.ID, "tick", tick, "err", err)
		jobs = &intake.ScheduleJobs{}
	}
	if jobs.TickJobID != "" {
		s.countFire(ctx, sch, next, misfired, jobs.TickJobID)
		return true, nil
	}
	s.metrics.skips.WithLabelValues(reason).Inc()
	if misfired {
		s.metrics.misfires.Inc()
	}
	s.logger.InfoContext(ctx, "schedule tick skipped", "schedule_id", sch.ID, "tick", tick, "reason", reason, "next_tick", next)
	return false, nil
}

type metrics struct {
	fires    prometheus.Counter
	skips    *prometheus.CounterVec
	misfires prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		fires: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "intake_schedule_fires_total",
			Help: "Schedule ticks that created a job (counted once across replicas).",
		}),
		skips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intake_schedule_skips_total",
			Help: "Schedule ticks skipped without a job, by reason: overlap (earlier jobs still running) or misfire (missed, and the policy skips).",
		}, []string{"reason"}),
		misfires: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "intake_schedule_misfires_total",
			Help: "Schedule ticks handled late: a later tick was also due, or the job would start more than the misfire grace late.",
		}),
	}
	var errs [3]error
	m.fires, errs[0] = register(reg, m.fires)
	m.skips, errs[1] = register(reg, m.skips)
	m.misfires, errs[2] = register(reg, m.misfires)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	m.skips.WithLabelValues("overlap")
	m.skips.WithLabelValues("misfire")
	return m, nil
}

// register registers c on reg, or returns the collector reg already holds
// under the same description, so that two Schedulers in one process share
// their metrics. A nil reg registers nothing.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register metrics: %w", err)
}
