// Package docsui serves intake's API reference: Swagger UI, vendored from
// npm (swagger-ui-dist, see scripts/vendor-swagger-ui.sh) and embedded, so
// that /docs works with no internet. The bundle is stored gzip-compressed
// and sent as is to clients that accept gzip.
package docsui

import (
	"bytes"
	"compress/gzip"
	"embed"
	"html"
	"io"
	"net/http"
	"strings"
)

//go:embed index.html init.js docs.css dist/*.gz dist/VERSION
var files embed.FS

// csp allows nothing but this origin. Swagger UI sets inline styles and
// uses data: URIs for its icons.
const csp = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// specURLMark is where index.html takes the OpenAPI document's URL. The page
// is filled in by replacing it, not rendered with html/template: a binary
// that links text/template's evaluator makes the linker keep every
// exported method of every type it keeps (about 12 MB more, see
// TestLinkerDropsUnusedMethods in cmd/intake).
const specURLMark = "{{.SpecURL}}"

// index returns index.html for the OpenAPI document at specURL.
func index(specURL string) []byte {
	page, err := files.ReadFile("index.html")
	if err != nil || !bytes.Contains(page, []byte(specURLMark)) {
		panic("docsui: index.html has no " + specURLMark)
	}
	return bytes.ReplaceAll(page, []byte(specURLMark), []byte(html.EscapeString(specURL)))
}

// Version returns the vendored swagger-ui-dist version.
func Version() string {
	b, _ := files.ReadFile("dist/VERSION")
	return strings.TrimSpace(string(b))
}

// Handler serves the docs UI at its root ("/", "/init.js", …) for the
// OpenAPI document at specURL. Mount it with http.StripPrefix.
func Handler(specURL string) http.Handler {
	page := index(specURL)
	etag := `"` + Version() + `"`
	plain := map[string]string{
		"/init.js":  "text/javascript; charset=utf-8",
		"/docs.css": "text/css; charset=utf-8",
	}
	gzipped := map[string]string{
		"/swagger-ui-bundle.js": "text/javascript; charset=utf-8",
		"/swagger-ui.css":       "text/css; charset=utf-8",
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		p := r.URL.Path
		if p == "/" || p == "" {
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Content-Security-Policy", csp)
			h.Set("Cache-Control", "no-cache")
			_, _ = w.Write(page)
			return
		}
		if ct, ok := plain[p]; ok {
			b, _ := files.ReadFile(strings.TrimPrefix(p, "/"))
			h.Set("Content-Type", ct)
			h.Set("Cache-Control", "no-cache")
			_, _ = w.Write(b) //nolint:gosec // G705: an embedded file picked from a fixed list, not request data
			return
		}
		ct, ok := gzipped[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", ct)
		h.Set("Cache-Control", "public, max-age=86400")
		h.Set("ETag", etag)
		h.Add("Vary", "Accept-Encoding")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		gz, _ := files.ReadFile("dist" + p + ".gz")
		if acceptsGzip(r) {
			h.Set("Content-Encoding", "gzip")
			_, _ = w.Write(gz) //nolint:gosec // G705: an embedded file picked from a fixed list, not request data
			return
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			http.Error(w, "corrupt embedded asset", http.StatusInternalServerError)
			return
		}
		_, _ = io.Copy(w, zr) //nolint:gosec // G110: our own embedded asset, not untrusted input
	})
}

// acceptsGzip reports whether the client accepts gzip (q=0 refuses it).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") || strings.TrimSpace(enc) == "*" {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
