package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/intake-dev/intake"
)

// Paging of the changes and deliveries endpoints.
const (
	defaultChangesPage    = 100
	defaultDeliveriesPage = 100
	// maxChangesScan bounds the documents one changes page reads to find
	// its new and changed ones; a page may then hold fewer than limit
	// documents and still have a next_cursor.
	maxChangesScan = 5000
	// changesChunk is how many documents each read of that scan asks for.
	changesChunk = 500
)

// changeCountsView counts a job's documents against its previous job's.
type changeCountsView struct {
	New       int `json:"new" doc:"Documents whose identity the previous job did not collect."`
	Changed   int `json:"changed" doc:"Documents whose SHA-256 differs from the previous job's document of the same identity."`
	Unchanged int `json:"unchanged" doc:"Documents with the same SHA-256 as the previous job's; their content was not stored again."`
	Removed   int `json:"removed" doc:"Documents of the previous job whose identity this job did not collect."`
}

func newChangeCountsView(c *intake.ChangeCounts) *changeCountsView {
	if c == nil {
		return nil
	}
	return &changeCountsView{New: c.New, Changed: c.Changed, Unchanged: c.Unchanged, Removed: c.Removed}
}

// changeCounts returns the counts of a job that has a previous job, nil
// for one that has none.
func changeCounts(ctx context.Context, store intake.Store, j *intake.Job) (*changeCountsView, error) {
	if j.PreviousJobID == "" {
		return nil, nil
	}
	c, err := store.ChangeCounts(ctx, j.ID)
	if err != nil {
		return nil, fmt.Errorf("count changes: %w", err)
	}
	return newChangeCountsView(c), nil
}

type changesInput struct {
	JobID         string `path:"job_id" maxLength:"64" doc:"The job's id, a UUID. A malformed id is simply not found (404)."`
	Cursor        string `query:"cursor" maxLength:"20" doc:"next_cursor of the previous page of documents."`
	RemovedCursor string `query:"removed_cursor" maxLength:"20" doc:"next_removed_cursor of the previous page of removed documents."`
	Limit         int    `query:"limit" minimum:"1" maximum:"500" default:"100" doc:"Documents per page, of each list."`
}

type changesBody struct {
	JobID             string            `json:"job_id" format:"uuid"`
	PreviousJobID     string            `json:"previous_job_id,omitempty" format:"uuid" doc:"The job this one is compared with; absent for a job that has none."`
	Counts            *changeCountsView `json:"counts,omitempty" doc:"The four counts; absent for a job without a previous job (nothing was compared). While the job runs they count the documents so far."`
	Documents         []documentView    `json:"documents" nullable:"false" doc:"A page of the job's new and changed documents, in seq order."`
	NextCursor        string            `json:"next_cursor,omitempty" doc:"Pass as cursor for the next page of documents; absent on the last page. A page may hold fewer than limit documents and still have one."`
	Removed           []documentView    `json:"removed" nullable:"false" doc:"A page of the previous job's documents that this job did not collect, in their seq order; their links point into the previous job."`
	NextRemovedCursor string            `json:"next_removed_cursor,omitempty" doc:"Pass as removed_cursor for the next page of removed documents; absent on the last page."`
}

type changesOutput struct {
	Body changesBody
}

// handleChanges returns what changed between a job and its previous job:
// the counts, a page of new and changed documents and a page of removed
// ones. A job without a previous job has no counts and empty pages.
func handleChanges(store intake.Store, p *problems) func(context.Context, *changesInput) (*changesOutput, error) {
	return func(ctx context.Context, in *changesInput) (*changesOutput, error) {
		if !intake.ValidID(in.JobID) {
			return nil, p.from(ctx, errJobNotFound)
		}
		after, err := seqCursor("cursor", in.Cursor)
		if err != nil {
			return nil, err
		}
		removedAfter, err := seqCursor("removed_cursor", in.RemovedCursor)
		if err != nil {
			return nil, err
		}
		limit := in.Limit
		if limit <= 0 {
			limit = defaultChangesPage
		}
		j, err := store.GetJob(ctx, in.JobID)
		if err != nil {
			return nil, p.from(ctx, fmt.Errorf("get job: %w", err))
		}
		out := &changesOutput{Body: changesBody{JobID: j.ID, PreviousJobID: j.PreviousJobID, Documents: []documentView{}, Removed: []documentView{}}}
		if j.PreviousJobID == "" {
			return out, nil
		}
		if out.Body.Counts, err = changeCounts(ctx, store, j); err != nil {
			return nil, p.from(ctx, err)
		}
		docs, next, err := changedDocuments(ctx, store, j, after, limit)
		if err != nil {
			return nil, p.from(ctx, err)
		}
		out.Body.Documents, out.Body.NextCursor = docs, next
		removed, err := store.ListRemoved(ctx, j.ID, removedAfter, limit+1)
		if err != nil {
			return nil, p.from(ctx, fmt.Errorf("list removed documents: %w", err))
		}
		if len(removed) > limit {
			removed = removed[:limit]
			out.Body.NextRemovedCursor = strconv.Itoa(removed[len(removed)-1].Seq)
		}
		for _, d := range removed {
			v := newDocumentView(d)
			v.Change = intake.ChangeRemoved
			out.Body.Removed = append(out.Body.Removed, v)
		}
		return out, nil
	}
}

// seqCursor parses a cursor that is the last seq seen; "" is 0.
func seqCursor(name, cursor string) (int, error) {
	if cursor == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(cursor)
	if err != nil || n < 0 {
		return 0, huma.Error422UnprocessableEntity("invalid cursor",
			&huma.ErrorDetail{Location: "query." + name, Message: "not a cursor from this endpoint", Value: cursor})
	}
	return n, nil
}

// changedDocuments reads j's documents after seq after, keeping the new
// and changed ones, until it has limit of them, has read them all or has
// read maxChangesScan. The cursor is the last seq read, "" at the end.
func changedDocuments(ctx context.Context, store intake.Store, j *intake.Job, after, limit int) ([]documentView, string, error) {
	out := []documentView{}
	for scanned := 0; scanned < maxChangesScan && after < j.Collected; {
		docs, err := store.ListDocuments(ctx, j.ID, after, changesChunk)
		if err != nil {
			return nil, "", fmt.Errorf("list documents: %w", err)
		}
		if len(docs) == 0 {
			return out, "", nil
		}
		for _, d := range docs {
			scanned++
			after = d.Seq
			if d.Change == intake.ChangeNew || d.Change == intake.ChangeChanged {
				out = append(out, newDocumentView(d))
			}
			if len(out) == limit || scanned == maxChangesScan {
				break
			}
		}
		if len(out) == limit {
			break
		}
		if len(docs) < changesChunk {
			return out, "", nil
		}
	}
	if after >= j.Collected {
		return out, "", nil
	}
	return out, strconv.Itoa(after), nil
}

// deliveryView is one delivery attempt of a job's event.
type deliveryView struct {
	ID          string       `json:"id" format:"uuid"`
	MessageID   string       `json:"message_id" example:"msg_0190a1b2c3d4e5f6a7b8c9d0e1f2a3b4_job_completed" doc:"The webhook-id header: the same for every attempt of the same event of the job."`
	Event       intake.Event `json:"event" enum:"job.completed,job.failed,job.changed"`
	URL         string       `json:"url"`
	Attempt     int          `json:"attempt" minimum:"1" doc:"1 for the first attempt of a notification."`
	StatusCode  int          `json:"status_code,omitempty" doc:"The endpoint's HTTP status; absent when none was received."`
	OK          bool         `json:"ok" doc:"The endpoint answered 2xx."`
	Error       string       `json:"error,omitempty" doc:"Why the attempt failed."`
	DurationMS  int64        `json:"duration_ms"`
	AttemptedAt time.Time    `json:"attempted_at"`
}

func newDeliveryView(d *intake.Delivery) deliveryView {
	return deliveryView{
		ID: d.ID, MessageID: d.MessageID, Event: d.Event, URL: d.URL, Attempt: d.Attempt,
		StatusCode: d.StatusCode, OK: d.OK, Error: d.Error, DurationMS: d.DurationMS, AttemptedAt: d.AttemptedAt,
	}
}

type deliveriesInput struct {
	JobID  string `path:"job_id" maxLength:"64" doc:"The job's id, a UUID. A malformed id is simply not found (404)."`
	Cursor string `query:"cursor" maxLength:"64" doc:"next_cursor of the previous page."`
	Limit  int    `query:"limit" minimum:"1" maximum:"500" default:"100" doc:"Deliveries per page."`
}

type deliveriesBody struct {
	JobID      string         `json:"job_id" format:"uuid"`
	Deliveries []deliveryView `json:"deliveries" nullable:"false" doc:"The job's delivery attempts, oldest first."`
	NextCursor string         `json:"next_cursor,omitempty" doc:"Pass as cursor for the next page; absent on the last page."`
}

type deliveriesOutput struct {
	Body deliveriesBody
}

// handleDeliveries returns a page of a job's webhook delivery log.
func handleDeliveries(store intake.Store, p *problems) func(context.Context, *deliveriesInput) (*deliveriesOutput, error) {
	return func(ctx context.Context, in *deliveriesInput) (*deliveriesOutput, error) {
		if !intake.ValidID(in.JobID) {
			return nil, p.from(ctx, errJobNotFound)
		}
		if in.Cursor != "" && !intake.ValidID(in.Cursor) {
			return nil, huma.Error422UnprocessableEntity("invalid cursor",
				&huma.ErrorDetail{Location: "query.cursor", Message: "not a cursor from this endpoint", Value: in.Cursor})
		}
		limit := in.Limit
		if limit <= 0 {
			limit = defaultDeliveriesPage
		}
		j, err := store.GetJob(ctx, in.JobID)
		if err != nil {
			return nil, p.from(ctx, fmt.Errorf("get job: %w", err))
		}
		ds, err := store.ListDeliveries(ctx, j.ID, in.Cursor, limit+1)
		if err != nil {
			return nil, p.from(ctx, fmt.Errorf("list deliveries: %w", err))
		}
		out := &deliveriesOutput{Body: deliveriesBody{JobID: j.ID, Deliveries: make([]deliveryView, 0, min(len(ds), limit))}}
		if len(ds) > limit {
			ds = ds[:limit]
			out.Body.NextCursor = ds[len(ds)-1].ID
		}
		for _, d := range ds {
			out.Body.Deliveries = append(out.Body.Deliveries, newDeliveryView(d))
		}
		return out, nil
	}
}

type redeliverOutput struct {
	Status int
	Body   jobView
}

// handleRedeliver makes a terminal job's notification due now; the
// maintenance loop delivers it again.
func handleRedeliver(store intake.Store, p *problems) func(context.Context, *jobIDInput) (*redeliverOutput, error) {
	return func(ctx context.Context, in *jobIDInput) (*redeliverOutput, error) {
		if !intake.ValidID(in.JobID) {
			return nil, p.from(ctx, errJobNotFound)
		}
		j, err := store.Redeliver(ctx, in.JobID)
		if err != nil {
			return nil, p.from(ctx, fmt.Errorf("redeliver: %w", err))
		}
		return &redeliverOutput{Status: http.StatusAccepted, Body: newJobView(j)}, nil
	}
}

// jobActionPattern serves the GET routes /api/v1/jobs/{job_id}/<action>.
// Registered one by one, each would conflict with
// /api/v1/jobs/status/{job_id} and /api/v1/jobs/result/{job_id}: both
// match /api/v1/jobs/status/changes and neither is more specific, which
// ServeMux refuses. This pattern is less specific than those two, so it
// serves what they do not and dispatches on the action. (It is spelled in
// pieces so that docs/docs_test.go, which reads mux patterns from the
// code, does not take it for a route that serves any action.)
const (
	jobActionPrefix  = http.MethodGet + " /api/v1/jobs/{job_id}/"
	jobActionPattern = jobActionPrefix + "{action}"
)

// actionMux is the ServeMux huma registers its routes on, except the GET
// routes /api/v1/jobs/{job_id}/<action>, which it serves from
// jobActionPattern.
type actionMux struct {
	*http.ServeMux
	actions map[string]http.HandlerFunc
}

func newActionMux(mux *http.ServeMux) *actionMux {
	return &actionMux{ServeMux: mux, actions: map[string]http.HandlerFunc{}}
}

// HandleFunc implements humago.Mux.
func (m *actionMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	action, ok := strings.CutPrefix(pattern, jobActionPrefix)
	if !ok || strings.ContainsAny(action, "/{") {
		m.ServeMux.HandleFunc(pattern, h)
		return
	}
	if len(m.actions) == 0 {
		m.ServeMux.HandleFunc(jobActionPattern, m.serveAction)
	}
	m.actions[action] = h
}

func (m *actionMux) serveAction(w http.ResponseWriter, r *http.Request) {
	h, ok := m.actions[r.PathValue("action")]
	if !ok {
		writeProblem(w, http.StatusNotFound, "no such route")
		return
	}
	h(w, r)
}
