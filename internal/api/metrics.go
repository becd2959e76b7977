package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons for intake_jobs_create_failures_total.
const (
	failInvalid  = "invalid"
	failStore    = "store"
	failConflict = "conflict"
)

// metrics are the API's Prometheus collectors. Labels are bounded: routes
// are patterns (never ids) and methods outside the standard set are "other".
type metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	inFlight       prometheus.Gauge
	shed           prometheus.Counter
	jobsCreated    *prometheus.CounterVec
	createFailures *prometheus.CounterVec
	batchSize      prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intake_http_requests_total",
			Help: "HTTP requests served, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "intake_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by method and route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "intake_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "intake_http_requests_shed_total",
			Help: "API requests answered 503 at once because INTAKE_HTTP_MAX_IN_FLIGHT requests were in flight.",
		}),
		jobsCreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intake_jobs_created_total",
			Help: "Jobs accepted by the API, by source type (idempotent replays included).",
		}, []string{"source_type"}),
		createFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "intake_jobs_create_failures_total",
			Help: "Job creation requests refused or failed, by reason (invalid, store, conflict).",
		}, []string{"reason"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "intake_create_job_batch_size",
			Help:    "num_jobs of accepted POST /create-job requests.",
			Buckets: prometheus.LinearBuckets(1, 1, 10),
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.inFlight, m.shed, m.jobsCreated, m.createFailures, m.batchSize} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	// Pre-create the failure series so that rate() works from the start.
	for _, r := range []string{failInvalid, failStore, failConflict} {
		m.createFailures.WithLabelValues(r)
	}
	return m, nil
}

// observe records one served request.
func (m *metrics) observe(method, route string, status int, d time.Duration) {
	method = methodLabel(method)
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(d.Seconds())
}

// methodLabel bounds the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}
