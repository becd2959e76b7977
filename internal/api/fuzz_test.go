package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzPost sends body to path in-process and checks the invariants every
// answer must keep: no 5xx, and a JSON body with a JSON content type.
func fuzzPost(t *testing.T, h http.Handler, path string, body []byte, contentType string) {
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+testKey)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s with %q: status %d: %s", path, body, rec.Code, rec.Body)
	}
	ct := rec.Header().Get("Content-Type")
	if ct != "application/json" && ct != "application/problem+json" {
		t.Fatalf("%s with %q: Content-Type %q", path, body, ct)
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("%s with %q: body is not JSON: %q", path, body, rec.Body)
	}
}

// FuzzTriggerRequest feeds arbitrary bodies to POST /api/v1/jobs/trigger.
// The seed corpus (f.Add and testdata/fuzz) runs with every go test.
func FuzzTriggerRequest(f *testing.F) {
	for _, s := range []string{
		`{"source_type": "filings", "config": {"cin": "L17110MH1973PLC019786", "company_name": "Reliance Industries Limited"}}`,
		`{"source_type": "filings", "config": {"cin": "L17110MH1973PLC01978", "company_name": ""}}`,
		`{"source_type": "filings", "config": {"cin": 17110, "company_name": ["x"]}}`,
		`{"source_type": "filings", "config": null}`,
		`{"source_type": null, "config": {}}`,
		`{"source_type": "\u0000", "config": {"a": 1e999}}`,
		`{"source_type": "filings", "config": {"cin": "L17110MH1973PLC019786", "company_name": "A", "extra": true}}`,
		`[]`, `null`, `"x"`, `{`, ``, `{"config": {}}`,
	} {
		f.Add([]byte(s), "application/json")
	}
	f.Add([]byte(`source_type=filings`), "application/x-www-form-urlencoded")
	f.Add([]byte(`{"source_type": "filings"}`), "text/plain")
	b := newBundle(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		fuzzPost(t, b.handler, "/api/v1/jobs/trigger", body, contentType)
	})
}

// FuzzCreateJobRequest feeds arbitrary bodies to /create-job.
func FuzzCreateJobRequest(f *testing.F) {
	for _, s := range []string{
		`{"num_jobs": 1}`, `{"num_jobs": 10}`, `{"num_jobs": 11}`, `{"num_jobs": "5"}`,
		`{"num_jobs": 1e1}`, `{"num_jobs": -0}`, `{"num_jobs": 2, "num_jobs": 3}`,
		`{"num_jobs": 9223372036854775808}`, `[]`, ``, `{`, `null`,
	} {
		f.Add([]byte(s))
	}
	b := newBundle(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzPost(t, b.handler, "/create-job", body, "application/json")
	})
}
