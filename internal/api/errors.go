package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/intake-dev/intake"
)

// defaultRetryAfter is the Retry-After of a 503 when the error names none.
const defaultRetryAfter = 5 * time.Second

// problems turns errors into RFC 9457 problems. It is the one place where
// intake's error codes become HTTP statuses:
//
//	EINVALID      422 (field errors in "errors")
//	ENOTFOUND     404
//	ECONFLICT     409
//	EUNAUTHORIZED 401 + WWW-Authenticate: Bearer
//	EUNAVAILABLE  503 + Retry-After (also store timeouts and a store that
//	              no longer answers a ping)
//	anything else 500 with a generic message; the cause goes to the log
//	              with the request id.
type problems struct {
	log *slog.Logger
	// store is pinged to tell an outage from a bug when a call fails with
	// an unclassified error; nil skips that.
	store intake.Store
}

// from converts err to a huma error carrying the status, headers and a
// caller-safe message.
func (p *problems) from(ctx context.Context, err error) error {
	code := p.classify(ctx, err)
	msg := intake.ErrorMessage(err)
	switch code {
	case intake.EINVALID:
		return huma.Error422UnprocessableEntity(msg, fieldErrors(err)...)
	case intake.ENOTFOUND:
		return huma.Error404NotFound(msg)
	case intake.ECONFLICT:
		return huma.Error409Conflict(msg)
	case intake.EUNAUTHORIZED:
		return huma.ErrorWithHeaders(huma.Error401Unauthorized(msg),
			http.Header{"WWW-Authenticate": {`Bearer realm="intake"`}})
	case intake.EUNAVAILABLE:
		p.log.WarnContext(ctx, "dependency unavailable", "request_id", requestIDFrom(ctx), "err", err)
		if intake.ErrorCode(err) != intake.EUNAVAILABLE {
			msg = "a dependency is unavailable; retry later"
		}
		return huma.ErrorWithHeaders(huma.Error503ServiceUnavailable(msg),
			http.Header{"Retry-After": {retryAfter(err)}})
	}
	id := requestIDFrom(ctx)
	p.log.ErrorContext(ctx, "internal error", "request_id", id, "err", err)
	return huma.Error500InternalServerError("internal error; quote request id " + id + " when reporting it")
}

// classify returns err's code, reading deadline overruns and unclassified
// errors from a store that no longer answers as EUNAVAILABLE.
func (p *problems) classify(ctx context.Context, err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return intake.EUNAVAILABLE
	}
	code := intake.ErrorCode(err)
	if code == intake.EINTERNAL && p.store != nil && ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if p.store.Ping(pctx) != nil {
			return intake.EUNAVAILABLE
		}
	}
	return code
}

// fieldErrors converts an *intake.Error's field errors to huma details.
// Their locations are relative to the job's config; they are anchored at
// body.config so that every location is a path into the request.
func fieldErrors(err error) []error {
	var e *intake.Error
	if !errors.As(err, &e) {
		return nil
	}
	out := make([]error, 0, len(e.Fields))
	for _, f := range e.Fields {
		loc := "body.config"
		if f.Location != "" {
			loc += "." + strings.TrimPrefix(f.Location, ".")
		}
		out = append(out, &huma.ErrorDetail{Message: f.Message, Location: loc, Value: f.Value})
	}
	return out
}

// retryAfter returns the Retry-After seconds for an EUNAVAILABLE error.
func retryAfter(err error) string {
	d := defaultRetryAfter
	var e *intake.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		d = e.RetryAfter
	}
	return strconv.Itoa(int((d + time.Second - 1) / time.Second))
}

// writeProblem writes a problem document outside huma (middleware, the
// mux's own 404 and 405).
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(&huma.ErrorModel{
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
	})
}

// legacyError is /create-job's error body, {"error": "..."}, the shape its
// clients read. huma writes it as the body of the failed response.
type legacyError struct {
	status  int
	Message string `json:"error" doc:"What went wrong."`
}

// Error implements the error interface.
func (e *legacyError) Error() string { return e.Message }

// GetStatus implements huma.StatusError.
func (e *legacyError) GetStatus() int { return e.status }
