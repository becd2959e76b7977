package api

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed web
var webFiles embed.FS

// webCSP keeps the UI to its own origin: no CDN, no inline script.
const webCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// webIndex serves the UI's page at "/".
func webIndex() http.Handler {
	page, err := webFiles.ReadFile("web/index.html")
	if err != nil {
		panic("api: embedded web/index.html missing: " + err.Error())
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", webCSP)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		_, _ = w.Write(page)
	})
}

// webAssets serves the UI's static files under /assets/. Unknown files are
// problem documents like every other 404.
func webAssets() http.Handler {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic("api: embedded web/ missing: " + err.Error())
	}
	files := http.FileServerFS(sub)
	return problemsFor(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	}))
}

// problemsFor makes h's 4xx and 5xx answers problem documents.
func problemsFor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&problemWriter{ResponseWriter: w}, r)
	})
}
