package api

import (
	"fmt"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/api/docsui"
)

// apiVersion is the version of the API contract in the OpenAPI document; it
// changes with the contract, not with every build.
const apiVersion = "1.0.0"

// bearer is the security requirement of every authenticated operation.
var bearer = []map[string][]string{{"bearer": {}}}

// newAPI returns a huma API on mux that serves the OpenAPI document at
// /openapi.json and /openapi.yaml (and their 3.0 downgrades). huma's own
// docs page loads from a CDN, so it is off; /docs serves the embedded one.
//
// Its schema registry names the config types of sources as they describe
// them (ConfigDescriber); it fails when two sources' names collide.
func newAPI(mux *http.ServeMux, sources intake.Sources) (huma.API, error) {
	types, err := newConfigTypes(sources)
	if err != nil {
		return nil, err
	}
	cfg := huma.DefaultConfig("intake", apiVersion)
	cfg.Components.Schemas = huma.NewMapRegistry(schemaPrefix, types.namer)
	cfg.Info.Description = "Compliance document collection: record a job, workers collect its documents in batches " +
		"(35 % of the total per run) into blob storage, and clients follow its progress and download the documents.\n\n" +
		"Every /api route and /create-job need `Authorization: Bearer <key>`. Errors are RFC 9457 problem documents " +
		"(application/problem+json), except on /create-job, which answers `{\"error\": \"...\"}`."
	cfg.DocsPath = ""
	cfg.SchemasPath = ""
	// No $schema links in bodies: they would point at the (disabled)
	// schema route and add a field to every response.
	cfg.CreateHooks = nil
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {
			Type:        "http",
			Scheme:      "bearer",
			Description: "One of the keys in INTAKE_API_KEYS.",
		},
	}
	cfg.Tags = []*huma.Tag{
		{Name: "jobs", Description: "Trigger, follow and cancel collection jobs; download their documents."},
		{Name: "schedules", Description: "Collect from a source again and again, on a cron expression or an interval; each job is compared with the previous one."},
		{Name: "demo", Description: "Demo jobs in bulk, for trying intake out."},
		{Name: "probes", Description: "Liveness and readiness."},
	}
	return humago.New(newActionMux(mux), cfg), nil
}

// routes registers every route of the server: the huma operations (which
// make up the OpenAPI document), /create-job, the web UI, the docs UI and
// /metrics. Authentication is applied by path in the middleware; the
// operations declare it for the OpenAPI document. It fails when the
// sources' config schemas cannot be described.
func (s *server) routes(api huma.API, mux *http.ServeMux, metricsHandler http.Handler) error {
	store := boundedStore{Store: s.store, timeout: s.cfg.StoreTimeout}
	p := &problems{log: s.log, store: s.store}
	n := notifier{disp: s.disp, log: s.log}
	maxBody := s.cfg.MaxBodyBytes
	reg := api.OpenAPI().Components.Schemas
	notifySchema := reg.Schema(reflect.TypeFor[notifyView](), true, "")
	trigger, err := newSourceBody(reg, s.sources, triggerKind(notifySchema))
	if err != nil {
		return err
	}
	sched := &schedules{store: store, sources: s.sources, notify: s.notify, p: p, now: time.Now}
	if sched.body, err = newSourceBody(reg, s.sources, scheduleKind(notifySchema)); err != nil {
		return err
	}

	huma.Register(api, huma.Operation{
		OperationID: "health", Method: http.MethodGet, Path: "/health", Tags: []string{"probes"},
		Summary:     "Liveness",
		Description: "200 while the process runs; checks no dependency.",
	}, handleHealth(s.cfg.Version))
	huma.Register(api, huma.Operation{
		OperationID: "ready", Method: http.MethodGet, Path: "/ready", Tags: []string{"probes"},
		Summary:     "Readiness",
		Description: "200 when the job store answers, 503 with Retry-After when it does not. The body lists every dependency's state; checks are cached for a couple of seconds.",
		Responses: map[string]*huma.Response{"503": {
			Description: "The job store does not answer.",
			Content:     map[string]*huma.MediaType{"application/json": {Schema: api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[readyBody](), true, "")}},
		}},
	}, handleReady(s.ready, s.cfg.Version))

	triggerOp := huma.Operation{
		OperationID: "trigger-job", Method: http.MethodPost, Path: "/api/v1/jobs/trigger", Tags: []string{"jobs"},
		Summary: "Trigger a collection job",
		Description: "Records a job for a registered source type once the body has matched the alternative its source_type selects " +
			"and the source has validated its config, and answers 202 at once; workers collect it in the background. " +
			"With notify, the job's events (job.completed, job.failed) are delivered to a webhook, signed with a configured secret; " +
			"without it, the deployment's default webhook (INTAKE_WEBHOOK_URL), if any, is stored on the job.",
		DefaultStatus: http.StatusAccepted,
		MaxBodyBytes:  maxBody,
		// The handler validates the raw body against the oneOf (see
		// triggerBody.parse).
		SkipValidateBody: true,
		Security:         bearer,
		Errors:           []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}
	huma.Register(api, triggerOp, handleTrigger(store, s.sources, trigger, s.notify, n, p, s.metrics))
	// huma documents a RawBody as application/octet-stream: document the
	// oneOf the handler validates instead.
	api.OpenAPI().Paths[triggerOp.Path].Post.RequestBody = trigger.requestBody(
		"The source type and its config, and optionally a notify. The config is validated against the selected alternative's schema and then by the source itself.")
	huma.Register(api, huma.Operation{
		OperationID: "list-jobs", Method: http.MethodGet, Path: "/api/v1/jobs", Tags: []string{"jobs"},
		Summary:  "List jobs",
		Security: bearer,
		Errors:   []int{http.StatusUnauthorized, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, handleListJobs(store, p))
	huma.Register(api, huma.Operation{
		OperationID: "get-job-status", Method: http.MethodGet, Path: "/api/v1/jobs/status/{job_id}", Tags: []string{"jobs"},
		Summary:  "Get a job's status, progress and run history",
		Security: bearer,
		Errors:   []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable},
	}, handleStatus(store, p))
	huma.Register(api, huma.Operation{
		OperationID: "get-job-result", Method: http.MethodGet, Path: "/api/v1/jobs/result/{job_id}", Tags: []string{"jobs"},
		Summary:     "Get a completed job's documents",
		Description: "200 only for a completed job; any other status is a 409 problem naming it (and the last error of a failed job).",
		Security:    bearer,
		Errors:      []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, handleResult(store, p))
	huma.Register(api, huma.Operation{
		OperationID: "cancel-job", Method: http.MethodPost, Path: "/api/v1/jobs/{job_id}/cancel", Tags: []string{"jobs"},
		Summary:     "Cancel a job",
		Description: "Cancels a job that is not terminal; a running job stops at its worker's next heartbeat. A terminal job is a 409.",
		Security:    bearer,
		Errors:      []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable},
	}, handleCancel(store, p))
	s.jobActionRoutes(api, store, p)
	huma.Register(api, huma.Operation{
		OperationID: "get-document-content", Method: http.MethodGet, Path: "/api/v1/jobs/{job_id}/documents/{seq}/content", Tags: []string{"jobs"},
		Summary:     "Download a document",
		Description: "Streams the document's bytes with its content type. ETag and X-Content-SHA256 carry the SHA-256 recorded with the document.",
		Security:    bearer,
		Errors:      []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable},
		Responses: map[string]*huma.Response{
			"200": {
				Description: "The document's bytes.",
				Content:     map[string]*huma.MediaType{"application/octet-stream": {Schema: &huma.Schema{Type: huma.TypeString, Format: "binary"}}},
				Headers: map[string]*huma.Param{
					"ETag":             {Description: "The quoted SHA-256.", Schema: &huma.Schema{Type: huma.TypeString}},
					"X-Content-SHA256": {Description: "Lowercase hex SHA-256 of the content.", Schema: &huma.Schema{Type: huma.TypeString}},
				},
			},
			"304": {Description: "If-None-Match matched the ETag."},
		},
	}, handleContent(store, s.blobs, p))
	huma.Register(api, huma.Operation{
		OperationID: "list-sources", Method: http.MethodGet, Path: "/api/v1/sources", Tags: []string{"jobs"},
		Summary:  "List source types",
		Security: bearer,
		Errors:   []int{http.StatusUnauthorized},
	}, handleSources(s.sources))

	s.scheduleRoutes(api, sched, maxBody)

	if s.demoJob != nil {
		mux.Handle("POST /create-job", handleCreateJob(store, s.sources, s.demoJob, s.notify, n, p, s.metrics, maxBody))
		documentCreateJob(api)
	}

	mux.Handle("GET /{$}", webIndex())
	mux.Handle("GET /assets/", webAssets())
	mux.Handle("GET /docs", http.RedirectHandler("/docs/", http.StatusMovedPermanently))
	mux.Handle("GET /docs/", http.StripPrefix("/docs", problemsFor(docsui.Handler("../openapi.json"))))
	if metricsHandler != nil {
		mux.Handle("GET /metrics", metricsHandler)
	}
	return nil
}

// documentCreateJob adds /create-job, served outside huma to keep its
// {"error": "..."} shape, to the OpenAPI document.
func documentCreateJob(api huma.API) {
	reg := api.OpenAPI().Components.Schemas
	legacy := func(desc string) *huma.Response {
		return &huma.Response{Description: desc, Content: map[string]*huma.MediaType{
			"application/json": {Schema: reg.Schema(reflect.TypeFor[legacyError](), true, "LegacyError")},
		}}
	}
	api.OpenAPI().AddOperation(&huma.Operation{
		OperationID: "create-jobs", Method: http.MethodPost, Path: "/create-job", Tags: []string{"demo"},
		Summary: "Create demo jobs",
		Description: "Creates num_jobs (1 to 10) demo jobs, each collecting the filings of a random company, all in one atomic insert. " +
			"Errors are `{\"error\": \"...\"}`; a missing or wrong key is a 401 problem like everywhere else.",
		Security: bearer,
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
			"application/json": {Schema: reg.Schema(reflect.TypeFor[createJobRequest](), true, "")},
		}},
		Responses: map[string]*huma.Response{
			"200": {Description: "The jobs were created.", Content: map[string]*huma.MediaType{
				"application/json": {Schema: reg.Schema(reflect.TypeFor[createJobResponse](), true, "")},
			}},
			"400": legacy("num_jobs is missing, not an integer, or out of range."),
			"401": {Description: "Missing or invalid bearer key.", Content: map[string]*huma.MediaType{
				"application/problem+json": {Schema: reg.Schema(reflect.TypeFor[huma.ErrorModel](), true, "")},
			}},
			"413": legacy("The body is over the size limit."),
			"500": legacy("An internal error; the log has details under the request id."),
			"503": legacy("The job store is unavailable; see Retry-After."),
		},
	})
}

// triggerKind is the trigger body: source_type, config and an optional
// notify.
func triggerKind(notify *huma.Schema) bodyKind {
	return bodyKind{
		suffix:   "TriggerRequest",
		describe: func(typ string) string { return fmt.Sprintf("Triggers a %s job.", typ) },
		about: "A job to record: its source_type, one of the registered source types (GET /api/v1/sources lists them), " +
			"and that source's config, described by the alternative that source_type selects.",
		extra: map[string]*huma.Schema{"notify": notify},
	}
}

// jobActionRoutes registers the routes of a job's changes and webhook
// deliveries.
func (s *server) jobActionRoutes(api huma.API, store intake.Store, p *problems) {
	huma.Register(api, huma.Operation{
		OperationID: "get-job-changes", Method: http.MethodGet, Path: "/api/v1/jobs/{job_id}/changes", Tags: []string{"jobs", "schedules"},
		Summary: "List what changed since the job's previous job",
		Description: "For a job that a schedule created with a previous completed job: the counts of new, changed, unchanged and removed " +
			"documents, a page of the new and changed documents (cursor) and a page of the previous job's documents this job did not " +
			"collect (removed_cursor). Documents are matched by their identity within the source and compared by SHA-256. A job without " +
			"a previous job (a trigger's, a schedule's first) answers 200 without previous_job_id and counts and with empty lists: nothing " +
			"was compared.",
		Security: bearer,
		Errors:   []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, handleChanges(store, p))
	huma.Register(api, huma.Operation{
		OperationID: "list-job-deliveries", Method: http.MethodGet, Path: "/api/v1/jobs/{job_id}/deliveries", Tags: []string{"jobs"},
		Summary:     "List a job's webhook deliveries",
		Description: "Every delivery attempt of the job's events (its notify), oldest first: the endpoint's status or the error, and how long it took.",
		Security:    bearer,
		Errors:      []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, handleDeliveries(store, p))
	huma.Register(api, huma.Operation{
		OperationID: "redeliver-job", Method: http.MethodPost, Path: "/api/v1/jobs/{job_id}/redeliver", Tags: []string{"jobs"},
		Summary: "Deliver a job's events again",
		Description: "Makes the notification of a completed or failed job due now; the maintenance loop delivers its events again " +
			"(same webhook-id, so receivers can deduplicate). 409 for a job that is not terminal or has no notify.",
		DefaultStatus: http.StatusAccepted,
		Security:      bearer,
		Errors:        []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable},
	}, handleRedeliver(store, p))
}

// scheduleRoutes registers the schedule routes.
func (s *server) scheduleRoutes(api huma.API, sched *schedules, maxBody int64) {
	errs := []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}
	createOp := huma.Operation{
		OperationID: "create-schedule", Method: http.MethodPost, Path: "/api/v1/schedules", Tags: []string{"schedules"},
		Summary: "Create a schedule",
		Description: "Records a schedule once its source config has been validated exactly like a trigger's and its timing by the " +
			"scheduler's rules, and answers 201 with its first tick in next_fire_at. Every tick creates one job (exactly once across " +
			"replicas) linked to the schedule's previous completed job, whose documents it is compared with. Without notify, the " +
			"deployment's default webhook, if any, is stored on the schedule.",
		DefaultStatus:    http.StatusCreated,
		MaxBodyBytes:     maxBody,
		SkipValidateBody: true,
		Security:         bearer,
		Errors:           errs,
	}
	huma.Register(api, createOp, sched.create)
	api.OpenAPI().Paths[createOp.Path].Post.RequestBody = sched.body.requestBody(
		"The source type and its config, validated like a trigger's, and the schedule's timing, policies and notify.")
	huma.Register(api, huma.Operation{
		OperationID: "list-schedules", Method: http.MethodGet, Path: "/api/v1/schedules", Tags: []string{"schedules"},
		Summary:  "List schedules",
		Security: bearer,
		Errors:   []int{http.StatusUnauthorized, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, sched.list)
	huma.Register(api, huma.Operation{
		OperationID: "get-schedule", Method: http.MethodGet, Path: "/api/v1/schedules/{schedule_id}", Tags: []string{"schedules"},
		Summary:  "Get a schedule",
		Security: bearer,
		Errors:   []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable},
	}, sched.get)
	patchOp := huma.Operation{
		OperationID: "update-schedule", Method: http.MethodPatch, Path: "/api/v1/schedules/{schedule_id}", Tags: []string{"schedules"},
		Summary: "Change, pause or resume a schedule",
		Description: "Applies a JSON merge patch to the schedule and validates the result like a new schedule. " +
			"{\"paused\": true} pauses it; {\"paused\": false} resumes it, and its misfire policy applies to the ticks it missed. " +
			"With If-Match (or version) a schedule changed since is a 409.",
		MaxBodyBytes:     maxBody,
		SkipValidateBody: true,
		Security:         bearer,
		Errors:           append([]int{http.StatusNotFound, http.StatusConflict}, errs...),
	}
	huma.Register(api, patchOp, sched.patch)
	patchBody := patchSchema(scheduleProperties(api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[notifyView](), true, "")))
	api.OpenAPI().Paths[patchOp.Path].Patch.RequestBody = &huma.RequestBody{
		Description: "The properties to change.",
		Required:    true,
		Content: map[string]*huma.MediaType{
			"application/merge-patch+json": {Schema: patchBody},
			"application/json":             {Schema: patchBody},
		},
	}
	huma.Register(api, huma.Operation{
		OperationID: "delete-schedule", Method: http.MethodDelete, Path: "/api/v1/schedules/{schedule_id}", Tags: []string{"schedules"},
		Summary:       "Delete a schedule",
		Description:   "The schedule stops firing; the jobs it created stay.",
		DefaultStatus: http.StatusNoContent,
		Security:      bearer,
		Errors:        []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable},
	}, sched.remove)
}
