package worker

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/telemetry"
)

// workerMetrics are the Worker's collectors. Labels are bounded:
// source_type is a registered type or "unknown", outcome and kind are the
// constants in run.go.
type workerMetrics struct {
	claims      *prometheus.CounterVec
	runs        *prometheus.CounterVec
	runDuration *prometheus.HistogramVec
	batchSize   *prometheus.HistogramVec
	activeRuns  prometheus.Gauge
	documents   *prometheus.CounterVec
	bytes       *prometheus.CounterVec
	docErrors   *prometheus.CounterVec
	completion  *prometheus.HistogramVec
	changes     *prometheus.CounterVec
	panics      *prometheus.CounterVec
}

func newWorkerMetrics(reg prometheus.Registerer, sourceTypes []string) (*workerMetrics, error) {
	m := &workerMetrics{
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intake_worker_claims_total",
			Help: "Claims by result: claimed (one per job claimed, also within a batch), empty (no pending job) or error.",
		}, []string{"result"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intake_worker_runs_total",
			Help: "Finished runs (one batch of one job) by source type and outcome.",
		}, []string{"source_type", "outcome"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "intake_worker_run_duration_seconds",
			Help:    "Duration of a run from claim to release, by source type and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14), // 50ms to ~7min
		}, []string{"source_type", "outcome"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "intake_worker_batch_size",
			Help:    "Documents a run set out to collect, by source type.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		}, []string{"source_type"}),
		activeRuns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "intake_worker_active_runs",
			Help: "Runs in progress in this process.",
		}),
		documents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intake_documents_collected_total",
			Help: "Documents collected, stored and recorded, by source type.",
		}, []string{"source_type"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intake_document_bytes_total",
			Help: "Bytes of recorded documents written to blob storage, by source type.",
		}, []string{"source_type"}),
		docErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intake_document_errors_total",
			Help: "Failed collection steps by source type and kind: source, blob, store, retry_after or permanent.",
		}, []string{"source_type", "kind"}),
		completion: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "intake_job_completion_seconds",
			Help:    "Time from a job's creation to its completion, by source type.",
			Buckets: prometheus.ExponentialBuckets(1, 2.5, 12), // 1s to ~6.6h
		}, []string{"source_type"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intake_worker_document_changes_total",
			Help: "Recorded documents of jobs with a previous job (a schedule's), by change against it: new, changed or unchanged (which stores no new blob).",
		}, []string{"change"}),
	}
	var errs [10]error
	m.claims, errs[0] = telemetry.Register(reg, m.claims)
	m.runs, errs[1] = telemetry.Register(reg, m.runs)
	m.runDuration, errs[2] = telemetry.Register(reg, m.runDuration)
	m.batchSize, errs[3] = telemetry.Register(reg, m.batchSize)
	m.activeRuns, errs[4] = telemetry.Register(reg, m.activeRuns)
	m.documents, errs[5] = telemetry.Register(reg, m.documents)
	m.bytes, errs[6] = telemetry.Register(reg, m.bytes)
	m.docErrors, errs[7] = telemetry.Register(reg, m.docErrors)
	m.completion, errs[8] = telemetry.Register(reg, m.completion)
	m.changes, errs[9] = telemetry.Register(reg, m.changes)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	var err error
	if m.panics, err = newPanicCounter(reg); err != nil {
		return nil, err
	}
	// Export zeros for the series dashboards expect before the first event.
	for _, r := range []string{"claimed", "empty", "error"} {
		m.claims.WithLabelValues(r)
	}
	for _, c := range []intake.Change{intake.ChangeNew, intake.ChangeChanged, intake.ChangeUnchanged} {
		m.changes.WithLabelValues(string(c))
	}
	for _, t := range sourceTypes {
		m.documents.WithLabelValues(t)
		m.bytes.WithLabelValues(t)
		for _, k := range errorKinds {
			m.docErrors.WithLabelValues(t, k)
		}
		for _, o := range []string{outcomeCompleted, outcomePending, outcomeScheduled, outcomeFailed, outcomeLeaseLost, outcomeDrained} {
			m.runs.WithLabelValues(t, o)
		}
	}
	return m, nil
}
