package driver

import (
	"slices"
	"time"

	"github.com/intake-dev/intake"
)

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

// The SQL drivers also keep RunStats' histograms as counters, by trigger,
// over fixed bucket bounds stored beside them (their migration 00004):
// per outcome and bucket the ended runs, their total duration and the
// documents they recorded, and per bucket the completed jobs and their
// total time from creation. A bucket is the index of the first bound the
// durations are at most, or the number of bounds for those above every
// bound. They read the bounds and the counters summed over their shards
// in one query, as rows of Counter.

// The kinds of Counter.
const (
	CounterBound      = "bound"       // a bucket bound: Key is "duration" or "completion", Bucket its index
	CounterRun        = "runs"        // ended runs: Key is the outcome
	CounterCompletion = "completions" // completed jobs
)

// Counter is a row of the bounds and counters that the SQL drivers keep
// for RunStats.
type Counter struct {
	Kind   string
	Key    string
	Bucket int
	// Bound is a bound's value in seconds.
	Bound float64
	// N counts the runs or jobs of the bucket, Sum totals their durations
	// in the driver's unit, and Documents the documents the runs recorded.
	N, Sum, Documents int64
}

// Dest returns the scan destinations of a row of (kind, key, bucket,
// bound, n, sum, documents).
func (c *Counter) Dest() []any {
	return []any{&c.Kind, &c.Key, &c.Bucket, &c.Bound, &c.N, &c.Sum, &c.Documents}
}

// CountedRunStats builds RunStats for p from the counter rows when the
// bounds among them are exactly p's; ok is false when they are not (other
// bounds than those the counters were kept for), and the driver must scan
// instead. unit is the unit of Counter.Sum. Outcomes RunStats does not
// know are skipped.
func CountedRunStats(p intake.RunStatsParams, rows []Counter, unit time.Duration) (st *intake.RunStats, ok bool) {
	bounds := map[string][]float64{}
	for _, c := range rows {
		if c.Kind == CounterBound {
			b := bounds[c.Key]
			for len(b) <= c.Bucket {
				b = append(b, 0)
			}
			b[c.Bucket] = c.Bound
			bounds[c.Key] = b
		}
	}
	if !slices.Equal(bounds["duration"], p.DurationBuckets) || !slices.Equal(bounds["completion"], p.CompletionBuckets) ||
		len(p.DurationBuckets) == 0 && len(p.CompletionBuckets) == 0 {
		return nil, false
	}
	st = intake.NewRunStats(p)
	sums := map[intake.RunOutcome]int64{}
	var completion int64
	for _, c := range rows {
		switch c.Kind {
		case CounterRun:
			o := intake.RunOutcome(c.Key)
			h, known := st.Runs[o]
			if !known {
				continue
			}
			count(&h, c.Bucket, c.N)
			st.Runs[o] = h
			sums[o] += c.Sum
			st.Documents += uint64(max(0, c.Documents))
		case CounterCompletion:
			count(&st.Completion, c.Bucket, c.N)
			completion += c.Sum
		}
	}
	seconds := func(sum int64) float64 { return float64(sum) / float64(time.Second/unit) }
	for o, sum := range sums {
		h := st.Runs[o]
		h.Sum = seconds(sum)
		st.Runs[o] = h
	}
	st.Completion.Sum = seconds(completion)
	return st, true
}

// count adds n observations of bucket i to the cumulative histogram h.
func count(h *intake.Histogram, i int, n int64) {
	m := uint64(max(0, n))
	h.Count += m
	for j := max(0, i); j < len(h.Buckets); j++ {
		h.Buckets[j] += m
	}
}
