package intake

import (
	"fmt"
	"math"
	"strconv"
)

// Fraction is a share of a job's documents, held in basis points (1/10000)
// so that batch sizes are computed in exact integer arithmetic: with float64,
// 180 × 0.35 is 62.99999999999999 and floors to 62.
type Fraction int

// DefaultBatchFraction is 35 %, the share of a job's documents one run
// collects unless configured otherwise.
const DefaultBatchFraction Fraction = 3500

// ParseFraction parses a decimal such as "0.35" (at most four decimals) in
// (0, 1].
func ParseFraction(s string) (Fraction, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) {
		return 0, fmt.Errorf("not a decimal number: %q", s)
	}
	bp := math.Round(f * 10000)
	if bp <= 0 || bp > 10000 || math.Abs(f*10000-bp) > 1e-6 {
		return 0, fmt.Errorf("must be in (0, 1] with at most four decimals: %q", s)
	}
	return Fraction(bp), nil
}

// UnmarshalText implements encoding.TextUnmarshaler for configuration.
func (f *Fraction) UnmarshalText(b []byte) error {
	v, err := ParseFraction(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// String formats the fraction as a decimal.
func (f Fraction) String() string {
	return strconv.FormatFloat(float64(f)/10000, 'f', -1, 64)
}

// BatchSize returns how many documents one run collects: at most remaining,
// and otherwise floor(total × f) but at least one — or ceil(total × f) when
// flooring would take more than ⌈1/f⌉ + 1 runs (5 documents at 35 %: 1 a
// run is 5 runs, 2 a run is 3). A job thus takes at most ⌈1/f⌉ + 1 runs,
// three or four at 35 %. When the total is unknown (TotalUnknown) it
// returns unknownBatch.
func BatchSize(total, collected int, f Fraction, unknownBatch int) int {
	if total == TotalUnknown {
		return max(1, unknownBatch)
	}
	remaining := total - collected
	if remaining <= 0 {
		return 0
	}
	n := max(1, total*int(f)/10000)
	if maxRuns := (10000+int(f)-1)/int(f) + 1; (total+n-1)/n > maxRuns {
		n = (total*int(f) + 9999) / 10000
	}
	return min(remaining, n)
}
