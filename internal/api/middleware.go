package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"runtime/debug"
	"strings"
	"time"
)

// requestIDHeader carries the request id in and out.
const requestIDHeader = "X-Request-ID"

// validRequestID accepts incoming ids that are safe to log and echo.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

type requestIDKey struct{}

// requestIDFrom returns the request id stored in ctx by the middleware.
func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// middleware wraps the mux with, outermost first: request id, in-flight
// and request metrics, the access log, panic recovery, authentication and
// problem documents for the mux's own 404 and 405 answers. It reads the
// route pattern from the mux before serving, so that labels and logs carry
// "/api/v1/jobs/status/{job_id}", never an id, and "unmatched" for paths no
// route serves.
func (s *server) middleware(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get(requestIDHeader)
		if !validRequestID.MatchString(id) {
			id = rand.Text()
		}
		w.Header().Set(requestIDHeader, id)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))

		h, pattern := mux.Handler(r)
		route := routeLabel(pattern)
		rw := &recorder{ResponseWriter: w}
		s.metrics.inFlight.Inc()
		defer func() {
			panicked := recover()
			abort := false
			if panicked != nil {
				if err, ok := panicked.(error); !ok || !errors.Is(err, http.ErrAbortHandler) {
					s.log.ErrorContext(r.Context(), "panic serving request",
						"request_id", id, "route", route, "panic", fmt.Sprint(panicked), "stack", string(debug.Stack()))
				}
				if rw.headerSent {
					// The status line is gone: abort the connection so that
					// the client cannot take a truncated body for a whole one.
					abort = true
					rw.status = http.StatusInternalServerError
				} else {
					writeProblem(rw, http.StatusInternalServerError, "internal error; quote request id "+id+" when reporting it")
				}
			}
			d := time.Since(start)
			status := rw.status
			if status == 0 {
				status = http.StatusOK
			}
			s.metrics.inFlight.Dec()
			s.metrics.observe(r.Method, route, status, d)
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Float64("duration_ms", float64(d.Microseconds())/1000),
				slog.String("request_id", id),
				slog.Int64("bytes", rw.bytes),
			)
			if abort {
				panic(http.ErrAbortHandler)
			}
		}()

		if status, detail := s.refuseBrowserAttack(r); status != 0 {
			writeProblem(rw, status, detail)
			return
		}
		if (needsAuth(r.URL.Path) || needsAuth(patternPath(pattern))) && !s.authorized(r) {
			rw.Header().Set("WWW-Authenticate", `Bearer realm="intake"`)
			writeProblem(rw, http.StatusUnauthorized, "missing or invalid bearer key")
			return
		}
		if pattern == "" {
			h.ServeHTTP(&problemWriter{ResponseWriter: rw}, r)
			return
		}
		if admitted(patternPath(pattern)) {
			release, ok := s.admit.acquire(r.Context())
			if !ok {
				s.metrics.shed.Inc()
				writeShed(rw, patternPath(pattern))
				return
			}
			defer release()
		}
		mux.ServeHTTP(rw, r)
	})
}

// crossOrigin refuses unsafe requests that a browser sends on behalf of
// another site (Sec-Fetch-Site, else Origin against Host). Requests from
// other clients carry neither header and pass.
var crossOrigin = http.NewCrossOriginProtection()

// refuseBrowserAttack returns the status and detail with which r is
// refused before authentication, or 0. It stops what a hostile web page can
// make a browser do:
//   - a cross-site POST (a form, or a fetch that needs no preflight) is a
//     403;
//   - a POST or PATCH with a body must say application/json (or a +json
//     type, such as application/merge-patch+json), so that no form
//     encoding or text/plain body is taken for JSON: 415;
//   - with authentication disabled, the Host must be localhost or a
//     loopback address, or else a page on a rebound DNS name could read
//     the answers as its own: 421. Probes and /metrics answer any Host.
func (s *server) refuseBrowserAttack(r *http.Request) (int, string) {
	if s.cfg.AuthDisabled && !loopbackHost(r.Host) && !anyHost(r.URL.Path) {
		return http.StatusMisdirectedRequest, "with authentication disabled, intake answers only requests addressed to localhost or a loopback address"
	}
	if err := crossOrigin.Check(r); err != nil {
		return http.StatusForbidden, "cross-origin request refused"
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPatch {
		ct := r.Header.Get("Content-Type")
		hasBody := r.ContentLength != 0
		if (ct != "" || hasBody) && !isJSONType(ct) {
			return http.StatusUnsupportedMediaType, "a " + r.Method + " body must be application/json"
		}
	}
	return 0, ""
}

// isJSONType reports whether a Content-Type is application/json or a +json
// type.
func isJSONType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// loopbackHost reports whether a Host header names localhost or a loopback
// address, with or without a port.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// anyHost reports whether path answers whatever the Host: the probes and
// /metrics, which orchestrators and scrapers address by IP.
func anyHost(path string) bool {
	return path == "/health" || path == "/ready" || path == "/metrics"
}

// needsAuth reports whether path is behind the bearer key: the API and
// /create-job. Probes, metrics, docs, the OpenAPI document and
// the UI's static files are open.
func needsAuth(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/api" || path == "/create-job"
}

// authorized reports whether r carries one of the configured keys. It
// compares SHA-256 digests, so that the time taken reveals neither the
// content nor the length of a key, and it compares every key whatever the
// outcome of the others.
func (s *server) authorized(r *http.Request) bool {
	if s.cfg.AuthDisabled {
		return true
	}
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(key)))
	match := 0
	for _, k := range s.keys {
		match |= subtle.ConstantTimeCompare(got[:], k[:])
	}
	return match == 1
}

// routeLabel turns a mux pattern ("GET /api/v1/jobs/{job_id}/cancel") into
// the route label, or "unmatched".
func routeLabel(pattern string) string {
	if p := patternPath(pattern); p != "" {
		return p
	}
	return "unmatched"
}

// patternPath strips the method from a mux pattern.
func patternPath(pattern string) string {
	if _, p, ok := strings.Cut(pattern, " "); ok {
		return p
	}
	return pattern
}

// recorder remembers the status and size of a response. It unwraps to the
// underlying writer so that http.ResponseController (flush, deadlines)
// keeps working.
type recorder struct {
	http.ResponseWriter
	status     int
	bytes      int64
	headerSent bool
}

// WriteHeader implements http.ResponseWriter.
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 || (r.status >= 100 && r.status < 200) {
		r.status = code
	}
	if code >= 200 {
		r.headerSent = true
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.headerSent = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap returns the underlying writer for http.ResponseController.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// problemWriter turns the mux's plain-text error answers (404, 405) into
// problem documents, keeping their status and headers (such as Allow).
type problemWriter struct {
	http.ResponseWriter
	replaced bool
}

// WriteHeader implements http.ResponseWriter.
func (p *problemWriter) WriteHeader(code int) {
	if code < 400 {
		p.ResponseWriter.WriteHeader(code)
		return
	}
	p.replaced = true
	detail := "no such route"
	if code == http.StatusMethodNotAllowed {
		detail = "method not allowed on this route"
	}
	writeProblem(p.ResponseWriter, code, detail)
}

// Write implements http.ResponseWriter; it drops the mux's plain text.
func (p *problemWriter) Write(b []byte) (int, error) {
	if p.replaced {
		return len(b), nil
	}
	return p.ResponseWriter.Write(b)
}
