package intake

import (
	"encoding/json"
	"time"
)

// Schedule is a standing request to collect from a source again and again:
// every time its cron expression (or interval) ticks, the maintenance loop
// creates a job with the schedule's source config, linked to the schedule's
// previous completed job so that the worker can tell what changed between
// the two collections.
//
// A tick fires exactly once however many replicas run the maintenance
// loop: the job it creates carries the idempotency key ScheduleTickKey,
// unique per tenant in every store, and the schedule moves on to its next
// tick by a compare-and-set on NextFireAt (AdvanceSchedule).
type Schedule struct {
	// ID is a UUIDv7 string set by the store.
	ID string `json:"id"`
	// Tenant owns the schedule and its jobs.
	Tenant string `json:"tenant"`
	// Name is the client's label for the schedule; it need not be unique.
	Name string `json:"name,omitempty"`
	// SourceType and Config are those of every job the schedule creates,
	// validated exactly like a trigger's.
	SourceType string          `json:"source_type"`
	Config     json.RawMessage `json:"config"`
	// Cron is a five-field cron expression or a descriptor (@daily,
	// @every 1h30m), read in TimeZone. Exactly one of Cron and Interval is
	// set.
	Cron string `json:"cron,omitempty"`
	// Interval ticks at every multiple of Interval since the Unix epoch
	// (24h at midnight UTC, 1h on the hour, 2s on even seconds).
	Interval Duration `json:"interval,omitempty"`
	// TimeZone is the IANA zone Cron is read in; UTC when empty.
	TimeZone string `json:"time_zone,omitempty"`
	// Jitter delays each tick's job by a deterministic amount in
	// [0, Jitter), the same in every replica, so that many schedules on the
	// same tick do not all start at once.
	Jitter Duration `json:"jitter,omitempty"`
	// Paused schedules do not fire; resuming one applies Misfire to the
	// ticks it missed.
	Paused bool `json:"paused"`
	// Misfire says what happens to ticks missed while nothing ran (or the
	// schedule was paused).
	Misfire MisfirePolicy `json:"misfire"`
	// Overlap says what happens to a tick while the schedule's previous job
	// has not ended.
	Overlap OverlapPolicy `json:"overlap"`
	// Notify, when set, is copied onto every job the schedule creates.
	Notify *Notify `json:"notify,omitempty"`
	// NextFireAt is the schedule's next tick, before jitter.
	NextFireAt time.Time `json:"next_fire_at"`
	// LastFireAt is the last tick that was handled (fired or skipped), and
	// LastJobID the job its last fire created.
	LastFireAt time.Time `json:"last_fire_at,omitzero"`
	LastJobID  string    `json:"last_job_id,omitempty"`
	// Version counts the schedule's updates; UpdateSchedule compares it.
	Version int64 `json:"version"`
	// CreatedAt and UpdatedAt are set by the store.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MisfirePolicy says what a schedule does with the ticks it missed.
type MisfirePolicy string

// The misfire policies.
const (
	// MisfireFireOnce fires one job for all the ticks missed, then goes on
	// from the next tick after now. It is the default.
	MisfireFireOnce MisfirePolicy = "fire_once"
	// MisfireSkip skips the missed ticks and goes on from the next tick
	// after now.
	MisfireSkip MisfirePolicy = "skip"
)

// OverlapPolicy says what a schedule does with a tick while jobs it created
// have not ended.
type OverlapPolicy string

// The overlap policies.
const (
	// OverlapSkip skips the tick while any job of the schedule is not
	// terminal. It is the default.
	OverlapSkip OverlapPolicy = "skip"
	// OverlapQueueOne fires while at most one job of the schedule is not
	// terminal, so at most one waits behind the running one.
	OverlapQueueOne OverlapPolicy = "queue_one"
)

// ScheduleTickKey is the idempotency key of the job that a schedule's tick
// creates. Because the key is unique per tenant in every store, the tick
// fires once however many replicas try.
func ScheduleTickKey(scheduleID string, tick time.Time) string {
	return "schedule:" + scheduleID + ":" + tick.UTC().Format(time.RFC3339Nano)
}

// ScheduleFilter selects a page of schedules.
type ScheduleFilter struct {
	// Cursor is the NextCursor of the previous page; empty for the first.
	Cursor string
	// Limit is the page size; stores cap it at MaxPageSize.
	Limit int
}

// SchedulePage is one page of schedules, newest first.
type SchedulePage struct {
	Schedules []*Schedule
	// NextCursor is empty on the last page.
	NextCursor string
}

// ScheduleJobs is what a schedule's tick needs to know of its jobs.
type ScheduleJobs struct {
	// Active counts the schedule's jobs that are not terminal.
	Active int
	// LastCompletedID is the schedule's most recently completed job ("" when
	// none has completed), which a new job compares its documents with.
	LastCompletedID string
	// TickJobID is the job created for the tick asked about, found by its
	// idempotency key ScheduleTickKey(s.ID, tick) in s.Tenant; "" when
	// none. A replica that finds it records the tick as fired with that
	// job instead of checking overlap, since the job is the tick's own.
	TickJobID string
}

// ScheduleHealth is, per schedule, when its last job completed, for the
// alert on schedules that stopped producing.
type ScheduleHealth struct {
	ScheduleID string
	// LastCompletedAt is zero when no job of the schedule has completed.
	LastCompletedAt time.Time
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("90s", "24h").
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return Errorf(EINVALID, "duration must be a string such as \"90s\" or \"24h\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return Errorf(EINVALID, "invalid duration %q: want a number and a unit such as \"90s\" or \"24h\"", s)
	}
	*d = Duration(v)
	return nil
}
