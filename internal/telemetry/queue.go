package telemetry

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
)

// NewQueueCollector returns a collector of queue gauges read from
// s.Stats: intake_jobs{status} for every status,
// intake_queue_oldest_pending_age_seconds (0 when nothing is pending),
// intake_documents_stored, intake_documents_stored_bytes, and
// intake_queue_stats_up, which is 1 when the last Stats call succeeded.
//
// Stats is called at most once per cacheTTL, with timeout (or
// DefaultStatsTimeout when timeout is not positive); concurrent scrapes
// share one call. When a call fails the collector logs it, sets up to 0
// and keeps serving the last values it had, if any. The oldest pending
// age is computed at scrape time from the cached timestamp.
func NewQueueCollector(s intake.Store, timeout, cacheTTL time.Duration, logger *slog.Logger) prometheus.Collector {
	return &queueCollector{
		cachedRead: newCachedRead("queue stats", s.Stats, timeout, cacheTTL, logger),
		jobs: prometheus.NewDesc("intake_jobs",
			"Jobs in the store by status (a snapshot of the shared store: aggregate replicas with max).",
			[]string{"status"}, nil),
		oldest: prometheus.NewDesc("intake_queue_oldest_pending_age_seconds",
			"Time since the oldest pending job became claimable; 0 when none is pending.", nil, nil),
		docs: prometheus.NewDesc("intake_documents_stored",
			"Documents recorded in the store.", nil, nil),
		bytes: prometheus.NewDesc("intake_documents_stored_bytes",
			"Total size of the documents recorded in the store.", nil, nil),
		up: prometheus.NewDesc("intake_queue_stats_up",
			"Whether the last read of the queue statistics from the store succeeded (1) or not (0).", nil, nil),
	}
}

type queueCollector struct {
	cachedRead[intake.Stats]
	jobs, oldest, docs, bytes, up *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	ch <- c.oldest
	ch <- c.docs
	ch <- c.bytes
	ch <- c.up
}

// Collect implements prometheus.Collector.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.collectUp(ch, c.up)
	if st == nil {
		return
	}
	for _, status := range intake.Statuses {
		ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(st.Jobs[status]), string(status))
	}
	age := 0.0
	if !st.OldestPending.IsZero() {
		age = max(0, c.now().Sub(st.OldestPending).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(c.docs, prometheus.GaugeValue, float64(st.Documents))
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(st.Bytes))
}
