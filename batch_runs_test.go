package intake

import "testing"

// TestRunsAtMost checks the promise behind "three or four runs": at any
// total, a job takes at most ⌈1/f⌉ + 1 runs (4 at 35 %). Flooring alone
// would take 5 runs for 5 documents (1 a run).
func TestRunsAtMost(t *testing.T) {
	t.Parallel()
	for _, f := range []Fraction{DefaultBatchFraction, 1000, 2500, 5000, 9999} {
		limit := (10000+int(f)-1)/int(f) + 1
		for total := 1; total <= 2000; total++ {
			runs, collected := 0, 0
			for collected < total {
				collected += BatchSize(total, collected, f, 0)
				runs++
			}
			if runs > limit {
				t.Errorf("fraction %v, total %d: %d runs, want at most %d", f, total, runs, limit)
			}
		}
	}
	if got := BatchSize(5, 0, DefaultBatchFraction, 0); got != 2 {
		t.Errorf("BatchSize(5) = %d, want 2 (three runs)", got)
	}
}
