package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/intake-dev/intake"
)

// Page sizes of the list endpoints.
const (
	defaultJobPage = 50
	defaultDocPage = 100
)

// notifyTimeout bounds the best-effort dispatcher notification after a
// create; it runs detached from the request so a client hang-up cannot
// cancel it.
const notifyTimeout = 2 * time.Second

// notifier tells the dispatcher about new pending jobs, best effort: a lost
// notification costs latency (workers poll anyway), never a job.
type notifier struct {
	disp intake.Dispatcher
	log  *slog.Logger
}

func (n notifier) notify(ctx context.Context, ids ...string) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	if err := n.disp.Notify(ctx, ids...); err != nil {
		n.log.WarnContext(ctx, "notify dispatcher", "request_id", requestIDFrom(ctx), "jobs", len(ids), "err", err)
	}
}

type jobIDInput struct {
	JobID string `path:"job_id" maxLength:"64" doc:"The job's id, a UUID. A malformed id is simply not found (404)."`
}

type jobOutput struct {
	Body jobView
}

// errJobNotFound answers ids that cannot name a job without asking the store.
var errJobNotFound = intake.Errorf(intake.ENOTFOUND, "job not found")

// handleStatus returns a job's status, progress and run history.
func handleStatus(store intake.Store, p *problems) func(context.Context, *jobIDInput) (*jobOutput, error) {
	return func(ctx context.Context, in *jobIDInput) (*jobOutput, error) {
		if !intake.ValidID(in.JobID) {
			return nil, p.from(ctx, errJobNotFound)
		}
		j, err := store.GetJob(ctx, in.JobID)
		if err != nil {
			return nil, p.from(ctx, fmt.Errorf("get job: %w", err))
		}
		runs, err := runHistory(ctx, store, j)
		if err != nil {
			return nil, p.from(ctx, err)
		}
		v := newJobView(j)
		v.RunHistory = runs
		if j.Status == intake.StatusCompleted {
			if v.Changes, err = changeCounts(ctx, store, j); err != nil {
				return nil, p.from(ctx, err)
			}
		}
		return &jobOutput{Body: v}, nil
	}
}

// handleCancel cancels a job that is not terminal yet; a running job stops
// at its worker's next fenced call.
func handleCancel(store intake.Store, p *problems) func(context.Context, *jobIDInput) (*jobOutput, error) {
	return func(ctx context.Context, in *jobIDInput) (*jobOutput, error) {
		if !intake.ValidID(in.JobID) {
			return nil, p.from(ctx, errJobNotFound)
		}
		j, err := store.Cancel(ctx, in.JobID)
		if err != nil {
			return nil, p.from(ctx, fmt.Errorf("cancel job: %w", err))
		}
		return &jobOutput{Body: newJobView(j)}, nil
	}
}

type listJobsInput struct {
	Status string `query:"status" enum:"pending,scheduled,processing,completed,failed,cancelled" doc:"Only jobs in this status."`
	Cursor string `query:"cursor" maxLength:"512" doc:"next_cursor of the previous page."`
	Limit  int    `query:"limit" minimum:"1" maximum:"500" default:"50" doc:"Page size."`
}

type listJobsBody struct {
	Jobs       []jobView `json:"jobs" nullable:"false"`
	NextCursor string    `json:"next_cursor,omitempty" doc:"Pass as cursor for the next page; absent on the last page."`
}

type listJobsOutput struct {
	Body listJobsBody
}

// handleListJobs lists jobs newest first, a page at a time.
func handleListJobs(store intake.Store, p *problems) func(context.Context, *listJobsInput) (*listJobsOutput, error) {
	return func(ctx context.Context, in *listJobsInput) (*listJobsOutput, error) {
		limit := in.Limit
		if limit <= 0 {
			limit = defaultJobPage
		}
		page, err := store.ListJobs(ctx, intake.JobFilter{Status: intake.Status(in.Status), Cursor: in.Cursor, Limit: limit})
		if err != nil {
			return nil, p.from(ctx, fmt.Errorf("list jobs: %w", err))
		}
		out := &listJobsOutput{Body: listJobsBody{Jobs: make([]jobView, 0, len(page.Jobs)), NextCursor: page.NextCursor}}
		for _, j := range page.Jobs {
			out.Body.Jobs = append(out.Body.Jobs, newJobView(j))
		}
		return out, nil
	}
}

type resultInput struct {
	JobID  string `path:"job_id" maxLength:"64" doc:"The job's id, a UUID. A malformed id is simply not found (404)."`
	Cursor string `query:"cursor" maxLength:"20" doc:"next_cursor of the previous page (the last seq seen)."`
	Limit  int    `query:"limit" minimum:"1" maximum:"500" default:"100" doc:"Documents per page."`
}

type resultSummary struct {
	Documents       int               `json:"documents" doc:"Documents collected."`
	Runs            int               `json:"runs" doc:"Runs (batches) the job took."`
	CreatedAt       time.Time         `json:"created_at"`
	StartedAt       *time.Time        `json:"started_at,omitempty"`
	CompletedAt     *time.Time        `json:"completed_at,omitempty"`
	DurationSeconds float64           `json:"duration_seconds" doc:"From creation to completion."`
	Changes         *changeCountsView `json:"changes,omitempty" doc:"For a job with a previous job: its documents counted against the previous job's (GET /api/v1/jobs/{job_id}/changes lists them)."`
}

type resultBody struct {
	JobID      string         `json:"job_id" format:"uuid"`
	SourceType string         `json:"source_type"`
	Status     intake.Status  `json:"status" enum:"completed"`
	Summary    resultSummary  `json:"summary"`
	Documents  []documentView `json:"documents" nullable:"false" doc:"One page of documents in seq order."`
	NextCursor string         `json:"next_cursor,omitempty" doc:"Pass as cursor for the next page; absent on the last page."`
}

type resultOutput struct {
	Body resultBody
}

// handleResult returns a completed job's summary and a page of its
// documents. Any other status is a 409 naming it (and the last error of a
// failed job), so that clients can tell "not yet" from "never".
func handleResult(store intake.Store, p *problems) func(context.Context, *resultInput) (*resultOutput, error) {
	return func(ctx context.Context, in *resultInput) (*resultOutput, error) {
		if !intake.ValidID(in.JobID) {
			return nil, p.from(ctx, errJobNotFound)
		}
		after := 0
		if in.Cursor != "" {
			n, err := strconv.Atoi(in.Cursor)
			if err != nil || n < 0 {
				return nil, huma.Error422UnprocessableEntity("invalid cursor",
					&huma.ErrorDetail{Location: "query.cursor", Message: "not a cursor from this endpoint", Value: in.Cursor})
			}
			after = n
		}
		limit := in.Limit
		if limit <= 0 {
			limit = defaultDocPage
		}
		j, err := store.GetJob(ctx, in.JobID)
		if err != nil {
			return nil, p.from(ctx, fmt.Errorf("get job: %w", err))
		}
		if j.Status != intake.StatusCompleted {
			msg := fmt.Sprintf("job is %s, not completed", j.Status)
			if j.Status == intake.StatusFailed && j.LastError != "" {
				msg += ": " + j.LastError
			}
			return nil, huma.Error409Conflict(msg)
		}
		docs, err := store.ListDocuments(ctx, j.ID, after, limit+1)
		if err != nil {
			return nil, p.from(ctx, fmt.Errorf("list documents: %w", err))
		}
		out := &resultOutput{Body: resultBody{
			JobID:      j.ID,
			SourceType: j.SourceType,
			Status:     j.Status,
			Summary: resultSummary{
				Documents:   j.Collected,
				Runs:        j.Runs,
				CreatedAt:   j.CreatedAt,
				StartedAt:   timePtr(j.StartedAt),
				CompletedAt: timePtr(j.CompletedAt),
			},
			Documents: make([]documentView, 0, min(len(docs), limit)),
		}}
		if !j.CompletedAt.IsZero() {
			out.Body.Summary.DurationSeconds = j.CompletedAt.Sub(j.CreatedAt).Seconds()
		}
		if out.Body.Summary.Changes, err = changeCounts(ctx, store, j); err != nil {
			return nil, p.from(ctx, err)
		}
		if len(docs) > limit {
			docs = docs[:limit]
			out.Body.NextCursor = strconv.Itoa(docs[len(docs)-1].Seq)
		}
		for _, d := range docs {
			out.Body.Documents = append(out.Body.Documents, newDocumentView(d))
		}
		return out, nil
	}
}

type contentInput struct {
	JobID       string `path:"job_id" maxLength:"64" doc:"The job's id, a UUID. A malformed id is simply not found (404)."`
	Seq         int    `path:"seq" minimum:"1" doc:"The document's sequence number."`
	IfNoneMatch string `header:"If-None-Match" doc:"An ETag from an earlier download; matching answers 304."`
}

// handleContent streams a document's bytes from blob storage with its
// content type and length, an ETag and X-Content-SHA256 taken from the
// SHA-256 recorded with the metadata, so that clients can verify what they
// downloaded.
func handleContent(store intake.Store, blobs intake.BlobStore, p *problems) func(context.Context, *contentInput) (*huma.StreamResponse, error) {
	return func(ctx context.Context, in *contentInput) (*huma.StreamResponse, error) {
		if !intake.ValidID(in.JobID) {
			return nil, p.from(ctx, errJobNotFound)
		}
		doc, err := store.GetDocument(ctx, in.JobID, in.Seq)
		if err != nil {
			return nil, p.from(ctx, fmt.Errorf("get document: %w", err))
		}
		etag := `"` + doc.SHA256 + `"`
		if in.IfNoneMatch != "" && (in.IfNoneMatch == etag || in.IfNoneMatch == "*") {
			return &huma.StreamResponse{Body: func(hc huma.Context) {
				hc.SetHeader("ETag", etag)
				hc.SetStatus(http.StatusNotModified)
			}}, nil
		}
		rc, info, err := blobs.Get(ctx, doc.BlobKey)
		if err != nil {
			if intake.ErrorCode(err) == intake.ENOTFOUND {
				// Metadata without bytes is a broken invariant, not a 404.
				err = fmt.Errorf("document %s/%d: blob %s missing: %w", doc.JobID, doc.Seq, doc.BlobKey, err)
				err = intake.WrapError(intake.EINTERNAL, err, "document content is missing")
			}
			return nil, p.from(ctx, fmt.Errorf("open blob: %w", err))
		}
		if info.SHA256 != "" && info.SHA256 != doc.SHA256 {
			rc.Close()
			return nil, p.from(ctx, fmt.Errorf("document %s/%d: blob sha256 %s does not match recorded %s", doc.JobID, doc.Seq, info.SHA256, doc.SHA256))
		}
		size := info.Size
		ct := doc.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		return &huma.StreamResponse{Body: func(hc huma.Context) {
			defer rc.Close()
			hc.SetHeader("Content-Type", ct)
			hc.SetHeader("Content-Length", strconv.FormatInt(size, 10))
			hc.SetHeader("ETag", etag)
			hc.SetHeader("X-Content-SHA256", doc.SHA256)
			hc.SetHeader("X-Content-Type-Options", "nosniff")
			if cd := mime.FormatMediaType("attachment", map[string]string{"filename": doc.Name}); cd != "" {
				hc.SetHeader("Content-Disposition", cd)
			}
			hc.SetStatus(http.StatusOK)
			if _, err := io.Copy(hc.BodyWriter(), rc); err != nil {
				p.log.WarnContext(ctx, "stream document", "request_id", requestIDFrom(ctx), "job_id", doc.JobID, "seq", doc.Seq, "err", err)
			}
		}}, nil
	}
}

// sourceInfo describes a registered source type.
type sourceInfo struct {
	Type    string          `json:"type" example:"filings"`
	Example json.RawMessage `json:"example,omitempty" doc:"An example config for POST /api/v1/jobs/trigger."`
}

// sourcesBody lists the registered source types.
type sourcesBody struct {
	Sources []sourceInfo `json:"sources" nullable:"false"`
}

type sourcesOutput struct {
	Body sourcesBody
}

// handleSources lists the registered source types with an example config
// each, for the web UI's trigger form.
func handleSources(sources intake.Sources) func(context.Context, *struct{}) (*sourcesOutput, error) {
	return func(context.Context, *struct{}) (*sourcesOutput, error) {
		out := &sourcesOutput{}
		out.Body.Sources = []sourceInfo{}
		for _, t := range sources.Types() {
			info := sourceInfo{Type: t}
			info.Example = example(sources[t])
			out.Body.Sources = append(out.Body.Sources, info)
		}
		return out, nil
	}
}
