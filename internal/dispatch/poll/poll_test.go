package poll_test

import (
	"testing"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/dispatch/dispatchtest"
	"github.com/intake-dev/intake/internal/dispatch/poll"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	dispatchtest.Run(t, func(*testing.T) intake.Dispatcher { return poll.New() })
}
