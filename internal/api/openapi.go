package api

import (
	"fmt"
	"net/http"
)

// OpenAPI returns the API's OpenAPI 3.1 document as YAML, the same document
// the server serves at /openapi.yaml. It needs no dependencies: the
// document describes routes, not state. docs/openapi.yaml is this output,
// kept current by TestOpenAPI (regenerate with
// `go test ./internal/api -run TestOpenAPI -update`).
func OpenAPI() ([]byte, error) {
	s := &server{cfg: withDefaults(Config{})}
	mux := http.NewServeMux()
	api := newAPI(mux)
	s.routes(api, mux, nil)
	b, err := api.OpenAPI().YAML()
	if err != nil {
		return nil, fmt.Errorf("api: render OpenAPI: %w", err)
	}
	return b, nil
}
