package driver_test

import (
	"slices"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store/driver"
)

func TestCountedRunStats(t *testing.T) {
	t.Parallel()
	p := intake.RunStatsParams{DurationBuckets: []float64{0.5, 2}, CompletionBuckets: []float64{10}}
	bounds := []driver.Counter{
		{Kind: driver.CounterBound, Key: "duration", Bucket: 1, Bound: 2},
		{Kind: driver.CounterBound, Key: "completion", Bucket: 0, Bound: 10},
		{Kind: driver.CounterBound, Key: "duration", Bucket: 0, Bound: 0.5},
	}
	counters := []driver.Counter{
		{Kind: driver.CounterRun, Key: "completed", Bucket: 0, N: 2, Sum: 600, Documents: 3},
		{Kind: driver.CounterRun, Key: "completed", Bucket: 2, N: 1, Sum: 5000, Documents: 1},
		{Kind: driver.CounterRun, Key: "failed", Bucket: 1, N: 4, Sum: 4000},
		{Kind: driver.CounterRun, Key: "unknown", Bucket: 0, N: 9, Sum: 1, Documents: 9},
		{Kind: driver.CounterCompletion, Bucket: 1, N: 1, Sum: 11000},
		{Kind: driver.CounterCompletion, Bucket: 0, N: 2, Sum: 3000},
	}
	tests := []struct {
		name string
		p    intake.RunStatsParams
		rows []driver.Counter
		ok   bool
	}{
		{"the stored bounds", p, append(slices.Clone(bounds), counters...), true},
		{"other duration bounds", intake.RunStatsParams{DurationBuckets: []float64{0.5}, CompletionBuckets: []float64{10}},
			append(slices.Clone(bounds), counters...), false},
		{"other completion bounds", intake.RunStatsParams{DurationBuckets: []float64{0.5, 2}, CompletionBuckets: []float64{60}},
			append(slices.Clone(bounds), counters...), false},
		{"no bounds stored", p, counters, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, ok := driver.CountedRunStats(tt.p, tt.rows, time.Millisecond)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if !ok {
				return
			}
			want := map[intake.RunOutcome]intake.Histogram{
				intake.RunCompleted: {Count: 3, Sum: 5.6, Buckets: []uint64{2, 2}},
				intake.RunFailed:    {Count: 4, Sum: 4, Buckets: []uint64{0, 4}},
			}
			for _, o := range intake.RunOutcomes {
				w, ok := want[o]
				if !ok {
					w = intake.NewHistogram(2)
				}
				if g := st.Runs[o]; g.Count != w.Count || g.Sum != w.Sum || !slices.Equal(g.Buckets, w.Buckets) {
					t.Errorf("runs %s = %+v, want %+v", o, g, w)
				}
			}
			if st.Documents != 4 {
				t.Errorf("Documents = %d, want 4 (of known outcomes)", st.Documents)
			}
			if c := st.Completion; c.Count != 3 || c.Sum != 14 || !slices.Equal(c.Buckets, []uint64{2}) {
				t.Errorf("Completion = %+v, want 3 jobs, 14 s, 2 within 10 s", c)
			}
		})
	}
}
