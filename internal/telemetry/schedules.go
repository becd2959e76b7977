package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/schedule"
)

// maxSchedulePages caps the schedule pages one read lists (10,000
// schedules), so that a scrape stays bounded; the schedules beyond them,
// the oldest, are neither counted nor exported.
const maxSchedulePages = 20

// scheduleSnapshot is what the schedule collector exports.
type scheduleSnapshot struct {
	active, paused int
	schedules      []scheduleRow
}

// scheduleRow is one schedule's per-schedule series.
type scheduleRow struct {
	id          string
	created     time.Time
	lastSuccess time.Time // zero when no job of the schedule has completed
	period      time.Duration
}

// NewScheduleCollector returns a collector of schedule gauges read from
// s.ListSchedules and s.ScheduleHealth: intake_schedules{state} (active or
// paused), and per active schedule intake_schedule_period_seconds,
// intake_schedule_created_timestamp_seconds and, once one of its jobs has
// completed, intake_schedule_last_success_timestamp_seconds, for the
// IntakeScheduleStale alert; intake_schedule_stats_up is 1 when the last
// read succeeded. Reads are cached and bounded like NewQueueCollector's.
func NewScheduleCollector(s intake.Store, timeout, cacheTTL time.Duration, logger *slog.Logger) prometheus.Collector {
	read := func(ctx context.Context) (*scheduleSnapshot, error) { return readSchedules(ctx, s, time.Now()) }
	return &scheduleCollector{
		cachedRead: newCachedRead("schedule stats", read, timeout, cacheTTL, logger),
		count: prometheus.NewDesc("intake_schedules",
			"Schedules in the store by state: active or paused (a snapshot of the shared store: aggregate replicas with max).",
			[]string{"state"}, nil),
		period: prometheus.NewDesc("intake_schedule_period_seconds",
			"The longest gap between an active schedule's next ticks: its interval, or the widest of its cron expression's next eight gaps.",
			[]string{"schedule_id"}, nil),
		created: prometheus.NewDesc("intake_schedule_created_timestamp_seconds",
			"When an active schedule was created, the staleness baseline of one whose jobs never completed.",
			[]string{"schedule_id"}, nil),
		lastSuccess: prometheus.NewDesc("intake_schedule_last_success_timestamp_seconds",
			"When the last completed job of an active schedule completed; absent until one has.",
			[]string{"schedule_id"}, nil),
		up: prometheus.NewDesc("intake_schedule_stats_up",
			"Whether the last read of the schedules from the store succeeded (1) or not (0).", nil, nil),
	}
}

type scheduleCollector struct {
	cachedRead[scheduleSnapshot]
	count, period, created, lastSuccess, up *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *scheduleCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.count
	ch <- c.period
	ch <- c.created
	ch <- c.lastSuccess
	ch <- c.up
}

// Collect implements prometheus.Collector.
func (c *scheduleCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.collectUp(ch, c.up)
	if snap == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.count, prometheus.GaugeValue, float64(snap.active), "active")
	ch <- prometheus.MustNewConstMetric(c.count, prometheus.GaugeValue, float64(snap.paused), "paused")
	for _, r := range snap.schedules {
		ch <- prometheus.MustNewConstMetric(c.period, prometheus.GaugeValue, r.period.Seconds(), r.id)
		ch <- prometheus.MustNewConstMetric(c.created, prometheus.GaugeValue, unixSeconds(r.created), r.id)
		if !r.lastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, unixSeconds(r.lastSuccess), r.id)
		}
	}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// readSchedules lists the schedules, up to maxSchedulePages pages, and
// joins them with their last completions.
func readSchedules(ctx context.Context, s intake.Store, now time.Time) (*scheduleSnapshot, error) {
	health, err := s.ScheduleHealth(ctx)
	if err != nil {
		return nil, fmt.Errorf("schedule health: %w", err)
	}
	last := make(map[string]time.Time, len(health))
	for _, h := range health {
		last[h.ScheduleID] = h.LastCompletedAt
	}
	snap := &scheduleSnapshot{}
	cursor := ""
	for range maxSchedulePages {
		p, err := s.ListSchedules(ctx, intake.ScheduleFilter{Cursor: cursor, Limit: intake.MaxPageSize})
		if err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		for _, sch := range p.Schedules {
			if sch.Paused {
				snap.paused++
				continue
			}
			snap.active++
			period, err := schedule.Period(sch, now)
			if err != nil {
				continue // a schedule that cannot tick is never stale
			}
			snap.schedules = append(snap.schedules, scheduleRow{id: sch.ID, created: sch.CreatedAt, lastSuccess: last[sch.ID], period: period})
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	return snap, nil
}
