package worker

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake/internal/telemetry"
)

// Components a recovered panic is counted under, the values of the
// component label of intake_worker_panics_total.
const (
	panicRun         = "run"          // collecting a job: the run fails
	panicHeartbeat   = "heartbeat"    // renewing a lease: the run ends
	panicLoop        = "worker_loop"  // claiming or releasing: the lease expires
	panicMaintenance = "maintenance"  // a maintenance pass: retried next tick
	panicSweep       = "orphan_sweep" // an orphan sweep: retried next sweep
	panicSchedules   = "schedules"    // firing schedules: retried next pass
	panicWebhooks    = "webhooks"     // delivering notifications: retried next pass
)

var panicComponents = []string{panicRun, panicHeartbeat, panicLoop, panicMaintenance, panicSweep, panicSchedules, panicWebhooks}

// newPanicCounter returns intake_worker_panics_total, registered on reg (or
// the one reg already holds), with every component's series at zero.
func newPanicCounter(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c, err := telemetry.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "intake_worker_panics_total",
		Help: "Panics recovered in worker and maintenance goroutines, by component: run, heartbeat, worker_loop, maintenance, orphan_sweep, schedules or webhooks.",
	}, []string{"component"}))
	if err != nil {
		return nil, err
	}
	for _, p := range panicComponents {
		c.WithLabelValues(p)
	}
	return c, nil
}

// recovered logs and counts a recovered panic value v, with the stack and
// the given attributes (the job id), and returns it as an error. A panic is
// a bug: the process goes on, but the log and the counter must say so.
func recovered(ctx context.Context, logger *slog.Logger, counter *prometheus.CounterVec, component string, v any, attrs ...any) error {
	counter.WithLabelValues(component).Inc()
	attrs = append(attrs, "panic_in", component, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	logger.ErrorContext(context.WithoutCancel(ctx), "panic recovered", attrs...)
	return fmt.Errorf("panic in %s: %v", component, v)
}
