package api_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestHostileTriggerBodies sends trigger bodies that once got past
// validation or reached the store as text some stores refuse: each is a
// 422 naming the field, and no job is created.
func TestHostileTriggerBodies(t *testing.T) {
	t.Parallel()
	const good = `"config":{"cin":"L17110MH1973PLC019786","company_name":"Reliance Industries Limited"}`
	for _, tt := range []struct {
		name, body string
		header     map[string]string
		location   string
	}{
		{"second config, other case", `{"source_type":"filings",` + good + `,"Config":{"cin":"x"}}`, nil, "body.Config"},
		{"only an upper-case config", `{"source_type":"filings","CONFIG":{"cin":"L17110MH1973PLC019786","company_name":"` + strings.Repeat("x", 5000) + `"}}`, nil, "body.CONFIG"},
		{"other-case source_type", `{"Source_Type":"filings","source_type":"filings",` + good + `}`, nil, "body.Source_Type"},
		{"NUL in a config string", `{"source_type":"filings","config":{"cin":"L17110MH1973PLC019786","company_name":"a\u0000b"}}`, nil, "body.config.company_name"},
		{"NUL in a config key", `{"source_type":"filings","config":{"cin":"L17110MH1973PLC019786","company_name":"R","x\u0000":1}}`, nil, "body.config"},
		{"bytes that are not UTF-8", "{\"source_type\":\"filings\",\"config\":{\"cin\":\"L17110MH1973PLC019786\",\"company_name\":\"caf\xe9\"}}", nil, "body"},
		{"Idempotency-Key not UTF-8", `{"source_type":"filings",` + good + `}`, map[string]string{"Idempotency-Key": "k\xff"}, "header.Idempotency-Key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t)
			r := b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/trigger", body: tt.body, header: tt.header})
			p := r.wantProblem(t, http.StatusUnprocessableEntity)
			found := false
			for _, e := range p.Errors {
				found = found || e.Location == tt.location
			}
			if !found {
				t.Errorf("errors %+v, want one at %s", p.Errors, tt.location)
			}
			if calls := b.creates.calls(); len(calls) != 0 {
				t.Errorf("the store was asked to create jobs: %v", calls)
			}
		})
	}
}
