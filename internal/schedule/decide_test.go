package schedule

import (
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	tick := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	hourly := func(misfire intake.MisfirePolicy, jitter time.Duration) *intake.Schedule {
		return &intake.Schedule{ID: "s", Interval: intake.Duration(time.Hour), Jitter: intake.Duration(jitter), Misfire: misfire, NextFireAt: tick}
	}
	jittered := hourly("", 30*time.Minute)
	fireAt := FireAt(jittered, tick)
	if fireAt.Equal(tick) {
		t.Fatal("test schedule needs a non-zero jitter at the tick")
	}
	grace := time.Minute
	tests := []struct {
		name     string
		s        *intake.Schedule
		now      time.Time
		act      action
		misfired bool
		next     time.Time
	}{
		{"before the tick", hourly("", 0), tick.Add(-time.Second), actionWait, false, time.Time{}},
		{"on time", hourly("", 0), tick, actionCheckOverlap, false, tick.Add(time.Hour)},
		{"within grace", hourly("", 0), tick.Add(grace), actionCheckOverlap, false, tick.Add(time.Hour)},
		{"past grace, fire once", hourly("", 0), tick.Add(grace + time.Millisecond), actionCheckOverlap, true, tick.Add(time.Hour)},
		{"past grace, skip", hourly(intake.MisfireSkip, 0), tick.Add(grace + time.Millisecond), actionSkipMisfire, true, tick.Add(time.Hour)},
		{"ticks missed collapse, fire once", hourly(intake.MisfireFireOnce, 0), tick.Add(3*time.Hour + time.Second), actionCheckOverlap, true, tick.Add(4 * time.Hour)},
		{"ticks missed collapse, skip", hourly(intake.MisfireSkip, 0), tick.Add(3*time.Hour + time.Second), actionSkipMisfire, true, tick.Add(4 * time.Hour)},
		{"a later tick due within grace", hourly(intake.MisfireSkip, 0), tick.Add(time.Hour), actionSkipMisfire, true, tick.Add(2 * time.Hour)},
		{"jitter not elapsed", jittered, fireAt.Add(-time.Millisecond), actionWait, false, time.Time{}},
		{"jitter elapsed", jittered, fireAt, actionCheckOverlap, false, tick.Add(time.Hour)},
		{"late after jitter", hourly(intake.MisfireSkip, 30*time.Minute), fireAt.Add(grace + time.Millisecond), actionSkipMisfire, true, tick.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			act, misfired, next, err := decide(tt.s, tt.now, grace)
			if err != nil {
				t.Fatal(err)
			}
			if act != tt.act || misfired != tt.misfired || !next.Equal(tt.next) {
				t.Fatalf("decide = %v, misfired %v, next %s; want %v, %v, %s", act, misfired, next, tt.act, tt.misfired, tt.next)
			}
		})
	}
}

func TestOverlaps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p      intake.OverlapPolicy
		active int
		want   bool
	}{
		{"", 0, false}, {"", 1, true}, {intake.OverlapSkip, 0, false}, {intake.OverlapSkip, 1, true},
		{intake.OverlapQueueOne, 0, false}, {intake.OverlapQueueOne, 1, false}, {intake.OverlapQueueOne, 2, true}, {intake.OverlapQueueOne, 3, true},
	}
	for _, tt := range tests {
		if got := overlaps(tt.p, tt.active); got != tt.want {
			t.Errorf("overlaps(%q, %d) = %v, want %v", tt.p, tt.active, got, tt.want)
		}
	}
}
