package api

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/schedule"
)

// minVersion is the smallest version a schedule has.
var minVersion = 1.0

type patchScheduleInput struct {
	ScheduleID string `path:"schedule_id" maxLength:"64" doc:"The schedule's id, a UUID. A malformed id is simply not found (404)."`
	IfMatch    string `header:"If-Match" maxLength:"40" doc:"The ETag (quoted version) of the schedule the change was made to; a schedule changed since is a 409."`
	// RawBody is a JSON merge patch of the schedule body.
	RawBody     []byte
	contentType string
}

// Resolve implements huma.Resolver: it keeps the Content-Type.
func (in *patchScheduleInput) Resolve(ctx huma.Context) []error {
	in.contentType = ctx.Header("Content-Type")
	return nil
}

// patchSchema documents the PATCH body: every property of the schedule
// body, all optional, and version.
func patchSchema(extra map[string]*huma.Schema) *huma.Schema {
	props := maps.Clone(extra)
	props[discriminator] = &huma.Schema{Type: huma.TypeString, Description: "Another source type; config must then suit it."}
	props["config"] = &huma.Schema{Type: huma.TypeObject, AdditionalProperties: true,
		Description: "The whole new config (it replaces the old one rather than merging with it), validated like a trigger's."}
	props["version"] = &huma.Schema{Type: huma.TypeInteger, Minimum: &minVersion,
		Description: "The version the change was made to, like If-Match; a schedule changed since is a 409."}
	return &huma.Schema{
		Type: huma.TypeObject,
		Description: "A JSON merge patch (RFC 7396) of the schedule body: the properties given replace the schedule's, null removes " +
			"one (\"cron\": null with an interval switches to the interval), config is replaced whole. The result is validated like a new " +
			"schedule. A changed cron, interval or time_zone moves next_fire_at to the next tick after now; resuming (paused: false) " +
			"keeps it, so that the misfire policy applies to the ticks missed.",
		Properties:           props,
		AdditionalProperties: false,
	}
}

// patch applies a JSON merge patch to a schedule and validates the result
// like a new schedule. Without a version (If-Match or "version") it
// retries a few times when the schedule changes under it.
func (h *schedules) patch(ctx context.Context, in *patchScheduleInput) (*scheduleOutput, error) {
	if !intake.ValidID(in.ScheduleID) {
		return nil, h.p.from(ctx, errScheduleNotFound)
	}
	patch, err := decodeObject(in.contentType, in.RawBody)
	if err != nil {
		return nil, err
	}
	version, err := patchVersion(in.IfMatch, patch)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		old, err := h.store.GetSchedule(ctx, in.ScheduleID)
		if err != nil {
			return nil, h.p.from(ctx, fmt.Errorf("get schedule: %w", err))
		}
		if version != 0 && old.Version != version {
			return nil, huma.Error409Conflict(fmt.Sprintf("the schedule is at version %d, not %d; fetch it and retry", old.Version, version))
		}
		s, err := h.merge(ctx, old, patch)
		if err != nil {
			return nil, err
		}
		updated, err := h.store.UpdateSchedule(ctx, s)
		if intake.ErrorCode(err) == intake.ECONFLICT && version == 0 && attempt < patchRetries {
			continue
		}
		if err != nil {
			return nil, h.p.from(ctx, fmt.Errorf("update schedule: %w", err))
		}
		return newScheduleOutput(http.StatusOK, updated), nil
	}
}

// merge returns old with patch applied, validated.
func (h *schedules) merge(ctx context.Context, old *intake.Schedule, patch map[string]json.RawMessage) (*intake.Schedule, error) {
	doc, err := scheduleDocument(old)
	if err != nil {
		return nil, h.p.from(ctx, err)
	}
	for k, v := range patch {
		if string(v) == "null" {
			delete(doc, k)
		} else {
			doc[k] = v
		}
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, h.p.from(ctx, fmt.Errorf("encode merged schedule: %w", err))
	}
	req, err := h.body.parse("application/json", raw)
	if err != nil {
		return nil, err
	}
	s := *old
	if err := h.apply(ctx, &s, req); err != nil {
		return nil, err
	}
	// A notify given is checked (null removes it: the deployment's
	// default applies at creation only); the one kept is not, so that a
	// secret the operator has since removed does not block other changes.
	if raw, ok := patch["notify"]; ok {
		if s.Notify, err = h.notify.parse(raw); err != nil {
			return nil, err
		}
	}
	if s.Cron != old.Cron || s.Interval != old.Interval || s.TimeZone != old.TimeZone {
		if s.NextFireAt, err = schedule.Next(&s, h.now()); err != nil {
			return nil, h.invalid(ctx, err)
		}
	}
	return &s, nil
}

// scheduleDocument renders a schedule as the body that would create it,
// for a patch to apply to.
func scheduleDocument(s *intake.Schedule) (map[string]json.RawMessage, error) {
	doc := map[string]json.RawMessage{"config": s.Config}
	set := func(k string, v any) error {
		b, err := json.Marshal(v)
		doc[k] = b
		return err
	}
	durationString := func(d intake.Duration) string { return time.Duration(d).String() }
	fields := []struct {
		name  string
		value any
		ok    bool
	}{
		{discriminator, s.SourceType, true},
		{"name", s.Name, s.Name != ""},
		{"cron", s.Cron, s.Cron != ""},
		{"interval", durationString(s.Interval), s.Interval != 0},
		{"time_zone", s.TimeZone, s.TimeZone != ""},
		{"jitter", durationString(s.Jitter), s.Jitter != 0},
		{"paused", s.Paused, true},
		{"misfire", s.Misfire, s.Misfire != ""},
		{"overlap", s.Overlap, s.Overlap != ""},
		{"notify", newNotifyView(s.Notify), s.Notify != nil},
	}
	for _, f := range fields {
		if !f.ok {
			continue
		}
		if err := set(f.name, f.value); err != nil {
			return nil, fmt.Errorf("encode schedule %s: %w", f.name, err)
		}
	}
	return doc, nil
}

// decodeObject checks that a body is a JSON object (415 for another
// content type, 400 when malformed, 422 otherwise) and returns its
// properties.
func decodeObject(contentType string, raw []byte) (map[string]json.RawMessage, error) {
	if !isJSON(contentType) {
		return nil, huma.Error415UnsupportedMediaType("the body must be application/json or application/merge-patch+json, not " + contentType)
	}
	if !utf8.Valid(raw) {
		return nil, huma.Error422UnprocessableEntity("validation failed",
			&huma.ErrorDetail{Location: "body", Message: "is not valid UTF-8"})
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, huma.Error400BadRequest("the body is not valid JSON",
			&huma.ErrorDetail{Location: "body", Message: err.Error()})
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, huma.Error422UnprocessableEntity("validation failed",
			&huma.ErrorDetail{Location: "body", Message: "expected object", Value: v})
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, huma.Error400BadRequest("the body is not valid JSON",
			&huma.ErrorDetail{Location: "body", Message: err.Error()})
	}
	return obj, nil
}

// patchVersion returns the version a patch was made to, from If-Match or
// the body's "version" (which it removes from the patch); 0 when neither
// is given. The two must agree.
func patchVersion(ifMatch string, patch map[string]json.RawMessage) (int64, error) {
	var fromHeader, fromBody int64
	if ifMatch != "" {
		v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(strings.TrimSpace(ifMatch), "W/"), `"`), 10, 64)
		if err != nil || v < 1 {
			return 0, huma.Error422UnprocessableEntity("validation failed",
				&huma.ErrorDetail{Location: "header.If-Match", Message: "must be the schedule's ETag, a quoted version", Value: ifMatch})
		}
		fromHeader = v
	}
	if raw, ok := patch["version"]; ok {
		delete(patch, "version")
		if err := json.Unmarshal(raw, &fromBody); err != nil || fromBody < 1 {
			return 0, huma.Error422UnprocessableEntity("validation failed",
				&huma.ErrorDetail{Location: "body.version", Message: "must be a positive integer", Value: string(raw)})
		}
	}
	if fromHeader != 0 && fromBody != 0 && fromHeader != fromBody {
		return 0, huma.Error422UnprocessableEntity("validation failed",
			&huma.ErrorDetail{Location: "body.version", Message: "differs from If-Match", Value: fromBody})
	}
	return max(fromHeader, fromBody), nil
}
