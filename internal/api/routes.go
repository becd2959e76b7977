package api

import (
	"net/http"
	"reflect"

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
		{Name: "demo", Description: "Demo jobs in bulk, for trying intake out."},
		{Name: "probes", Description: "Liveness and readiness."},
	}
	return humago.New(mux, cfg), nil
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
	trigger, err := newTriggerBody(api.OpenAPI().Components.Schemas, s.sources)
	if err != nil {
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
			"and the source has validated its config, and answers 202 at once; workers collect it in the background.",
		DefaultStatus: http.StatusAccepted,
		MaxBodyBytes:  maxBody,
		// The handler validates the raw body against the oneOf (see
		// triggerBody.parse).
		SkipValidateBody: true,
		Security:         bearer,
		Errors:           []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}
	huma.Register(api, triggerOp, handleTrigger(store, s.sources, trigger, n, p, s.metrics))
	// huma documents a RawBody as application/octet-stream: document the
	// oneOf the handler validates instead.
	api.OpenAPI().Paths[triggerOp.Path].Post.RequestBody = trigger.requestBody()
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

	if s.demoJob != nil {
		mux.Handle("POST /create-job", handleCreateJob(store, s.sources, s.demoJob, n, p, s.metrics, maxBody))
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
