package filings_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/source/filings"
	"github.com/intake-dev/intake/internal/source/sourcetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	sourcetest.Run(t, harness)
}

// asOf is the conformance suite's clock: a collection of the same config
// twice yields the same filings only on the same simulated day.
var asOf = time.Date(2026, time.March, 14, 9, 26, 53, 0, time.UTC)

// harness needs no peer: the filings are simulated. A delay of an hour
// stands in for a portal that does not answer.
func harness(*testing.T) sourcetest.Bundle {
	listed := json.RawMessage(`{"cin":"L27100MH1998PLC112233","company_name":"Sahyadri Steel Limited"}`)
	return sourcetest.Bundle{
		Open: func(*testing.T) intake.Source {
			return filings.New(0, filings.WithClock(func() time.Time { return asOf }))
		},
		Configs: map[string]json.RawMessage{
			"listed":  listed,
			"private": json.RawMessage(`{"cin":"U72200KA2015PTC081234","company_name":" Acme Private Limited "}`),
		},
		Stall: func(*testing.T) (intake.Source, json.RawMessage, <-chan struct{}) {
			return filings.New(time.Hour), listed, nil
		},
	}
}
