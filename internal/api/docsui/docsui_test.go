package docsui_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/intake-dev/intake/internal/api/docsui"
)

func get(t *testing.T, h http.Handler, path string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestIndex(t *testing.T) {
	t.Parallel()
	res := get(t, docsui.Handler("../openapi.json"), "/", nil)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("index: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, want := range []string{`data-url="../openapi.json"`, `src="swagger-ui-bundle.js"`, `src="init.js"`, `href="swagger-ui.css"`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("index lacks %s", want)
		}
	}
	// Offline: nothing may be loaded from another origin.
	if bytes.Contains(body, []byte("http://")) || bytes.Contains(body, []byte("https://")) {
		t.Error("index references an absolute URL")
	}
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "http") {
		t.Errorf("CSP %q", csp)
	}
}

func TestAssets(t *testing.T) {
	t.Parallel()
	h := docsui.Handler("/openapi.json")
	tests := []struct {
		path, contentType, starts string
	}{
		{"/swagger-ui-bundle.js", "text/javascript; charset=utf-8", "/*! For license information"},
		{"/swagger-ui.css", "text/css; charset=utf-8", ".swagger-ui"},
		{"/init.js", "text/javascript; charset=utf-8", "// Starts Swagger UI"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			// Without gzip support the asset is decompressed on the fly.
			plain := get(t, h, tt.path, map[string]string{"Accept-Encoding": "identity"})
			b, _ := io.ReadAll(plain.Body)
			if plain.StatusCode != http.StatusOK || plain.Header.Get("Content-Type") != tt.contentType ||
				plain.Header.Get("Content-Encoding") != "" || !bytes.HasPrefix(b, []byte(tt.starts)) {
				t.Fatalf("plain: %d %q %q %q", plain.StatusCode, plain.Header.Get("Content-Type"), plain.Header.Get("Content-Encoding"), b[:min(len(b), 40)])
			}
			if strings.HasSuffix(tt.path, "init.js") {
				return
			}
			gz := get(t, h, tt.path, map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
			if gz.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("Content-Encoding %q, want gzip", gz.Header.Get("Content-Encoding"))
			}
			zr, err := gzip.NewReader(gz.Body)
			if err != nil {
				t.Fatal(err)
			}
			unzipped, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(unzipped, b) {
				t.Fatalf("gzip body differs from the plain one (err %v)", err)
			}
			if bytes.Contains(b, []byte("sourceMappingURL")) {
				t.Error("the asset still points at a source map that is not vendored")
			}
			refused := get(t, h, tt.path, map[string]string{"Accept-Encoding": "gzip;q=0"})
			if refused.Header.Get("Content-Encoding") != "" {
				t.Error("gzip sent to a client that refused it")
			}
			etag := gz.Header.Get("ETag")
			if cached := get(t, h, tt.path, map[string]string{"If-None-Match": etag}); etag == "" || cached.StatusCode != http.StatusNotModified {
				t.Fatalf("ETag %q: revalidation answered %d", etag, cached.StatusCode)
			}
		})
	}
	if res := get(t, h, "/swagger-ui-bundle.js.map", nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown file: %d", res.StatusCode)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	if v := docsui.Version(); !strings.HasPrefix(v, "5.") {
		t.Fatalf("Version() = %q", v)
	}
}

// TestIndexEscapesSpecURL checks that the OpenAPI document's URL is filled
// into the page as text: it cannot end the attribute it is in.
func TestIndexEscapesSpecURL(t *testing.T) {
	t.Parallel()
	res := get(t, docsui.Handler(`spec.json?a=1&b="><script>x</script>`), "/", nil)
	body, _ := io.ReadAll(res.Body)
	if bytes.Contains(body, []byte(`"><script>`)) || bytes.Contains(body, []byte("{{")) {
		t.Errorf("index holds the URL unescaped or an unfilled mark:\n%s", body)
	}
	if want := `data-url="spec.json?a=1&amp;b=&#34;&gt;&lt;script&gt;x&lt;/script&gt;"`; !bytes.Contains(body, []byte(want)) {
		t.Errorf("index lacks %s", want)
	}
}
