package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/schedule"
)

// Page size and update retries of the schedule endpoints.
const (
	defaultSchedulePage = 50
	// patchRetries bounds how often a PATCH without a version re-reads a
	// schedule that changed under it (a fire advanced it) before it gives
	// up with a 409.
	patchRetries = 3
)

// scheduleKind is the schedule body: a trigger's source_type and config,
// validated the same way, plus the schedule's timing, policies and notify.
func scheduleKind(notify *huma.Schema) bodyKind {
	return bodyKind{
		suffix:   "ScheduleRequest",
		describe: func(typ string) string { return fmt.Sprintf("Collects from a %s source on a schedule.", typ) },
		about: "A schedule: its source_type (GET /api/v1/sources lists them) and that source's config, validated exactly like " +
			"a trigger's, and either a cron expression (in time_zone) or an interval.",
		extra:   scheduleProperties(notify),
		example: map[string]any{"name": "Daily filings", "cron": "0 6 * * *", "time_zone": "Europe/London", "jitter": "5m"},
	}
}

// scheduleProperties are the schedule body's properties besides
// source_type and config, without defaults: a PATCH must not reset them.
func scheduleProperties(notify *huma.Schema) map[string]*huma.Schema {
	str := func(desc string, maxLen int, examples ...any) *huma.Schema {
		s := &huma.Schema{Type: huma.TypeString, Description: desc, MaxLength: &maxLen, Examples: examples}
		s.PrecomputeMessages()
		return s
	}
	enum := func(desc string, values ...any) *huma.Schema {
		s := &huma.Schema{Type: huma.TypeString, Description: desc, Enum: values}
		s.PrecomputeMessages()
		return s
	}
	paused := &huma.Schema{Type: huma.TypeBoolean, Description: "A paused schedule does not fire. Resuming it applies misfire to the ticks it missed."}
	paused.PrecomputeMessages()
	return map[string]*huma.Schema{
		"name": str("The schedule's label; it need not be unique.", 200, "Daily filings"),
		"cron": str("A five-field cron expression (minute hour day-of-month month day-of-week) or a descriptor "+
			"(@hourly, @daily, @weekly, @every 1h30m), read in time_zone. Exactly one of cron and interval.", 200, "0 6 * * 1-5"),
		"interval": str("A Go duration (at least 1s): the schedule ticks at every multiple of it since the Unix epoch "+
			"(24h at midnight UTC, 1h on the hour). Exactly one of cron and interval.", 40, "24h"),
		"time_zone": str("The IANA time zone cron is read in; UTC when absent. Only with cron.", 64, "Europe/London"),
		"jitter": str("Delays each tick's job by a deterministic amount below this Go duration (the same in every replica), "+
			"so that schedules on the same tick do not all start at once. Must be shorter than the period.", 40, "5m"),
		"paused": paused,
		"misfire": enum("What happens to ticks missed while nothing ran or the schedule was paused: fire_once (the default) "+
			"fires one job for all of them, skip goes on from the next tick.", string(intake.MisfireFireOnce), string(intake.MisfireSkip)),
		"overlap": enum("What happens to a tick while the schedule's previous job has not ended: skip (the default) skips it, "+
			"queue_one fires while at most one job is unfinished.", string(intake.OverlapSkip), string(intake.OverlapQueueOne)),
		"notify": notify,
	}
}

// scheduleLinks are the URLs a client follows from a schedule.
type scheduleLinks struct {
	Self    string `json:"self" doc:"The schedule; PATCH and DELETE it here."`
	LastJob string `json:"last_job,omitempty" doc:"The status of the job the schedule's last fire created."`
}

// scheduleView is a schedule as the API shows it. The source config is
// left out, as it is from jobs: it may hold credentials.
type scheduleView struct {
	ID         string               `json:"id" format:"uuid"`
	Name       string               `json:"name,omitempty" example:"Daily filings"`
	SourceType string               `json:"source_type" example:"filings"`
	Cron       string               `json:"cron,omitempty" example:"0 6 * * 1-5"`
	Interval   string               `json:"interval,omitempty" example:"24h0m0s" doc:"A Go duration."`
	TimeZone   string               `json:"time_zone,omitempty" example:"Europe/London"`
	Jitter     string               `json:"jitter,omitempty" example:"5m0s" doc:"A Go duration."`
	State      string               `json:"state" enum:"active,paused" doc:"active, or paused (paused is true)."`
	Paused     bool                 `json:"paused"`
	Misfire    intake.MisfirePolicy `json:"misfire" enum:"fire_once,skip"`
	Overlap    intake.OverlapPolicy `json:"overlap" enum:"skip,queue_one"`
	Notify     *notifyView          `json:"notify,omitempty" doc:"Where the events of the schedule's jobs are delivered."`
	NextFireAt time.Time            `json:"next_fire_at" doc:"The next tick. It stays in the past while the schedule is paused, so that resuming applies misfire."`
	NextJobAt  time.Time            `json:"next_job_at" doc:"When the next tick's job is due: next_fire_at plus the schedule's jitter."`
	LastFireAt *time.Time           `json:"last_fire_at,omitempty" doc:"The last tick handled (fired or skipped)."`
	LastJobID  string               `json:"last_job_id,omitempty" format:"uuid" doc:"The job the last fire created."`
	Version    int64                `json:"version" doc:"Counts the schedule's updates; PATCH compares it (If-Match or version)."`
	CreatedAt  time.Time            `json:"created_at"`
	UpdatedAt  time.Time            `json:"updated_at"`
	Links      scheduleLinks        `json:"links"`
}

func newScheduleView(s *intake.Schedule) scheduleView {
	v := scheduleView{
		ID:         s.ID,
		Name:       s.Name,
		SourceType: s.SourceType,
		Cron:       s.Cron,
		TimeZone:   s.TimeZone,
		State:      "active",
		Paused:     s.Paused,
		Misfire:    s.Misfire,
		Overlap:    s.Overlap,
		Notify:     newNotifyView(s.Notify),
		NextFireAt: s.NextFireAt,
		NextJobAt:  schedule.FireAt(s, s.NextFireAt),
		LastFireAt: timePtr(s.LastFireAt),
		LastJobID:  s.LastJobID,
		Version:    s.Version,
		CreatedAt:  s.CreatedAt,
		UpdatedAt:  s.UpdatedAt,
		Links:      scheduleLinks{Self: "/api/v1/schedules/" + s.ID},
	}
	if s.Paused {
		v.State = "paused"
	}
	if s.Interval != 0 {
		v.Interval = time.Duration(s.Interval).String()
	}
	if s.Jitter != 0 {
		v.Jitter = time.Duration(s.Jitter).String()
	}
	if s.LastJobID != "" {
		v.Links.LastJob = linksFor(s.LastJobID).Self
	}
	return v
}

// schedules serves the schedule endpoints.
type schedules struct {
	store   intake.Store
	sources intake.Sources
	body    *sourceBody
	notify  *notifyPolicy
	p       *problems
	now     func() time.Time
}

type createScheduleInput struct {
	// RawBody is validated by sourceBody.parse, like a trigger's.
	RawBody     []byte
	contentType string
}

// Resolve implements huma.Resolver: it keeps the Content-Type.
func (in *createScheduleInput) Resolve(ctx huma.Context) []error {
	in.contentType = ctx.Header("Content-Type")
	return nil
}

type scheduleOutput struct {
	Status   int
	Location string `header:"Location"`
	ETag     string `header:"ETag" doc:"The schedule's version, quoted; send it back in If-Match."`
	Body     scheduleView
}

func newScheduleOutput(status int, s *intake.Schedule) *scheduleOutput {
	v := newScheduleView(s)
	out := &scheduleOutput{Status: status, ETag: etag(s.Version), Body: v}
	if status == http.StatusCreated {
		out.Location = v.Links.Self
	}
	return out
}

func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// create records a schedule whose first tick is the next one after now.
func (h *schedules) create(ctx context.Context, in *createScheduleInput) (*scheduleOutput, error) {
	req, err := h.body.parse(in.contentType, in.RawBody)
	if err != nil {
		return nil, err
	}
	s := &intake.Schedule{Tenant: intake.DefaultTenant}
	if err := h.apply(ctx, s, req); err != nil {
		return nil, err
	}
	n, err := h.notify.parse(req.Fields["notify"])
	if err != nil {
		return nil, err
	}
	s.Notify = h.notify.orDefault(n)
	if s.NextFireAt, err = schedule.Next(s, h.now()); err != nil {
		return nil, h.invalid(ctx, err)
	}
	created, err := h.store.CreateSchedule(ctx, s)
	if err != nil {
		return nil, h.p.from(ctx, fmt.Errorf("create schedule: %w", err))
	}
	return newScheduleOutput(http.StatusCreated, created), nil
}

// apply sets s's fields from a validated body, notify aside: the source
// config (checked by its source) and the timing and policies
// (schedule.Validate).
func (h *schedules) apply(ctx context.Context, s *intake.Schedule, req *sourceRequest) error {
	var f struct {
		Name     string               `json:"name"`
		Cron     string               `json:"cron"`
		TimeZone string               `json:"time_zone"`
		Paused   bool                 `json:"paused"`
		Misfire  intake.MisfirePolicy `json:"misfire"`
		Overlap  intake.OverlapPolicy `json:"overlap"`
	}
	// The schema has checked these fields' types.
	raw, err := json.Marshal(req.Fields)
	if err != nil {
		return h.p.from(ctx, fmt.Errorf("re-encode schedule body: %w", err))
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{Location: "body", Message: err.Error()})
	}
	interval, err := duration(req.Fields, "interval")
	if err != nil {
		return err
	}
	jitter, err := duration(req.Fields, "jitter")
	if err != nil {
		return err
	}
	s.Name, s.SourceType, s.Config = f.Name, req.SourceType, req.Config
	s.Cron, s.Interval, s.TimeZone, s.Jitter = f.Cron, interval, f.TimeZone, jitter
	s.Paused, s.Misfire, s.Overlap = f.Paused, f.Misfire, f.Overlap
	if err := schedule.Validate(s); err != nil {
		return h.invalid(ctx, err)
	}
	if s.Misfire == "" {
		s.Misfire = intake.MisfireFireOnce
	}
	if s.Overlap == "" {
		s.Overlap = intake.OverlapSkip
	}
	src, err := h.sources.Lookup(s.SourceType)
	if err != nil {
		return h.p.from(ctx, err)
	}
	if err := src.Validate(ctx, s.Config); err != nil {
		return h.p.from(ctx, fmt.Errorf("validate %s config: %w", s.SourceType, err))
	}
	return nil
}

// duration decodes the Go duration of a body property; zero when absent.
func duration(fields map[string]json.RawMessage, name string) (intake.Duration, error) {
	var d intake.Duration
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return 0, nil
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return 0, huma.Error422UnprocessableEntity("validation failed",
			&huma.ErrorDetail{Location: "body." + name, Message: intake.ErrorMessage(err), Value: strings.Trim(string(raw), `"`)})
	}
	return d, nil
}

// invalid turns an EINVALID error whose field locations are body
// properties (schedule.Validate's) into a 422 located at body.<property>;
// other errors go through the problems mapper.
func (h *schedules) invalid(ctx context.Context, err error) error {
	var e *intake.Error
	if !errors.As(err, &e) || e.Code != intake.EINVALID {
		return h.p.from(ctx, err)
	}
	details := make([]error, 0, len(e.Fields))
	for _, f := range e.Fields {
		loc := "body"
		if f.Location != "" {
			loc += "." + f.Location
		}
		details = append(details, &huma.ErrorDetail{Location: loc, Message: f.Message, Value: f.Value})
	}
	return huma.Error422UnprocessableEntity(intake.ErrorMessage(err), details...)
}

type scheduleIDInput struct {
	ScheduleID string `path:"schedule_id" maxLength:"64" doc:"The schedule's id, a UUID. A malformed id is simply not found (404)."`
}

// errScheduleNotFound answers ids that cannot name a schedule without
// asking the store.
var errScheduleNotFound = intake.Errorf(intake.ENOTFOUND, "schedule not found")

// get returns a schedule.
func (h *schedules) get(ctx context.Context, in *scheduleIDInput) (*scheduleOutput, error) {
	if !intake.ValidID(in.ScheduleID) {
		return nil, h.p.from(ctx, errScheduleNotFound)
	}
	s, err := h.store.GetSchedule(ctx, in.ScheduleID)
	if err != nil {
		return nil, h.p.from(ctx, fmt.Errorf("get schedule: %w", err))
	}
	return newScheduleOutput(http.StatusOK, s), nil
}

// remove deletes a schedule; the jobs it created stay.
func (h *schedules) remove(ctx context.Context, in *scheduleIDInput) (*struct{}, error) {
	if !intake.ValidID(in.ScheduleID) {
		return nil, h.p.from(ctx, errScheduleNotFound)
	}
	if err := h.store.DeleteSchedule(ctx, in.ScheduleID); err != nil {
		return nil, h.p.from(ctx, fmt.Errorf("delete schedule: %w", err))
	}
	return nil, nil
}

type listSchedulesInput struct {
	Cursor string `query:"cursor" maxLength:"512" doc:"next_cursor of the previous page."`
	Limit  int    `query:"limit" minimum:"1" maximum:"500" default:"50" doc:"Page size."`
}

type listSchedulesBody struct {
	Schedules  []scheduleView `json:"schedules" nullable:"false"`
	NextCursor string         `json:"next_cursor,omitempty" doc:"Pass as cursor for the next page; absent on the last page."`
}

type listSchedulesOutput struct {
	Body listSchedulesBody
}

// list returns a page of schedules, newest first.
func (h *schedules) list(ctx context.Context, in *listSchedulesInput) (*listSchedulesOutput, error) {
	limit := in.Limit
	if limit <= 0 {
		limit = defaultSchedulePage
	}
	page, err := h.store.ListSchedules(ctx, intake.ScheduleFilter{Cursor: in.Cursor, Limit: limit})
	if err != nil {
		return nil, h.p.from(ctx, fmt.Errorf("list schedules: %w", err))
	}
	out := &listSchedulesOutput{Body: listSchedulesBody{Schedules: make([]scheduleView, 0, len(page.Schedules)), NextCursor: page.NextCursor}}
	for _, s := range page.Schedules {
		out.Body.Schedules = append(out.Body.Schedules, newScheduleView(s))
	}
	return out, nil
}
