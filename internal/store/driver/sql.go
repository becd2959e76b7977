package driver

import "github.com/intake-dev/intake"

// The SQL drivers count RunStats' histograms in their queries: a row of
// the count, the sum in seconds and the cumulative bucket counts.

// HistogramDest returns the scan destinations of such a row's columns.
func HistogramDest(h *intake.Histogram) []any {
	dest := []any{&h.Count, &h.Sum}
	for i := range h.Buckets {
		dest = append(dest, &h.Buckets[i])
	}
	return dest
}

// ScanOutcome reads a row of RunStats' per-outcome query, the outcome, the
// documents its runs recorded and the histogram of their durations in
// p.DurationBuckets, into st. A row of an outcome st does not know is
// skipped.
func ScanOutcome(scan func(dest ...any) error, p intake.RunStatsParams, st *intake.RunStats) error {
	var (
		outcome intake.RunOutcome
		docs    uint64
	)
	h := intake.NewHistogram(len(p.DurationBuckets))
	if err := scan(append([]any{&outcome, &docs}, HistogramDest(&h)...)...); err != nil {
		return err
	}
	if _, ok := st.Runs[outcome]; ok {
		st.Runs[outcome] = h
		st.Documents += docs
	}
	return nil
}
