package telemetry

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
)

// DefaultStatsTimeout bounds a Stats call when NewQueueCollector is given
// no timeout.
const DefaultStatsTimeout = 5 * time.Second

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
	if timeout <= 0 {
		timeout = DefaultStatsTimeout
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &queueCollector{
		store:   s,
		timeout: timeout,
		ttl:     max(0, cacheTTL),
		logger:  logger,
		now:     time.Now,
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
	store   intake.Store
	timeout time.Duration
	ttl     time.Duration
	logger  *slog.Logger
	now     func() time.Time

	jobs, oldest, docs, bytes, up *prometheus.Desc

	// mu serialises reads of the store, so that concurrent scrapes wait
	// for one call instead of making their own.
	mu      sync.Mutex
	fetched time.Time     // when Stats last returned; zero before the first call
	last    *intake.Stats // the last successful result, nil before one
	ok      bool          // whether the last call succeeded
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
	st, ok := c.stats()
	up := 0.0
	if ok {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
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

// stats returns the cached statistics, refreshing them when they are older
// than the TTL, and whether the last refresh succeeded.
func (c *queueCollector) stats() (*intake.Stats, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fetched.IsZero() && c.now().Sub(c.fetched) < c.ttl {
		return c.last, c.ok
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	st, err := c.store.Stats(ctx)
	c.fetched = c.now()
	if err != nil {
		c.ok = false
		c.logger.Warn("read queue stats", "err", err, "serving_stale", c.last != nil)
		return c.last, false
	}
	c.last, c.ok = st, true
	return st, true
}
