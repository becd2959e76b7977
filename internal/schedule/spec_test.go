package schedule

import (
	"errors"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    intake.Schedule
		loc  string // the location of the first problem; "" for valid
	}{
		{"cron", intake.Schedule{Cron: "0 6 * * 1-5", TimeZone: "Europe/London"}, ""},
		{"descriptor", intake.Schedule{Cron: "@daily"}, ""},
		{"every", intake.Schedule{Cron: "@every 90s"}, ""},
		{"interval", intake.Schedule{Interval: intake.Duration(2 * time.Second), Jitter: intake.Duration(time.Second)}, ""},
		{"neither", intake.Schedule{}, "cron"},
		{"both", intake.Schedule{Cron: "@daily", Interval: intake.Duration(time.Hour)}, "interval"},
		{"bad cron", intake.Schedule{Cron: "61 * * * *"}, "cron"},
		{"six fields", intake.Schedule{Cron: "0 0 6 * * *"}, "cron"},
		{"zone in expression", intake.Schedule{Cron: "CRON_TZ=UTC 0 6 * * *"}, "cron"},
		{"short interval", intake.Schedule{Interval: intake.Duration(time.Millisecond)}, "interval"},
		{"unknown zone", intake.Schedule{Cron: "@daily", TimeZone: "Mars/Olympus"}, "time_zone"},
		{"local zone", intake.Schedule{Cron: "@daily", TimeZone: "Local"}, "time_zone"},
		{"zone without cron", intake.Schedule{Interval: intake.Duration(time.Hour), TimeZone: "UTC"}, "time_zone"},
		{"negative jitter", intake.Schedule{Cron: "@daily", Jitter: intake.Duration(-time.Second)}, "jitter"},
		{"jitter of a period", intake.Schedule{Interval: intake.Duration(time.Minute), Jitter: intake.Duration(time.Minute)}, "jitter"},
		{"misfire", intake.Schedule{Cron: "@daily", Misfire: "later"}, "misfire"},
		{"overlap", intake.Schedule{Cron: "@daily", Overlap: "stack"}, "overlap"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Validate(&tt.s)
			if tt.loc == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ie *intake.Error
			if !errors.As(err, &ie) || ie.Code != intake.EINVALID || len(ie.Fields) == 0 {
				t.Fatalf("Validate = %v, want EINVALID with fields", err)
			}
			if ie.Fields[0].Location != tt.loc {
				t.Errorf("first problem at %q (%s), want %q", ie.Fields[0].Location, ie.Fields[0].Message, tt.loc)
			}
		})
	}
}

func TestNext(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name  string
		s     intake.Schedule
		after string
		want  string
	}{
		{"interval on even seconds", intake.Schedule{Interval: intake.Duration(2 * time.Second)}, "2026-12-01T10:00:01.5Z", "2026-12-01T10:00:02Z"},
		{"interval strictly after", intake.Schedule{Interval: intake.Duration(2 * time.Second)}, "2026-12-01T10:00:02Z", "2026-12-01T10:00:04Z"},
		{"daily interval at midnight UTC", intake.Schedule{Interval: intake.Duration(24 * time.Hour)}, "2026-12-01T10:00:00Z", "2026-12-02T00:00:00Z"},
		{"cron in UTC", intake.Schedule{Cron: "0 6 * * *"}, "2026-12-01T10:00:00Z", "2026-12-02T06:00:00Z"},
		{"cron in a zone", intake.Schedule{Cron: "0 6 * * *", TimeZone: "America/New_York"}, "2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z"},
		{"cron across DST", intake.Schedule{Cron: "0 6 * * *", TimeZone: "Europe/London"}, "2026-03-28T07:00:00Z", "2026-03-29T05:00:00Z"},
		{"weekdays skip the weekend", intake.Schedule{Cron: "0 6 * * 1-5"}, "2026-12-04T07:00:00Z", "2026-12-07T06:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Next(&tt.s, at(tt.after))
			if err != nil {
				t.Fatal(err)
			}
			if want := at(tt.want); !got.Equal(want) || got.Location() != time.UTC {
				t.Errorf("Next = %s, want %s UTC", got, want)
			}
		})
	}
}

func TestFireAt(t *testing.T) {
	t.Parallel()
	tick := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	s := &intake.Schedule{ID: "0190a3c4-0000-7000-8000-000000000001", Cron: "@hourly", Jitter: intake.Duration(10 * time.Minute)}
	first := FireAt(s, tick)
	if first.Before(tick) || !first.Before(tick.Add(10*time.Minute)) {
		t.Fatalf("FireAt = %s, want within [tick, tick+10m)", first)
	}
	if again := FireAt(s, tick); !again.Equal(first) {
		t.Errorf("FireAt is not deterministic: %s then %s", first, again)
	}
	spread := map[time.Duration]bool{}
	for i := range 20 {
		h := tick.Add(time.Duration(i) * time.Hour)
		spread[FireAt(s, h).Sub(h).Truncate(time.Second)] = true
	}
	if len(spread) < 10 {
		t.Errorf("20 ticks got only %d distinct offsets", len(spread))
	}
	if got := FireAt(&intake.Schedule{ID: s.ID, Cron: "@hourly"}, tick); !got.Equal(tick) {
		t.Errorf("FireAt without jitter = %s, want the tick", got)
	}
}

func TestPeriod(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		s    intake.Schedule
		want time.Duration
	}{
		{intake.Schedule{Interval: intake.Duration(2 * time.Second)}, 2 * time.Second},
		{intake.Schedule{Cron: "@daily"}, 24 * time.Hour},
		{intake.Schedule{Cron: "0 6 * * 1-5"}, 72 * time.Hour},
	}
	for _, tt := range tests {
		got, err := Period(&tt.s, from)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("Period(%+v) = %s, want %s", tt.s, got, tt.want)
		}
	}
}
