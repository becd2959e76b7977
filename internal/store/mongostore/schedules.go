package mongostore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/intake-dev/intake"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Schedules live in the schedules collection, one document each, whose
// _id is the schedule's UUIDv7 string. A tick fires once however many
// replicas handle it: the job it creates has the tick's idempotency key
// (unique through the jobs' idem index), and AdvanceSchedule moves the
// schedule on with one update whose filter requires the NextFireAt it
// moves from, a single-document compare-and-set.

// scheduleDoc is a schedule in the schedules collection. Interval and
// Jitter are nanoseconds.
type scheduleDoc struct {
	ID         string     `bson:"_id"`
	Tenant     string     `bson:"tenant"`
	Name       string     `bson:"name"`
	SourceType string     `bson:"source_type"`
	Config     string     `bson:"config"` // the request's JSON text
	Cron       string     `bson:"cron"`
	Interval   int64      `bson:"interval"`
	TimeZone   string     `bson:"time_zone"`
	Jitter     int64      `bson:"jitter"`
	Paused     bool       `bson:"paused"`
	Misfire    string     `bson:"misfire"`
	Overlap    string     `bson:"overlap"`
	Notify     *notifyDoc `bson:"notify,omitempty"`
	NextFireAt time.Time  `bson:"next_fire_at"`
	LastFireAt time.Time  `bson:"last_fire_at,omitempty"`
	LastJobID  string     `bson:"last_job_id,omitempty"`
	Version    int64      `bson:"version"`
	CreatedAt  time.Time  `bson:"created_at"`
	UpdatedAt  time.Time  `bson:"updated_at"`
}

// newScheduleDoc returns the stored form of a schedule.
func newScheduleDoc(s *intake.Schedule) *scheduleDoc {
	return &scheduleDoc{
		ID:         s.ID,
		Tenant:     s.Tenant,
		Name:       s.Name,
		SourceType: s.SourceType,
		Config:     string(s.Config),
		Cron:       s.Cron,
		Interval:   int64(s.Interval),
		TimeZone:   s.TimeZone,
		Jitter:     int64(s.Jitter),
		Paused:     s.Paused,
		Misfire:    string(s.Misfire),
		Overlap:    string(s.Overlap),
		Notify:     newNotifyDoc(s.Notify),
		NextFireAt: s.NextFireAt,
		LastFireAt: s.LastFireAt,
		LastJobID:  s.LastJobID,
		Version:    s.Version,
		CreatedAt:  s.CreatedAt,
		UpdatedAt:  s.UpdatedAt,
	}
}

// schedule converts the document to an intake.Schedule.
func (d *scheduleDoc) schedule() *intake.Schedule {
	return &intake.Schedule{
		ID:         d.ID,
		Tenant:     d.Tenant,
		Name:       d.Name,
		SourceType: d.SourceType,
		Config:     json.RawMessage(d.Config),
		Cron:       d.Cron,
		Interval:   intake.Duration(d.Interval),
		TimeZone:   d.TimeZone,
		Jitter:     intake.Duration(d.Jitter),
		Paused:     d.Paused,
		Misfire:    intake.MisfirePolicy(d.Misfire),
		Overlap:    intake.OverlapPolicy(d.Overlap),
		Notify:     d.Notify.notify(),
		NextFireAt: utc(d.NextFireAt),
		LastFireAt: utc(d.LastFireAt),
		LastJobID:  d.LastJobID,
		Version:    d.Version,
		CreatedAt:  utc(d.CreatedAt),
		UpdatedAt:  utc(d.UpdatedAt),
	}
}

// CreateSchedule inserts a complete new schedule.
func (s *Driver) CreateSchedule(ctx context.Context, sch *intake.Schedule) error {
	_, err := s.scheds.InsertOne(ctx, newScheduleDoc(sch))
	return err
}

// GetSchedule returns a schedule by ID, nil when there is none.
func (s *Driver) GetSchedule(ctx context.Context, id string) (*intake.Schedule, error) {
	var d scheduleDoc
	err := s.scheds.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return d.schedule(), nil
}

// ListSchedules returns up to limit schedules with an ID below before (no
// bound when before is empty), newest first.
func (s *Driver) ListSchedules(ctx context.Context, before string, limit int) ([]*intake.Schedule, error) {
	filter := bson.D{}
	if before != "" {
		filter = bson.D{{Key: "_id", Value: bson.D{{Key: "$lt", Value: before}}}}
	}
	return s.findSchedules(ctx, filter,
		options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit)))
}

// findSchedules returns the schedules that filter matches.
func (s *Driver) findSchedules(ctx context.Context, filter bson.D, opts *options.FindOptionsBuilder) ([]*intake.Schedule, error) {
	cur, err := s.scheds.Find(ctx, filter, opts)
	if err != nil {
		return nil, err
	}
	var docs []*scheduleDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make([]*intake.Schedule, len(docs))
	for i, d := range docs {
		out[i] = d.schedule()
	}
	return out, nil
}

// UpdateSchedule replaces the client's fields of the schedule whose ID and
// Version are sch's, increments its Version and sets UpdatedAt to now, with
// one findOneAndUpdate; it returns the schedule, or nil when no schedule
// has that ID and Version. LastFireAt and LastJobID are AdvanceSchedule's
// and stay.
func (s *Driver) UpdateSchedule(ctx context.Context, now time.Time, sch *intake.Schedule) (*intake.Schedule, error) {
	n := newScheduleDoc(sch)
	update := bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "name", Value: n.Name},
			{Key: "source_type", Value: n.SourceType},
			{Key: "config", Value: n.Config},
			{Key: "cron", Value: n.Cron},
			{Key: "interval", Value: n.Interval},
			{Key: "time_zone", Value: n.TimeZone},
			{Key: "jitter", Value: n.Jitter},
			{Key: "paused", Value: n.Paused},
			{Key: "misfire", Value: n.Misfire},
			{Key: "overlap", Value: n.Overlap},
			{Key: "next_fire_at", Value: n.NextFireAt},
			{Key: "updated_at", Value: now},
		}},
		{Key: "$inc", Value: bson.D{{Key: "version", Value: int64(1)}}},
	}
	if n.Notify != nil {
		update[0].Value = append(update[0].Value.(bson.D), bson.E{Key: "notify", Value: n.Notify})
	} else {
		update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "notify", Value: ""}}})
	}
	var d scheduleDoc
	err := s.scheds.FindOneAndUpdate(ctx,
		bson.D{{Key: "_id", Value: sch.ID}, {Key: "version", Value: sch.Version}}, update,
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return d.schedule(), nil
}

// DeleteSchedule removes a schedule and reports whether it existed. Its
// jobs stay.
func (s *Driver) DeleteSchedule(ctx context.Context, id string) (bool, error) {
	res, err := s.scheds.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return false, err
	}
	return res.DeletedCount == 1, nil
}

// DueSchedules returns up to limit schedules, not paused, whose
// next_fire_at is at or before until, earliest first (then by ID), served
// by the schedules_due index.
func (s *Driver) DueSchedules(ctx context.Context, until time.Time, limit int) ([]*intake.Schedule, error) {
	return s.findSchedules(ctx, bson.D{
		{Key: "paused", Value: false},
		{Key: "next_fire_at", Value: bson.D{{Key: "$lte", Value: until}}},
	}, options.Find().SetSort(bson.D{{Key: "next_fire_at", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(int64(limit)))
}

// activeStatuses are the statuses of jobs that are not terminal (staged
// jobs do not exist yet; a schedule creates its jobs one at a time, never
// staged).
var activeStatuses = bson.A{
	string(intake.StatusPending), string(intake.StatusScheduled), string(intake.StatusProcessing),
}

// ScheduleJobs counts the schedule's jobs that are not terminal and finds
// its most recently completed one, both served by the jobs_schedule index,
// then the job of the tick's key through the idem index. The tick's job is
// read after the count has ended: a job inserted meanwhile is found, and
// one the count included is found too.
func (s *Driver) ScheduleJobs(ctx context.Context, scheduleID, tenant, tickKey string) (*intake.ScheduleJobs, error) {
	active, err := s.jobs.CountDocuments(ctx, bson.D{
		{Key: "schedule_id", Value: scheduleID},
		{Key: "status", Value: bson.D{{Key: "$in", Value: activeStatuses}}},
	})
	if err != nil {
		return nil, err
	}
	sj := &intake.ScheduleJobs{Active: int(active)}
	last, err := s.lastCompleted(ctx, scheduleID)
	if err != nil {
		return nil, err
	}
	if last != nil {
		sj.LastCompletedID = last.ID
	}
	if sj.TickJobID, err = s.keyedJobID(ctx, tenant, tickKey); err != nil {
		return nil, err
	}
	return sj, nil
}

// keyedJobID returns the ID of tenant's job with the idempotency key, ""
// when there is none (or key is empty).
func (s *Driver) keyedJobID(ctx context.Context, tenant, key string) (string, error) {
	if key == "" {
		return "", nil
	}
	var d jobDoc
	err := s.jobs.FindOne(ctx, bson.D{{Key: "idem", Value: idemKey(tenant, key)}},
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return d.ID, nil
}

// lastCompleted returns the schedule's most recently completed job (ID and
// completed_at only), nil when none completed.
func (s *Driver) lastCompleted(ctx context.Context, scheduleID string) (*jobDoc, error) {
	var d jobDoc
	err := s.jobs.FindOne(ctx, bson.D{
		{Key: "schedule_id", Value: scheduleID},
		{Key: "status", Value: string(intake.StatusCompleted)},
	}, options.FindOne().
		SetSort(bson.D{{Key: "completed_at", Value: -1}, {Key: "_id", Value: -1}}).
		SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "completed_at", Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// AdvanceSchedule moves the schedule from tick from to next (Version+1)
// with one update whose filter requires next_fire_at = from: it reports
// false, and changes nothing, when another replica or a client moved it
// first.
func (s *Driver) AdvanceSchedule(ctx context.Context, now time.Time, id string, from, next time.Time, jobID string) (bool, error) {
	set := bson.D{
		{Key: "next_fire_at", Value: next},
		{Key: "last_fire_at", Value: from},
		{Key: "updated_at", Value: now},
	}
	if jobID != "" {
		set = append(set, bson.E{Key: "last_job_id", Value: jobID})
	}
	res, err := s.scheds.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "next_fire_at", Value: from}},
		bson.D{{Key: "$set", Value: set}, {Key: "$inc", Value: bson.D{{Key: "version", Value: int64(1)}}}})
	if err != nil {
		return false, err
	}
	return res.MatchedCount == 1, nil
}

// ScheduleHealth reports, for every schedule in ID order, when its last
// job completed: one index-served lookup per schedule. (FerretDB 1.x's
// $group accumulates only $count and $sum, so the latest completion of
// each schedule is looked up rather than aggregated with $max.)
func (s *Driver) ScheduleHealth(ctx context.Context) ([]intake.ScheduleHealth, error) {
	cur, err := s.scheds.Find(ctx, bson.D{}, options.Find().
		SetSort(bson.D{{Key: "_id", Value: 1}}).SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, err
	}
	var ids []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &ids); err != nil {
		return nil, err
	}
	out := make([]intake.ScheduleHealth, 0, len(ids))
	for _, sc := range ids {
		h := intake.ScheduleHealth{ScheduleID: sc.ID}
		last, err := s.lastCompleted(ctx, sc.ID)
		if err != nil {
			return nil, err
		}
		if last != nil {
			h.LastCompletedAt = utc(last.CompletedAt)
		}
		out = append(out, h)
	}
	return out, nil
}
