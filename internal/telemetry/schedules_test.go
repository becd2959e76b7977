package telemetry

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/testenv"
)

func TestScheduleCollectorValues(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := testenv.NewClock(base)
	s := openStore(t, clock.Now)
	create := func(sch intake.Schedule) *intake.Schedule {
		sch.Tenant, sch.SourceType, sch.Config, sch.NextFireAt = intake.DefaultTenant, "filings", json.RawMessage(`{}`), base
		got, err := s.CreateSchedule(ctx, &sch)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	hourly := create(intake.Schedule{Interval: intake.Duration(time.Hour)})
	clock.Advance(time.Minute)
	weekdays := create(intake.Schedule{Cron: "0 6 * * 1-5", TimeZone: "Europe/London"})
	create(intake.Schedule{Interval: intake.Duration(time.Minute), Paused: true})
	jobs, err := s.CreateJobs(ctx, []*intake.Job{{Tenant: intake.DefaultTenant, SourceType: "filings", Config: json.RawMessage(`{}`), ScheduleID: hourly.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, intake.ClaimParams{Owner: "w", LeaseTTL: time.Minute, JobID: jobs[0].ID}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(90 * time.Second)
	if err := s.FinishRun(ctx, jobs[0].ID, "w", true); err != nil {
		t.Fatal(err)
	}

	c := NewScheduleCollector(s, time.Second, 0, nil)
	created, done := float64(base.Unix()), float64(base.Add(150*time.Second).Unix())
	want := strings.NewReplacer("HOURLY", hourly.ID, "WEEKDAYS", weekdays.ID,
		"CREATED1", fmtFloat(created), "CREATED2", fmtFloat(created+60), "DONE", fmtFloat(done)).Replace(`
# HELP intake_schedule_created_timestamp_seconds When an active schedule was created, the staleness baseline of one whose jobs never completed.
# TYPE intake_schedule_created_timestamp_seconds gauge
intake_schedule_created_timestamp_seconds{schedule_id="HOURLY"} CREATED1
intake_schedule_created_timestamp_seconds{schedule_id="WEEKDAYS"} CREATED2
# HELP intake_schedule_last_success_timestamp_seconds When the last completed job of an active schedule completed; absent until one has.
# TYPE intake_schedule_last_success_timestamp_seconds gauge
intake_schedule_last_success_timestamp_seconds{schedule_id="HOURLY"} DONE
# HELP intake_schedule_period_seconds The longest gap between an active schedule's next ticks: its interval, or the widest of its cron expression's next eight gaps.
# TYPE intake_schedule_period_seconds gauge
intake_schedule_period_seconds{schedule_id="HOURLY"} 3600
intake_schedule_period_seconds{schedule_id="WEEKDAYS"} 259200
# HELP intake_schedule_stats_up Whether the last read of the schedules from the store succeeded (1) or not (0).
# TYPE intake_schedule_stats_up gauge
intake_schedule_stats_up 1
# HELP intake_schedules Schedules in the store by state: active or paused (a snapshot of the shared store: aggregate replicas with max).
# TYPE intake_schedules gauge
intake_schedules{state="active"} 2
intake_schedules{state="paused"} 1
`)
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	lint(t, reg)
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// failingHealthStore fails ScheduleHealth.
type failingHealthStore struct{ intake.Store }

func (failingHealthStore) ScheduleHealth(context.Context) ([]intake.ScheduleHealth, error) {
	return nil, errors.New("store down")
}

func TestScheduleCollectorDown(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewScheduleCollector(failingHealthStore{openStore(t, nil)}, time.Second, 0, nil))
	if v, ok := value(t, reg, "intake_schedule_stats_up", nil); !ok || v != 0 {
		t.Fatalf("up = %v (present %v), want 0", v, ok)
	}
	if _, ok := value(t, reg, "intake_schedules", map[string]string{"state": "active"}); ok {
		t.Fatal("counts exported without a successful read")
	}
}
