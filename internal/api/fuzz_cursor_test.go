package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzCursors feeds arbitrary cursors, status filters, job ids and
// document numbers to the read routes: every answer is below 500 and JSON
// (or a document). The seed corpus runs with every go test.
func FuzzCursors(f *testing.F) {
	for _, s := range [][3]string{
		{"", "", "1"}, {"AAAA", "pending", "0"}, {"MDFhMjMxN2EtOWUyZi03ODM4LTgxNzctZWMwZDdiMGMwMzAz", "completed", "2147483648"},
		{"%%%", "nope", "-1"}, {"2147483648", "", "9223372036854775808"}, {"\x00", "failed,pending", "1e3"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	b := newBundle(f)
	get := func(t *testing.T, path string) {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
		req.URL.RawPath = ""
		u, err := url.Parse(path)
		if err != nil {
			return
		}
		req.URL = u
		req.RequestURI = u.RequestURI()
		req.Header.Set("Authorization", "Bearer "+testKey)
		rec := httptest.NewRecorder()
		b.handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("GET %s: status %d: %s", path, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); (ct == "application/json" || ct == "application/problem+json") && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("GET %s: body is not JSON: %q", path, rec.Body)
		}
	}
	const job = "01a2317a-9e2f-7838-8177-ec0d7b0c0303"
	f.Fuzz(func(t *testing.T, cursor, status, seq string) {
		q := url.Values{"cursor": {cursor}, "status": {status}}.Encode()
		get(t, "/api/v1/jobs?"+q)
		get(t, "/api/v1/jobs/result/"+job+"?"+url.Values{"cursor": {cursor}}.Encode())
		get(t, "/api/v1/jobs/"+job+"/documents/"+url.PathEscape(seq)+"/content")
		get(t, "/api/v1/jobs/status/"+url.PathEscape(cursor))
	})
}
