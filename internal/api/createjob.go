package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/intake-dev/intake"
)

// maxCreateJobs bounds num_jobs.
const maxCreateJobs = 10

// DemoJob is one job that POST /create-job records: its source type and
// config, and the company that the answer names for it.
type DemoJob struct {
	SourceType  string
	Config      json.RawMessage
	CIN         string
	CompanyName string
}

// createJobRequest is /create-job's body.
type createJobRequest struct {
	NumJobs int `json:"num_jobs" minimum:"1" maximum:"10" example:"3" doc:"How many jobs to create, 1 to 10."`
}

// createdJob is one job in /create-job's answer, in camelCase like the rest
// of that answer.
type createdJob struct {
	JobID       string `json:"jobId" format:"uuid"`
	CIN         string `json:"cin" example:"L17110MH1973PLC019786"`
	CompanyName string `json:"companyName" example:"Example Industries Limited"`
}

// createJobResponse is /create-job's 200 body.
type createJobResponse struct {
	Message   string       `json:"message" example:"Successfully created 3 jobs"`
	Jobs      []createdJob `json:"jobs" nullable:"false"`
	TotalJobs int          `json:"totalJobs" example:"3"`
}

// handleCreateJob serves POST /create-job: num_jobs demo jobs from
// newJob, each checked by its source, inserted atomically in one store
// call. Its errors have the {"error": "..."} shape, with the status codes
// the rest of the API uses.
func handleCreateJob(store intake.Store, sources intake.Sources, newJob func() (DemoJob, error), np *notifyPolicy, n notifier, p *problems, m *metrics, maxBody int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		num, err := readNumJobs(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			m.createFailures.WithLabelValues(failInvalid).Inc()
			writeLegacyError(w, err)
			return
		}
		m.batchSize.Observe(float64(num))
		demos, jobs, err := newDemoJobs(ctx, sources, newJob, np, num)
		if err != nil {
			writeLegacyError(w, p.from(ctx, err))
			return
		}
		created, err := store.CreateJobs(ctx, jobs)
		if err != nil {
			m.createFailures.WithLabelValues(failStore).Inc()
			writeLegacyError(w, p.from(ctx, fmt.Errorf("create %d jobs: %w", num, err)))
			return
		}
		resp := createJobResponse{Jobs: make([]createdJob, len(created)), TotalJobs: len(created)}
		ids := make([]string, len(created))
		for i, j := range created {
			ids[i] = j.ID
			resp.Jobs[i] = createdJob{JobID: j.ID, CIN: demos[i].CIN, CompanyName: demos[i].CompanyName}
			m.jobsCreated.WithLabelValues(j.SourceType).Inc()
		}
		n.notify(ctx, ids...)
		resp.Message = fmt.Sprintf("Successfully created %d jobs", len(created))
		if len(created) == 1 {
			resp.Message = "Successfully created 1 job"
		}
		writeJSON(w, http.StatusOK, resp)
	})
}

// newDemoJobs makes num demo jobs, each config checked by its source and
// with the deployment's notify, if any. A demo job that its source refuses
// is a bug of the factory: EINTERNAL.
func newDemoJobs(ctx context.Context, sources intake.Sources, newJob func() (DemoJob, error), np *notifyPolicy, num int) ([]DemoJob, []*intake.Job, error) {
	demos := make([]DemoJob, num)
	jobs := make([]*intake.Job, num)
	for i := range num {
		d, err := newJob()
		if err != nil {
			return nil, nil, fmt.Errorf("make a demo job: %w", intake.WrapError(intake.EINTERNAL, err, "could not make a demo job"))
		}
		src, err := sources.Lookup(d.SourceType)
		if err != nil {
			return nil, nil, fmt.Errorf("demo job: %w", intake.WrapError(intake.EINTERNAL, err, "the %s source is not registered", d.SourceType))
		}
		if err := src.Validate(ctx, d.Config); err != nil {
			return nil, nil, fmt.Errorf("demo %s config %s: %w", d.SourceType, d.Config, intake.WrapError(intake.EINTERNAL, err, "made an invalid demo job"))
		}
		demos[i] = d
		jobs[i] = &intake.Job{
			Tenant:      intake.DefaultTenant,
			SourceType:  d.SourceType,
			Config:      d.Config,
			RequestHash: requestHash(d.SourceType, d.Config, nil),
			Notify:      np.orDefault(nil),
		}
	}
	return demos, jobs, nil
}

// readNumJobs parses {"num_jobs": N}, N an integer literal in 1..10. Its
// errors are 400s (413 for a body over the limit) with a message for the
// client.
func readNumJobs(r io.Reader) (int, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return 0, &legacyError{status: http.StatusRequestEntityTooLarge, Message: "request body too large"}
		}
		return 0, &legacyError{status: http.StatusBadRequest, Message: "could not read the request body"}
	}
	var req struct {
		NumJobs json.RawMessage `json:"num_jobs"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return 0, &legacyError{status: http.StatusBadRequest, Message: `request body must be a JSON object like {"num_jobs": 3}`}
	}
	raw := bytes.TrimSpace(req.NumJobs)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, &legacyError{status: http.StatusBadRequest, Message: "num_jobs is required"}
	}
	num, err := strconv.Atoi(string(raw))
	if err != nil {
		return 0, &legacyError{status: http.StatusBadRequest, Message: "num_jobs must be an integer"}
	}
	if num < 1 || num > maxCreateJobs {
		return 0, &legacyError{status: http.StatusBadRequest, Message: fmt.Sprintf("num_jobs must be between 1 and %d", maxCreateJobs)}
	}
	return num, nil
}

// writeLegacyError writes err as {"error": "..."} with err's status and
// headers (Retry-After, WWW-Authenticate) when it carries them.
func writeLegacyError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	msg := "internal error"
	if he, ok := errors.AsType[huma.HeadersError](err); ok {
		for k, vs := range he.GetHeaders() {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
	}
	if se, ok := errors.AsType[huma.StatusError](err); ok {
		status = se.GetStatus()
		msg = se.Error()
	}
	writeJSON(w, status, &legacyError{Message: msg})
}

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
