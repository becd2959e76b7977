package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/intake-dev/intake"
)

// CreateSchedule validates s and inserts a copy with its ID, Version 1,
// CreatedAt and UpdatedAt set by the store, an empty Tenant as
// intake.DefaultTenant and empty policies as their defaults.
func (s *Store) CreateSchedule(ctx context.Context, in *intake.Schedule) (*intake.Schedule, error) {
	if err := validSchedule("create schedule", in); err != nil {
		return nil, err
	}
	now := s.now()
	sch := normalSchedule(in)
	sch.ID, sch.Version, sch.CreatedAt, sch.UpdatedAt = intake.NewID(), 1, now, now
	sch.LastFireAt, sch.LastJobID = time.Time{}, ""
	if sch.Tenant == "" {
		sch.Tenant = intake.DefaultTenant
	}
	if err := s.d.CreateSchedule(ctx, sch); err != nil {
		return nil, s.wrap(err, "create schedule")
	}
	return sch, nil
}

// validSchedule checks what the store needs of a schedule; the API checks
// its timing (internal/schedule).
func validSchedule(op string, s *intake.Schedule) error {
	switch {
	case s == nil:
		return intake.Errorf(intake.EINVALID, "%s: a schedule is required", op)
	case s.SourceType == "":
		return intake.Errorf(intake.EINVALID, "%s: the schedule has no source_type", op)
	case len(s.Config) > 0 && !json.Valid(s.Config):
		return intake.Errorf(intake.EINVALID, "%s: the schedule's config is not valid JSON", op)
	case s.NextFireAt.IsZero():
		return intake.Errorf(intake.EINVALID, "%s: the schedule has no next_fire_at", op)
	case s.Interval < 0 || s.Jitter < 0:
		return intake.Errorf(intake.EINVALID, "%s: interval and jitter must not be negative", op)
	}
	switch s.Misfire {
	case "", intake.MisfireFireOnce, intake.MisfireSkip:
	default:
		return intake.Errorf(intake.EINVALID, "%s: unknown misfire policy %q", op, s.Misfire)
	}
	switch s.Overlap {
	case "", intake.OverlapSkip, intake.OverlapQueueOne:
	default:
		return intake.Errorf(intake.EINVALID, "%s: unknown overlap policy %q", op, s.Overlap)
	}
	return nil
}

// normalSchedule returns a copy of a valid schedule with defaults applied
// and times at the precision every driver keeps.
func normalSchedule(in *intake.Schedule) *intake.Schedule {
	s := *in
	if len(s.Config) == 0 {
		s.Config = json.RawMessage(`{}`)
	}
	if s.Misfire == "" {
		s.Misfire = intake.MisfireFireOnce
	}
	if s.Overlap == "" {
		s.Overlap = intake.OverlapSkip
	}
	s.NextFireAt = s.NextFireAt.UTC().Truncate(time.Millisecond)
	return &s
}

// GetSchedule returns a schedule by ID, or an ENOTFOUND error.
func (s *Store) GetSchedule(ctx context.Context, id string) (*intake.Schedule, error) {
	if !intake.ValidID(id) {
		return nil, errScheduleNotFound(id)
	}
	sch, err := s.d.GetSchedule(ctx, id)
	if err != nil {
		return nil, s.wrap(err, "get schedule %s", id)
	}
	if sch == nil {
		return nil, errScheduleNotFound(id)
	}
	return sch, nil
}

func errScheduleNotFound(id string) error {
	return intake.Errorf(intake.ENOTFOUND, "schedule %s not found", id)
}

// ListSchedules returns schedules newest first; the cursor is the
// base64url-encoded ID of the last schedule of a page.
func (s *Store) ListSchedules(ctx context.Context, f intake.ScheduleFilter) (*intake.SchedulePage, error) {
	limit := pageSize(f.Limit)
	var before string
	if f.Cursor != "" {
		var err error
		if before, err = decodeListCursor("list schedules", f.Cursor); err != nil {
			return nil, err
		}
	}
	list, err := s.d.ListSchedules(ctx, before, limit+1)
	if err != nil {
		return nil, s.wrap(err, "list schedules")
	}
	page := &intake.SchedulePage{Schedules: list}
	if page.Schedules == nil {
		page.Schedules = []*intake.Schedule{}
	}
	if len(page.Schedules) > limit {
		page.Schedules = page.Schedules[:limit]
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(page.Schedules[limit-1].ID))
	}
	return page, nil
}

// UpdateSchedule replaces the schedule whose ID and Version match in's
// and returns it with Version+1. The store keeps Tenant, LastFireAt,
// LastJobID and CreatedAt.
func (s *Store) UpdateSchedule(ctx context.Context, in *intake.Schedule) (*intake.Schedule, error) {
	if in != nil && !intake.ValidID(in.ID) {
		return nil, errScheduleNotFound(in.ID)
	}
	if err := validSchedule("update schedule", in); err != nil {
		return nil, err
	}
	sch, err := s.d.UpdateSchedule(ctx, s.now(), normalSchedule(in))
	if err != nil {
		return nil, s.wrap(err, "update schedule %s", in.ID)
	}
	if sch != nil {
		return sch, nil
	}
	cur, err := s.GetSchedule(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	return nil, intake.Errorf(intake.ECONFLICT, "schedule %s is at version %d, not %d", in.ID, cur.Version, in.Version)
}

// DeleteSchedule removes a schedule; its jobs stay.
func (s *Store) DeleteSchedule(ctx context.Context, id string) error {
	if !intake.ValidID(id) {
		return errScheduleNotFound(id)
	}
	ok, err := s.d.DeleteSchedule(ctx, id)
	if err != nil {
		return s.wrap(err, "delete schedule %s", id)
	}
	if !ok {
		return errScheduleNotFound(id)
	}
	return nil
}

// DueSchedules returns up to limit schedules that are not paused and whose
// NextFireAt is at or before until, earliest first.
func (s *Store) DueSchedules(ctx context.Context, until time.Time, limit int) ([]*intake.Schedule, error) {
	list, err := s.d.DueSchedules(ctx, until.UTC().Truncate(time.Millisecond), pageSize(limit))
	if err != nil {
		return nil, s.wrap(err, "due schedules")
	}
	if list == nil {
		list = []*intake.Schedule{}
	}
	return list, nil
}

// ScheduleJobs reports the schedule's jobs that are not terminal, its last
// completed job and the job already created for tick (by its idempotency
// key ScheduleTickKey in sch.Tenant). A schedule without jobs (or a missing
// one) has none.
func (s *Store) ScheduleJobs(ctx context.Context, sch *intake.Schedule, tick time.Time) (*intake.ScheduleJobs, error) {
	if !intake.ValidID(sch.ID) {
		return &intake.ScheduleJobs{}, nil
	}
	sj, err := s.d.ScheduleJobs(ctx, sch.ID, sch.Tenant, intake.ScheduleTickKey(sch.ID, tick))
	if err != nil {
		return nil, s.wrap(err, "jobs of schedule %s", sch.ID)
	}
	return sj, nil
}

// AdvanceSchedule moves the schedule from tick from to next, as a
// compare-and-set on NextFireAt; it reports false when NextFireAt is no
// longer from, or the schedule is gone.
func (s *Store) AdvanceSchedule(ctx context.Context, id string, from, next time.Time, jobID string) (bool, error) {
	if jobID != "" && !intake.ValidID(jobID) {
		return false, intake.Errorf(intake.EINVALID, "advance schedule %s: job ID %q is not a UUID", id, jobID)
	}
	if !intake.ValidID(id) {
		return false, nil
	}
	ok, err := s.d.AdvanceSchedule(ctx, s.now(), id, from.UTC().Truncate(time.Millisecond),
		next.UTC().Truncate(time.Millisecond), jobID)
	if err != nil {
		return false, s.wrap(err, "advance schedule %s", id)
	}
	return ok, nil
}

// ScheduleHealth reports every schedule's last completion, in ID order.
func (s *Store) ScheduleHealth(ctx context.Context) ([]intake.ScheduleHealth, error) {
	h, err := s.d.ScheduleHealth(ctx)
	if err != nil {
		return nil, s.wrap(err, "schedule health")
	}
	if h == nil {
		h = []intake.ScheduleHealth{}
	}
	return h, nil
}
