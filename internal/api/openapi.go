package api

import (
	"fmt"
	"net/http"
)

// OpenAPI returns the API's OpenAPI 3.1 document as YAML, the same document
// a server with deps serves at /openapi.yaml. It depends on deps.Sources
// (the trigger and schedule request bodies are oneOfs over the sources'
// types) and on whether deps.NewDemoJob is set (/create-job), on nothing
// else.
// docs/openapi.yaml is this output for what cmd/intake serves, kept
// current by its TestOpenAPIDoc (regenerate with
// `go test ./cmd/intake -run TestOpenAPIDoc -update`).
func OpenAPI(deps Deps) ([]byte, error) {
	np, err := newNotifyPolicy(deps)
	if err != nil {
		return nil, err
	}
	s := &server{cfg: withDefaults(Config{}), sources: deps.Sources, demoJob: deps.NewDemoJob, notify: np}
	mux := http.NewServeMux()
	api, err := newAPI(mux, deps.Sources)
	if err != nil {
		return nil, err
	}
	if err := s.routes(api, mux, nil); err != nil {
		return nil, err
	}
	b, err := api.OpenAPI().YAML()
	if err != nil {
		return nil, fmt.Errorf("api: render OpenAPI: %w", err)
	}
	return b, nil
}
