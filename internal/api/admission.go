package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// admission bounds the requests that reach the job store at once. Past
// the knee of the store (its pool of connections and its commit rate) a
// request that is let in only waits for a connection, holding memory,
// while the client's timeout runs out: the achieved rate falls far below
// capacity and every request is late. Bounded, the excess waits at most
// wait for a slot and is then refused at once with 503 and Retry-After,
// and the requests admitted keep the latency of a store that keeps up.
//
// A nil *admission admits everything.
type admission struct {
	slots chan struct{}
	wait  time.Duration
}

// newAdmission returns an admission of limit requests at a time whose
// excess waits up to wait; nil (no bound) when limit is 0.
func newAdmission(limit int, wait time.Duration) *admission {
	if limit <= 0 {
		return nil
	}
	return &admission{slots: make(chan struct{}, limit), wait: wait}
}

// acquire takes a slot and returns the function that gives it back, or
// false when none freed up within the wait (or ctx ended first).
func (a *admission) acquire(ctx context.Context) (release func(), ok bool) {
	if a == nil {
		return func() {}, true
	}
	select {
	case a.slots <- struct{}{}:
		return a.release, true
	default:
	}
	if a.wait <= 0 {
		return nil, false
	}
	t := time.NewTimer(a.wait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		return a.release, true
	case <-t.C:
		return nil, false
	case <-ctx.Done():
		return nil, false
	}
}

func (a *admission) release() { <-a.slots }

// admitted reports whether requests to the route path count against the
// bound: the API's and /create-job, which reach the store, but not a
// document's content, whose download lasts as long as the client takes
// (its store read has the store timeout of every request).
func admitted(path string) bool {
	return needsAuth(path) && !strings.HasSuffix(path, "/content")
}

// shedRetryAfter is the Retry-After, in seconds, of a request refused for
// overload: soon, since slots free up within milliseconds.
const shedRetryAfter = 1

// writeShed answers a request refused for overload: 503 with Retry-After,
// a problem document, or {"error": "..."} on /create-job.
func writeShed(w http.ResponseWriter, path string) {
	const msg = "the server is at its limit of requests in flight (INTAKE_HTTP_MAX_IN_FLIGHT); retry after the time in Retry-After"
	w.Header().Set("Retry-After", strconv.Itoa(shedRetryAfter))
	if path == "/create-job" {
		writeJSON(w, http.StatusServiceUnavailable, &legacyError{Message: msg})
		return
	}
	writeProblem(w, http.StatusServiceUnavailable, msg)
}
