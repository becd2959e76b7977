package webhook

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/telemetry"
)

type metrics struct {
	deliveries *prometheus.CounterVec
	duration   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intake_webhook_deliveries_total",
			Help: "Webhook delivery attempts by event and outcome: ok (a 2xx), error (retried later) or gave_up (the last attempt failed).",
		}, []string{"event", "outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "intake_webhook_delivery_duration_seconds",
			Help:    "Duration of webhook delivery attempts, from the request to the endpoint's answer or the failure.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10), // 10ms to ~38s
		}),
	}
	var errs [2]error
	m.deliveries, errs[0] = telemetry.Register(reg, m.deliveries)
	m.duration, errs[1] = telemetry.Register(reg, m.duration)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	for _, e := range intake.Events {
		for _, o := range []string{"ok", "error", "gave_up"} {
			m.deliveries.WithLabelValues(string(e), o)
		}
	}
	return m, nil
}
