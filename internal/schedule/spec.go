// Package schedule fires schedules: it reads their cron expressions and
// intervals (Validate, Next, FireAt, Period) and, on every maintenance
// pass, creates the job of each due tick exactly once across replicas.
package schedule

import (
	"hash/fnv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/intake-dev/intake"
)

// MinInterval is the shortest interval a schedule may have; cron
// expressions tick at most once a minute anyway.
const MinInterval = time.Second

// parser reads standard five-field expressions and descriptors such as
// @daily and @every 1h30m.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Validate checks a schedule's timing fields and policies: exactly one of
// Cron and Interval, a cron expression that parses, a time zone the
// system knows, an interval of at least MinInterval, a jitter below the
// period. It returns an EINVALID error with a FieldError per problem.
func Validate(s *intake.Schedule) error {
	var fields []intake.FieldError
	bad := func(loc, msg string) { fields = append(fields, intake.FieldError{Location: loc, Message: msg}) }
	switch {
	case s.Cron == "" && s.Interval == 0:
		bad("cron", "one of cron and interval is required")
	case s.Cron != "" && s.Interval != 0:
		bad("interval", "cron and interval are mutually exclusive")
	case s.Cron != "":
		if _, err := parse(s.Cron); err != nil {
			bad("cron", err.Error())
		}
	case time.Duration(s.Interval) < MinInterval:
		bad("interval", "must be at least "+MinInterval.String())
	}
	if s.TimeZone != "" {
		if s.Cron == "" {
			bad("time_zone", "applies to cron only")
		} else if _, err := time.LoadLocation(s.TimeZone); err != nil || strings.EqualFold(s.TimeZone, "local") {
			bad("time_zone", "unknown time zone "+quote(s.TimeZone)+"; use an IANA name such as Europe/London")
		}
	}
	if s.Jitter < 0 {
		bad("jitter", "must not be negative")
	}
	switch s.Misfire {
	case "", intake.MisfireFireOnce, intake.MisfireSkip:
	default:
		bad("misfire", "must be fire_once or skip")
	}
	switch s.Overlap {
	case "", intake.OverlapSkip, intake.OverlapQueueOne:
	default:
		bad("overlap", "must be skip or queue_one")
	}
	if len(fields) == 0 && s.Jitter > 0 {
		if p, err := Period(s, time.Now()); err == nil && time.Duration(s.Jitter) >= p {
			bad("jitter", "must be shorter than the period ("+p.String()+")")
		}
	}
	if len(fields) > 0 {
		return intake.Invalid("schedule", fields...)
	}
	return nil
}

func quote(s string) string { return `"` + s + `"` }

// parse reads a cron expression. A CRON_TZ= or TZ= prefix is refused: the
// zone is the schedule's time_zone, so that it is visible and validated.
func parse(expr string) (cron.Schedule, error) {
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, intake.Errorf(intake.EINVALID, "set the zone in time_zone, not in the expression")
	}
	sched, err := parser.Parse(expr)
	if err != nil {
		return nil, intake.Errorf(intake.EINVALID, "%s", err.Error())
	}
	return sched, nil
}

// Next returns the schedule's first tick strictly after after: the next
// time its cron expression matches in its time zone, or the next multiple
// of its interval since the Unix epoch (so 24h ticks at midnight UTC and
// 1h on the hour). Ticks are whole milliseconds, as the stores keep them.
func Next(s *intake.Schedule, after time.Time) (time.Time, error) {
	if s.Cron == "" {
		iv := time.Duration(s.Interval)
		if iv < MinInterval {
			return time.Time{}, intake.Errorf(intake.EINVALID, "interval must be at least %s", MinInterval)
		}
		n := after.UnixNano()/int64(iv) + 1
		return time.Unix(0, n*int64(iv)).UTC().Truncate(time.Millisecond), nil
	}
	sched, err := parse(s.Cron)
	if err != nil {
		return time.Time{}, err
	}
	loc := time.UTC
	if s.TimeZone != "" {
		if loc, err = time.LoadLocation(s.TimeZone); err != nil {
			return time.Time{}, intake.Errorf(intake.EINVALID, "unknown time zone %q", s.TimeZone)
		}
	}
	next := sched.Next(after.In(loc))
	if next.IsZero() {
		return time.Time{}, intake.Errorf(intake.EINVALID, "cron expression %q never matches", s.Cron)
	}
	return next.UTC().Truncate(time.Millisecond), nil
}

// FireAt returns when the job of tick is due: tick plus a jitter in
// [0, Jitter) drawn from the schedule's ID and the tick, so that every
// replica computes the same.
func FireAt(s *intake.Schedule, tick time.Time) time.Time {
	if s.Jitter <= 0 {
		return tick
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(s.ID))
	_, _ = h.Write([]byte(tick.UTC().Format(time.RFC3339Nano)))
	off := time.Duration(h.Sum64() % uint64(s.Jitter))
	return tick.Add(off).Truncate(time.Millisecond)
}

// Period returns the longest gap between the schedule's next few ticks
// after t: the interval, or for a cron expression the widest of its next
// eight gaps (a weekday schedule's weekend counts).
func Period(s *intake.Schedule, t time.Time) (time.Duration, error) {
	if s.Cron == "" {
		return time.Duration(s.Interval), nil
	}
	prev, err := Next(s, t)
	if err != nil {
		return 0, err
	}
	var widest time.Duration
	for range 8 {
		next, err := Next(s, prev)
		if err != nil {
			return 0, err
		}
		widest = max(widest, next.Sub(prev))
		prev = next
	}
	return widest, nil
}
