package poll_test

import (
	"log/slog"
	"testing"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/dispatch/dispatchtest"
	"github.com/intake-dev/intake/internal/dispatch/poll"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	dispatchtest.Run(t, func(*testing.T) *dispatchtest.Harness {
		return &dispatchtest.Harness{
			Open:   func(*testing.T, *slog.Logger) intake.Dispatcher { return poll.New() },
			Fanout: dispatchtest.Broadcast,
			// Within one process, with no server: no notification
			// crosses processes and there is no outage to survive.
			Local: true,
		}
	})
}
