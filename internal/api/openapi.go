package api

import (
	"fmt"
	"net/http"

	"github.com/intake-dev/intake"
)

// OpenAPI returns the API's OpenAPI 3.1 document as YAML, the same document
// a server with these sources serves at /openapi.yaml. The trigger request
// body is a oneOf over the sources' types, so the document depends on the
// registry, not on any other state. docs/openapi.yaml is this output for
// the sources cmd/intake registers, kept current by TestOpenAPI (regenerate
// with `go test ./internal/api -run TestOpenAPI -update`).
func OpenAPI(sources intake.Sources) ([]byte, error) {
	s := &server{cfg: withDefaults(Config{}), sources: sources}
	mux := http.NewServeMux()
	api, err := newAPI(mux, sources)
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
