package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// operations counts and times the calls of one seam (store or blob).
type operations struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newOperations(reg prometheus.Registerer, subsystem, what string, buckets []float64, ops []string) *operations {
	m := &operations{
		total: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "intake",
			Subsystem: subsystem,
			Name:      "operations_total",
			Help:      "Calls to the " + what + " by operation and outcome (ok, not_found, lease_lost, conflict, invalid, canceled, error).",
		}, []string{"operation", "outcome"})),
		duration: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "intake",
			Subsystem: subsystem,
			Name:      "operation_duration_seconds",
			Help:      "Duration of calls to the " + what + " by operation, whatever their outcome.",
			Buckets:   buckets,
		}, []string{"operation"})),
	}
	// Initialise the series that dashboards and alerts divide by, so that
	// rates start from zero instead of being absent.
	for _, op := range ops {
		m.total.WithLabelValues(op, OutcomeOK)
		m.total.WithLabelValues(op, OutcomeError)
	}
	return m
}

// observe records a call of op that started at start and ended with *errp.
// It is meant to be deferred with a named error result.
func (m *operations) observe(op string, start time.Time, errp *error) {
	m.total.WithLabelValues(op, Outcome(*errp)).Inc()
	m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}
