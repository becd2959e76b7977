package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/telemetry"
)

// MaintainerConfig configures a Maintainer. Zero fields take the documented
// defaults.
type MaintainerConfig struct {
	// Interval is the time between maintenance passes. Default 5s.
	Interval time.Duration
	// MaxAttempts is passed to Store.Maintain: a job whose lease expired on
	// its last attempt fails. Default 5, as for the Worker.
	MaxAttempts int
	// OrphanInterval is the time between orphan-blob sweeps; a negative
	// value disables them. Default 10m.
	OrphanInterval time.Duration
	// LeaseTTL is the workers' lease TTL, used for OrphanGrace's default.
	// Default 60s.
	LeaseTTL time.Duration
	// OrphanGrace is how old an unreferenced blob must be before the sweep
	// deletes it, so that a run between Put and RecordDocument keeps its
	// blob. Default 2×LeaseTTL + 1m.
	OrphanGrace time.Duration
	// OrphanBatch is how many blob keys one ReferencedBlobKeys call checks.
	// Default 500.
	OrphanBatch int
	// Clock returns the current time, compared with blob modification
	// times. Default time.Now.
	Clock func() time.Time
	// Scheduler fires due schedules on every pass (schedule.Scheduler);
	// nil skips them.
	Scheduler ScheduleFirer
	// Deliverer delivers due webhook notifications (webhook.Deliverer)
	// every Interval, in a loop of its own so that a slow endpoint does not
	// hold up the other tasks; nil skips them.
	Deliverer NotificationDeliverer
}

// ScheduleFirer fires the schedules that are due; schedule.Scheduler
// implements it.
type ScheduleFirer interface {
	// FireDue handles every due tick and returns how many jobs it fired.
	FireDue(ctx context.Context) (int, error)
}

// NotificationDeliverer delivers the notifications that are due;
// webhook.Deliverer implements it.
type NotificationDeliverer interface {
	// DeliverDue claims, delivers and settles due notifications and
	// returns how many it settled.
	DeliverDue(ctx context.Context) (int, error)
}

// Defaults of MaintainerConfig.
const (
	DefaultMaintainInterval = 5 * time.Second
	DefaultOrphanInterval   = 10 * time.Minute
	DefaultOrphanBatch      = 500
)

func (c MaintainerConfig) withDefaults() (MaintainerConfig, error) {
	c.Interval = cmp.Or(c.Interval, DefaultMaintainInterval)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, DefaultMaxAttempts)
	c.OrphanInterval = cmp.Or(c.OrphanInterval, DefaultOrphanInterval)
	c.LeaseTTL = cmp.Or(c.LeaseTTL, DefaultLeaseTTL)
	c.OrphanGrace = cmp.Or(c.OrphanGrace, 2*c.LeaseTTL+time.Minute)
	c.OrphanBatch = cmp.Or(c.OrphanBatch, DefaultOrphanBatch)
	if c.Clock == nil {
		c.Clock = time.Now
	}
	switch {
	case c.Interval < 0:
		return c, intake.Errorf(intake.EINVALID, "maintenance interval must be positive, got %s", c.Interval)
	case c.MaxAttempts < 1:
		return c, intake.Errorf(intake.EINVALID, "max attempts must be at least 1, got %d", c.MaxAttempts)
	case c.OrphanGrace < 0:
		return c, intake.Errorf(intake.EINVALID, "orphan grace must not be negative, got %s", c.OrphanGrace)
	case c.OrphanBatch < 1 || c.OrphanBatch > intake.MaxPageSize:
		return c, intake.Errorf(intake.EINVALID, "orphan batch must be in [1, %d], got %d", intake.MaxPageSize, c.OrphanBatch)
	}
	return c, nil
}

// Maintainer runs the maintenance loop: it promotes due scheduled jobs and
// jobs whose lease expired back to pending and announces them, fires due
// schedules, delivers due webhook notifications, and sweeps blobs that no
// document references. Several replicas may run it at once. Each task is
// guarded: one that fails or panics is logged and counted, and the others
// go on.
type Maintainer struct {
	cfg     MaintainerConfig
	store   intake.Store
	blobs   intake.BlobStore
	disp    intake.Dispatcher
	logger  *slog.Logger
	metrics *maintainerMetrics
}

// NewMaintainer returns a Maintainer. Its metrics are registered on reg as
// New does for a Worker.
func NewMaintainer(cfg MaintainerConfig, store intake.Store, blobs intake.BlobStore, disp intake.Dispatcher, logger *slog.Logger, reg prometheus.Registerer) (*Maintainer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("new maintainer: %w", err)
	}
	if store == nil || blobs == nil || disp == nil || logger == nil {
		return nil, intake.Errorf(intake.EINVALID, "new maintainer: store, blobs, dispatcher and logger are required")
	}
	m, err := newMaintainerMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("new maintainer: %w", err)
	}
	return &Maintainer{cfg: cfg, store: store, blobs: blobs, disp: disp, logger: logger.With("component", "maintainer"), metrics: m}, nil
}

// Run makes a maintenance pass (jobs, then schedules) every Interval, a
// delivery pass every Interval in a goroutine of its own, and an orphan
// sweep every OrphanInterval (the first after a random part of it, so that
// replicas started together spread out), until ctx is done. Failed passes
// are logged and retried at the next tick. It returns nil when ctx is done
// and the delivery pass in progress, if any, has ended.
func (m *Maintainer) Run(ctx context.Context) error {
	var deliveries sync.WaitGroup
	defer deliveries.Wait()
	if m.cfg.Deliverer != nil {
		deliveries.Go(func() { m.deliverLoop(ctx) })
	}
	tick := time.NewTicker(m.cfg.Interval)
	defer tick.Stop()
	sweep := time.NewTimer(time.Hour)
	sweep.Stop() // a stopped timer never fires: sweeps stay disabled
	if m.cfg.OrphanInterval > 0 {
		sweep.Reset(rand.N(m.cfg.OrphanInterval) + time.Second) //nolint:gosec // jitter needs no cryptographic randomness
	}
	defer sweep.Stop()
	m.logger.Info("maintenance loop started", "interval", m.cfg.Interval, "orphan_interval", m.cfg.OrphanInterval)
	for {
		if err := m.pass(ctx); err != nil && ctx.Err() == nil {
			m.logger.Error("maintenance pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-sweep.C:
			sweep.Reset(m.cfg.OrphanInterval)
			sweepOnce := func(ctx context.Context) error { _, err := m.SweepOrphans(ctx); return err }
			if err := m.guard(ctx, panicSweep, sweepOnce); err != nil && ctx.Err() == nil {
				m.logger.Error("orphan sweep", "err", err)
			}
		}
	}
}

// guard runs one maintenance task and turns a panic in it into an error,
// logged and counted, so that the loop (and the process) goes on.
func (m *Maintainer) guard(ctx context.Context, component string, task func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = recovered(ctx, m.logger, m.metrics.panics, component, v)
		}
	}()
	return task(ctx)
}

// deliverLoop makes a delivery pass every Interval until ctx is done.
func (m *Maintainer) deliverLoop(ctx context.Context) {
	tick := time.NewTicker(m.cfg.Interval)
	defer tick.Stop()
	for {
		if err := m.guard(ctx, panicWebhooks, m.deliverNotifications); err != nil && ctx.Err() == nil {
			m.logger.Error("webhook delivery pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// RunOnce makes one maintenance pass and one delivery pass: it promotes
// jobs (Store.Maintain) and announces them, fires due schedules and
// delivers due notifications. A task that fails does not stop the others;
// their errors are joined.
func (m *Maintainer) RunOnce(ctx context.Context) error {
	return errors.Join(m.pass(ctx), m.guard(ctx, panicWebhooks, m.deliverNotifications))
}

// pass runs the job and schedule tasks, each guarded.
func (m *Maintainer) pass(ctx context.Context) error {
	return errors.Join(
		m.guard(ctx, panicMaintenance, m.maintainJobs),
		m.guard(ctx, panicSchedules, m.fireSchedules),
	)
}

// fireSchedules fires due schedules, when the Maintainer has a Scheduler.
func (m *Maintainer) fireSchedules(ctx context.Context) error {
	if m.cfg.Scheduler == nil {
		return nil
	}
	if _, err := m.cfg.Scheduler.FireDue(ctx); err != nil {
		m.metrics.runs.WithLabelValues("schedules", "error").Inc()
		return fmt.Errorf("fire schedules: %w", err)
	}
	m.metrics.runs.WithLabelValues("schedules", "ok").Inc()
	return nil
}

// deliverNotifications delivers due notifications, when the Maintainer
// has a Deliverer.
func (m *Maintainer) deliverNotifications(ctx context.Context) error {
	if m.cfg.Deliverer == nil {
		return nil
	}
	if _, err := m.cfg.Deliverer.DeliverDue(ctx); err != nil {
		m.metrics.runs.WithLabelValues("webhooks", "error").Inc()
		return fmt.Errorf("deliver notifications: %w", err)
	}
	m.metrics.runs.WithLabelValues("webhooks", "ok").Inc()
	return nil
}

// maintainJobs makes one Store.Maintain pass and notifies the dispatcher
// of every job it made pending.
func (m *Maintainer) maintainJobs(ctx context.Context) error {
	res, err := m.store.Maintain(ctx, m.cfg.MaxAttempts)
	if err != nil {
		m.metrics.runs.WithLabelValues("maintain", "error").Inc()
		return fmt.Errorf("maintain jobs: %w", err)
	}
	m.metrics.runs.WithLabelValues("maintain", "ok").Inc()
	m.metrics.jobs.WithLabelValues("promoted").Add(float64(len(res.Promoted)))
	m.metrics.jobs.WithLabelValues("lease_expired").Add(float64(len(res.Expired)))
	m.metrics.jobs.WithLabelValues("lease_expired_failed").Add(float64(len(res.ExpiredFailed)))
	if n := len(res.Promoted) + len(res.Expired) + len(res.ExpiredFailed); n == 0 {
		return nil
	}
	m.logger.Info("maintenance pass", "promoted", len(res.Promoted), "lease_expired", len(res.Expired),
		"lease_expired_failed", len(res.ExpiredFailed))
	for _, id := range res.ExpiredFailed {
		m.logger.Warn("job failed: lease expired on its last attempt", "job_id", id)
	}
	if ids := slices.Concat(res.Promoted, res.Expired); len(ids) > 0 {
		// The store is the source of truth and workers poll regardless: a
		// lost notification costs latency only.
		if err := m.disp.Notify(ctx, ids...); err != nil {
			m.logger.Warn("notify pending jobs", "jobs", len(ids), "err", err)
		}
	}
	return nil
}

// SweepOrphans deletes the blobs under "jobs/" that are older than
// OrphanGrace and that no document references: blobs of runs that lost
// their lease, crashed or failed between Put and RecordDocument. It checks
// references OrphanBatch keys at a time and returns how many blobs it
// deleted.
func (m *Maintainer) SweepOrphans(ctx context.Context) (deleted int, err error) {
	defer func() {
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		m.metrics.runs.WithLabelValues("orphan_sweep", outcome).Inc()
		m.metrics.orphans.Add(float64(deleted))
	}()
	cutoff := m.cfg.Clock().Add(-m.cfg.OrphanGrace)
	var orphans, batch []string
	check := func() error {
		if len(batch) == 0 {
			return nil
		}
		refs, err := m.store.ReferencedBlobKeys(ctx, batch)
		if err != nil {
			return fmt.Errorf("check blob references: %w", err)
		}
		for _, k := range batch {
			if !refs[k] {
				orphans = append(orphans, k)
			}
		}
		batch = batch[:0]
		return nil
	}
	// Only the few orphans are kept across pages; referenced keys are
	// dropped as soon as they are checked. Deleting after the listing
	// keeps List free of concurrent modification.
	err = m.blobs.List(ctx, "jobs/", func(b *intake.BlobInfo) error {
		if b.ModTime.After(cutoff) {
			return nil
		}
		batch = append(batch, b.Key)
		if len(batch) < m.cfg.OrphanBatch {
			return nil
		}
		return check()
	})
	if err == nil {
		err = check()
	}
	if err != nil {
		return 0, fmt.Errorf("sweep orphan blobs: %w", err)
	}
	var errs []error
	for _, k := range orphans {
		if err := m.blobs.Delete(ctx, k); err != nil {
			errs = append(errs, fmt.Errorf("delete orphan blob %s: %w", k, err))
			continue
		}
		deleted++
	}
	if deleted > 0 {
		m.logger.Info("orphan blobs deleted", "deleted", deleted)
	}
	return deleted, errors.Join(errs...)
}

type maintainerMetrics struct {
	jobs    *prometheus.CounterVec
	orphans prometheus.Counter
	runs    *prometheus.CounterVec
	panics  *prometheus.CounterVec
}

func newMaintainerMetrics(reg prometheus.Registerer) (*maintainerMetrics, error) {
	m := &maintainerMetrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intake_maintenance_jobs_total",
			Help: "Jobs changed by maintenance, by action: promoted (scheduled and due), lease_expired (back to pending) or lease_expired_failed.",
		}, []string{"action"}),
		orphans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "intake_maintenance_orphan_blobs_deleted_total",
			Help: "Blobs deleted by the orphan sweep because no document references them.",
		}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intake_maintenance_runs_total",
			Help: "Maintenance tasks run, by task (maintain, schedules, webhooks or orphan_sweep) and outcome (ok or error).",
		}, []string{"task", "outcome"}),
	}
	var errs [3]error
	m.jobs, errs[0] = telemetry.Register(reg, m.jobs)
	m.orphans, errs[1] = telemetry.Register(reg, m.orphans)
	m.runs, errs[2] = telemetry.Register(reg, m.runs)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	var err error
	if m.panics, err = newPanicCounter(reg); err != nil {
		return nil, err
	}
	for _, a := range []string{"promoted", "lease_expired", "lease_expired_failed"} {
		m.jobs.WithLabelValues(a)
	}
	for _, task := range []string{"maintain", "schedules", "webhooks", "orphan_sweep"} {
		for _, outcome := range []string{"ok", "error"} {
			m.runs.WithLabelValues(task, outcome)
		}
	}
	return m, nil
}
