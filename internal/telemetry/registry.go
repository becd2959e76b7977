package telemetry

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/intake-dev/intake"
)

// BuildInfo identifies the running binary.
type BuildInfo struct {
	// Version is the release, e.g. "v1.2.0" or "dev".
	Version string
	// Revision is the VCS commit the binary was built from.
	Revision string
	// Date is when the binary was built. It is not exported as a metric
	// label; it is for the version command.
	Date string
}

// NewRegistry returns the registry the process owns, holding the Go runtime
// and process collectors and intake_build_info{version,revision,goversion},
// which is always 1. Empty BuildInfo fields are reported as "unknown".
func NewRegistry(bi BuildInfo) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "intake_build_info",
			Help: "Build information of the running binary; always 1.",
			ConstLabels: prometheus.Labels{
				"version":   orUnknown(bi.Version),
				"revision":  orUnknown(bi.Revision),
				"goversion": runtime.Version(),
			},
		}, func() float64 { return 1 }),
	)
	return reg
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// The values of the outcome label.
const (
	OutcomeOK        = "ok"
	OutcomeNotFound  = "not_found"
	OutcomeLeaseLost = "lease_lost"
	OutcomeConflict  = "conflict"
	OutcomeInvalid   = "invalid"
	OutcomeCanceled  = "canceled"
	OutcomeError     = "error"
)

// Outcome classifies the result of an operation for the outcome label.
// Expected results get their own values so that error rates count only
// failures: ENOTFOUND (including Claim's ErrNoJob) is "not_found",
// ELEASELOST "lease_lost", ECONFLICT "conflict", EINVALID "invalid", and a
// cancelled context "canceled" (a client went away, or the process is
// shutting down). Everything else, timeouts and EUNAVAILABLE included, is
// "error".
func Outcome(err error) string {
	if err == nil {
		return OutcomeOK
	}
	if errors.Is(err, context.Canceled) {
		return OutcomeCanceled
	}
	switch intake.ErrorCode(err) {
	case intake.ENOTFOUND:
		return OutcomeNotFound
	case intake.ELEASELOST:
		return OutcomeLeaseLost
	case intake.ECONFLICT:
		return OutcomeConflict
	case intake.EINVALID:
		return OutcomeInvalid
	}
	return OutcomeError
}

// Register registers c on reg and returns it, or returns the equal
// collector that reg already holds, so that several Workers, Maintainers,
// Deliverers or wrapped stores in one process share their metrics. A nil
// reg registers nothing. Any other registration error (a name registered
// with other labels, say) is returned.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("register metrics: %w", err)
}

// register is Register for the wrappers of this package, whose metrics
// are fixed: any error is a programming error, and panics.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	c, err := Register(reg, c)
	if err != nil {
		panic(err)
	}
	return c
}
