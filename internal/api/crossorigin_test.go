package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/intake-dev/intake/internal/api"
)

// TestBrowserAttacks drives the server as a hostile web page would: a
// cross-site form or fetch that needs no preflight, and DNS rebinding that
// makes a page's own origin resolve to the server while auth is disabled.
func TestBrowserAttacks(t *testing.T) {
	t.Parallel()
	open := newBundle(t, func(c *api.Config, _ *api.Deps) { c.APIKeys = nil; c.AuthDisabled = true })
	keyed := newBundle(t)
	type call struct {
		method, path, body string
		header             map[string]string
		host               string
	}
	send := func(t *testing.T, b *bundle, c call, key bool) (int, string) {
		t.Helper()
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		req, err := http.NewRequestWithContext(t.Context(), c.method, b.url+c.path, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		if key {
			req.Header.Set("Authorization", "Bearer "+testKey)
		}
		if c.host != "" {
			req.Host = c.host
		}
		res, err := b.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		got, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(got)
	}
	jsonCT := map[string]string{"Content-Type": "application/json"}
	for _, tc := range []struct {
		name string
		call call
		// want is the status with auth disabled; wantKeyed with a key.
		want, wantKeyed int
	}{
		{"cross-site simple POST", call{method: "POST", path: "/create-job", body: `{"num_jobs":1}`,
			header: map[string]string{"Content-Type": "text/plain", "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}},
			http.StatusForbidden, http.StatusForbidden},
		{"cross-origin fetch without Sec-Fetch-Site", call{method: "POST", path: "/api/v1/jobs/trigger",
			body:   `{"source_type":"filings","config":{"cin":"L17110MH1973PLC019786","company_name":"R"}}`,
			header: map[string]string{"Content-Type": "application/json", "Origin": "https://evil.example"}},
			http.StatusForbidden, http.StatusForbidden},
		{"cross-site cancel", call{method: "POST", path: "/api/v1/jobs/x/cancel",
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, http.StatusForbidden, http.StatusForbidden},
		{"text/plain create-job", call{method: "POST", path: "/create-job", body: `{"num_jobs":1}`,
			header: map[string]string{"Content-Type": "text/plain"}}, http.StatusUnsupportedMediaType, http.StatusUnsupportedMediaType},
		{"form create-job", call{method: "POST", path: "/create-job", body: `{"num_jobs":1}`,
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, http.StatusUnsupportedMediaType, http.StatusUnsupportedMediaType},
		{"body without Content-Type", call{method: "POST", path: "/create-job", body: `{"num_jobs":1}`},
			http.StatusUnsupportedMediaType, http.StatusUnsupportedMediaType},
		{"same-origin create-job", call{method: "POST", path: "/create-job", body: `{"num_jobs":1}`,
			header: map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"}}, http.StatusOK, http.StatusOK},
		{"JSON create-job", call{method: "POST", path: "/create-job", body: `{"num_jobs":1}`, header: jsonCT}, http.StatusOK, http.StatusOK},
		{"bodyless cancel", call{method: "POST", path: "/api/v1/jobs/x/cancel"}, http.StatusNotFound, http.StatusNotFound},
		{"rebound host reads jobs", call{method: "GET", path: "/api/v1/jobs", host: "rebind.attacker.example"},
			http.StatusMisdirectedRequest, http.StatusOK},
		{"rebound host with port", call{method: "GET", path: "/api/v1/jobs", host: "rebind.attacker.example:8000"},
			http.StatusMisdirectedRequest, http.StatusOK},
		{"rebound host posts", call{method: "POST", path: "/create-job", body: `{"num_jobs":1}`, header: jsonCT, host: "10.0.0.1:8000"},
			http.StatusMisdirectedRequest, http.StatusOK},
		{"rebound host UI", call{method: "GET", path: "/", host: "rebind.attacker.example"}, http.StatusMisdirectedRequest, http.StatusOK},
		{"localhost", call{method: "GET", path: "/api/v1/jobs", host: "localhost:8000"}, http.StatusOK, http.StatusOK},
		{"localhost without port", call{method: "GET", path: "/api/v1/jobs", host: "localhost"}, http.StatusOK, http.StatusOK},
		{"loopback v6", call{method: "GET", path: "/api/v1/jobs", host: "[::1]:8000"}, http.StatusOK, http.StatusOK},
		{"loopback v4", call{method: "GET", path: "/api/v1/jobs", host: "127.0.0.2"}, http.StatusOK, http.StatusOK},
		{"probe with any host", call{method: "GET", path: "/health", host: "10.1.2.3:8000"}, http.StatusOK, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, body := send(t, open, tc.call, false); got != tc.want {
				t.Errorf("auth disabled: %s %s (Host %q) = %d, want %d; %s", tc.call.method, tc.call.path, tc.call.host, got, tc.want, body)
			}
			if got, body := send(t, keyed, tc.call, true); got != tc.wantKeyed {
				t.Errorf("with a key: %s %s (Host %q) = %d, want %d; %s", tc.call.method, tc.call.path, tc.call.host, got, tc.wantKeyed, body)
			}
		})
	}
}
