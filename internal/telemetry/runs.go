package telemetry

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
)

// RunDurationBuckets and CompletionBuckets are the bucket bounds of the
// run-record histograms, the same as the worker's own
// intake_worker_run_duration_seconds and intake_job_completion_seconds.
var (
	RunDurationBuckets = prometheus.ExponentialBuckets(0.05, 2, 14) // 50ms to ~7min
	CompletionBuckets  = prometheus.ExponentialBuckets(1, 2.5, 12)  // 1s to ~6.6h
)

// NewRunCollector returns a collector of metrics derived from the run
// records in the store, so that they are right even when no worker is ever
// scraped (KEDA's `work --once` pods):
//
//   - intake_recorded_runs_total{outcome}: ended runs by outcome;
//   - intake_recorded_run_duration_seconds{outcome}: their durations, from
//     claim to release;
//   - intake_recorded_run_documents_total: documents the ended runs
//     recorded;
//   - intake_recorded_job_completion_seconds: creation to completion of
//     the completed jobs;
//   - intake_run_stats_up: 1 when the last RunStats call succeeded.
//
// Records never change once ended and are never deleted while their job
// exists, so the counters and histograms only grow, and every replica
// reading the same store exports the same values (aggregate with max).
// RunStats is called at most once per cacheTTL with timeout (or
// DefaultStatsTimeout); concurrent scrapes share one call, and a failed
// call keeps the last values and sets up to 0.
func NewRunCollector(s intake.Store, timeout, cacheTTL time.Duration, logger *slog.Logger) prometheus.Collector {
	params := intake.RunStatsParams{DurationBuckets: RunDurationBuckets, CompletionBuckets: CompletionBuckets}
	read := func(ctx context.Context) (*intake.RunStats, error) { return s.RunStats(ctx, params) }
	return &runCollector{
		cachedRead: newCachedRead("run stats", read, timeout, cacheTTL, logger),
		params:     params,
		runs: prometheus.NewDesc("intake_recorded_runs_total",
			"Ended runs recorded in the store, by outcome (from the store: aggregate replicas with max).",
			[]string{"outcome"}, nil),
		duration: prometheus.NewDesc("intake_recorded_run_duration_seconds",
			"Duration of the ended runs recorded in the store, from claim to release, by outcome.",
			[]string{"outcome"}, nil),
		documents: prometheus.NewDesc("intake_recorded_run_documents_total",
			"Documents recorded by the ended runs in the store.", nil, nil),
		completion: prometheus.NewDesc("intake_recorded_job_completion_seconds",
			"Time from creation to completion of the completed jobs in the store.", nil, nil),
		up: prometheus.NewDesc("intake_run_stats_up",
			"Whether the last read of the run statistics from the store succeeded (1) or not (0).", nil, nil),
	}
}

type runCollector struct {
	cachedRead[intake.RunStats]
	params intake.RunStatsParams

	runs, duration, documents, completion, up *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c *runCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.runs
	ch <- c.duration
	ch <- c.documents
	ch <- c.completion
	ch <- c.up
}

// Collect implements prometheus.Collector.
func (c *runCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.collectUp(ch, c.up)
	if st == nil {
		return
	}
	for _, o := range intake.RunOutcomes {
		h := st.Runs[o]
		ch <- prometheus.MustNewConstMetric(c.runs, prometheus.CounterValue, float64(h.Count), string(o))
		ch <- prometheus.MustNewConstHistogram(c.duration, h.Count, h.Sum,
			buckets(c.params.DurationBuckets, h), string(o))
	}
	ch <- prometheus.MustNewConstMetric(c.documents, prometheus.CounterValue, float64(st.Documents))
	ch <- prometheus.MustNewConstHistogram(c.completion, st.Completion.Count, st.Completion.Sum,
		buckets(c.params.CompletionBuckets, st.Completion))
}

// buckets maps a histogram's cumulative counts to their upper bounds.
func buckets(bounds []float64, h intake.Histogram) map[float64]uint64 {
	m := make(map[float64]uint64, len(bounds))
	for i, b := range bounds {
		if i < len(h.Buckets) {
			m[b] = h.Buckets[i]
		}
	}
	return m
}
