package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/intake-dev/intake"
)

// CreateJobs inserts jobs atomically: all of them or none. A job whose
// (Tenant, IdempotencyKey) exists, in the store or earlier in the batch,
// is returned instead of inserted.
func (s *Store) CreateJobs(ctx context.Context, jobs []*intake.Job) ([]*intake.Job, error) {
	for i, j := range jobs {
		switch {
		case j == nil:
			return nil, intake.Errorf(intake.EINVALID, "create jobs: job %d is nil", i)
		case j.SourceType == "":
			return nil, intake.Errorf(intake.EINVALID, "create jobs: job %d has no source_type", i)
		case len(j.Config) > 0 && !json.Valid(j.Config):
			return nil, intake.Errorf(intake.EINVALID, "create jobs: job %d config is not valid JSON", i)
		case j.ScheduleID != "" && !intake.ValidID(j.ScheduleID),
			j.PreviousJobID != "" && !intake.ValidID(j.PreviousJobID):
			return nil, intake.Errorf(intake.EINVALID, "create jobs: job %d has a schedule or previous job ID that is not a UUID", i)
		}
	}
	if len(jobs) == 0 {
		return []*intake.Job{}, nil
	}
	now := s.now()
	type identity struct{ tenant, key string }
	var (
		fresh = make([]*intake.Job, 0, len(jobs)) // what the driver inserts
		slot  = make([]int, len(jobs))            // input index → index in fresh
		first = map[identity]int{}                // a key's index in fresh
	)
	for i, in := range jobs {
		j := newJob(in, now)
		if j.IdempotencyKey != "" {
			id := identity{j.Tenant, j.IdempotencyKey}
			if f, ok := first[id]; ok {
				slot[i] = f
				continue
			}
			first[id] = len(fresh)
		}
		slot[i] = len(fresh)
		fresh = append(fresh, j)
	}
	created, err := s.d.CreateJobs(ctx, now, fresh)
	if err != nil {
		return nil, s.wrap(err, "create jobs")
	}
	if len(created) != len(fresh) {
		return nil, intake.Errorf(intake.EINTERNAL, "create jobs: %d jobs inserted or found for %d", len(created), len(fresh))
	}
	out := make([]*intake.Job, len(jobs))
	for i, k := range slot {
		out[i] = created[k]
	}
	return out, nil
}

// newJob returns the job that creating in at now inserts.
func newJob(in *intake.Job, now time.Time) *intake.Job {
	j := &intake.Job{
		ID:             intake.NewID(),
		Tenant:         in.Tenant,
		SourceType:     in.SourceType,
		Config:         in.Config,
		Status:         intake.StatusPending,
		Total:          intake.TotalUnknown,
		AvailableAt:    now,
		IdempotencyKey: in.IdempotencyKey,
		RequestHash:    in.RequestHash,
		CreatedAt:      now,
		UpdatedAt:      now,
		ScheduleID:     in.ScheduleID,
		PreviousJobID:  in.PreviousJobID,
		Notify:         in.Notify,
	}
	if j.Tenant == "" {
		j.Tenant = intake.DefaultTenant
	}
	if len(j.Config) == 0 {
		j.Config = json.RawMessage(`{}`)
	}
	return j
}

// GetJob returns a job by ID, or an ENOTFOUND error.
func (s *Store) GetJob(ctx context.Context, id string) (*intake.Job, error) {
	if !intake.ValidID(id) {
		return nil, errJobNotFound(id)
	}
	j, err := s.d.GetJob(ctx, id)
	if err != nil {
		return nil, s.wrap(err, "get job %s", id)
	}
	if j == nil {
		return nil, errJobNotFound(id)
	}
	return j, nil
}

func errJobNotFound(id string) error {
	return intake.Errorf(intake.ENOTFOUND, "job %s not found", id)
}

// ListJobs returns jobs newest first (by ID, which sorts by creation time).
// The cursor is the base64url-encoded ID of the last job of a page.
func (s *Store) ListJobs(ctx context.Context, f intake.JobFilter) (*intake.JobPage, error) {
	if f.Status != "" && !f.Status.Valid() {
		return nil, intake.Errorf(intake.EINVALID, "list jobs: unknown status %q", f.Status)
	}
	limit := pageSize(f.Limit)
	var before string
	if f.Cursor != "" {
		var err error
		if before, err = decodeCursor(f.Cursor); err != nil {
			return nil, err
		}
	}
	// One more job than the page tells whether another page exists.
	jobs, err := s.d.ListJobs(ctx, f.Status, before, limit+1)
	if err != nil {
		return nil, s.wrap(err, "list jobs")
	}
	page := &intake.JobPage{Jobs: jobs}
	if page.Jobs == nil {
		page.Jobs = []*intake.Job{}
	}
	if len(page.Jobs) > limit {
		page.Jobs = page.Jobs[:limit]
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(page.Jobs[limit-1].ID))
	}
	return page, nil
}

// pageSize applies the MaxPageSize cap; a limit of zero or less means the cap.
func pageSize(limit int) int {
	if limit <= 0 || limit > intake.MaxPageSize {
		return intake.MaxPageSize
	}
	return limit
}

// decodeCursor returns the job ID a ListJobs cursor holds.
func decodeCursor(c string) (string, error) {
	return decodeListCursor("list jobs", c)
}

// decodeListCursor returns the ID a list's cursor holds; op names the list
// in the error.
func decodeListCursor(op, c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !intake.ValidID(string(b)) {
		return "", intake.Errorf(intake.EINVALID, "%s: invalid cursor", op)
	}
	return string(b), nil
}

// Cancel cancels a job that is not terminal, releasing any lease.
func (s *Store) Cancel(ctx context.Context, id string) (*intake.Job, error) {
	if !intake.ValidID(id) {
		return nil, errJobNotFound(id)
	}
	j, err := s.d.Cancel(ctx, s.now(), id)
	if err != nil {
		return nil, s.wrap(err, "cancel job %s", id)
	}
	if j != nil {
		return j, nil
	}
	cur, err := s.GetJob(ctx, id)
	if err != nil {
		return nil, err
	}
	return nil, intake.Errorf(intake.ECONFLICT, "job %s is %s and cannot be cancelled", id, cur.Status)
}

// Stats counts jobs by status, every status present, and reports the
// oldest pending job and the recorded documents.
func (s *Store) Stats(ctx context.Context) (*intake.Stats, error) {
	st, err := s.d.Stats(ctx)
	if err != nil {
		return nil, s.wrap(err, "job stats")
	}
	jobs := make(map[intake.Status]int64, len(intake.Statuses))
	for _, status := range intake.Statuses {
		jobs[status] = st.Jobs[status]
	}
	st.Jobs = jobs
	return st, nil
}
