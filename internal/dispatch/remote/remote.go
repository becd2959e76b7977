// Package remote holds what the dispatchers that talk to a server
// (pgnotify, redisstream) share: the check of their URL and the handling of
// an outage, that is a capped exponential backoff and a warning log that a
// flapping server cannot flood.
package remote

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sethvargo/go-retry"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/redact"
)

const (
	// MinBackoff is the first wait after a failure; the backoff doubles
	// while failures go on.
	MinBackoff = 250 * time.Millisecond
	// WarnEvery is the least time between two warnings about one outage.
	WarnEvery = 30 * time.Second
)

// CheckURL checks that raw is a URL with one of schemes. Its errors are
// EINVALID, start with component, suggest example for an empty URL, and
// show the URL only redacted: a DSN in another form (keyword/value, say)
// is refused, as redaction would be guesswork.
func CheckURL(component, raw, example string, schemes ...string) error {
	if strings.TrimSpace(raw) == "" {
		return intake.Errorf(intake.EINVALID, "%s: URL is empty; use %s", component, example)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included:
		// report only its cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return intake.Errorf(intake.EINVALID, "%s: URL %s is invalid: %v", component, redact.String(raw), err)
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return nil
		}
	}
	return intake.Errorf(intake.EINVALID, "%s: URL %s: scheme must be %s://", component, redact.String(raw),
		strings.Join(schemes, ":// or "))
}

// Outage tracks the failures of one dispatcher's server: how long to leave
// the server alone (a backoff from MinBackoff, doubling up to a cap), and
// whether a warning is due. A zero Outage is not usable; call NewOutage. It
// is safe for concurrent use.
type Outage struct {
	logger    *slog.Logger
	maxWait   time.Duration
	recovered string

	mu         sync.Mutex
	backoff    retry.Backoff // nil until the first failure after a Reset
	wait       time.Duration // the last wait; 0 after a Reset
	retryAt    time.Time     // no attempt before this time
	failing    bool          // a warning was logged, and no recovery since
	lastWarn   time.Time
	suppressed int // failures not logged since lastWarn
}

// NewOutage returns an Outage whose backoff is capped at maxWait, which
// logs warnings to logger and, when an outage it warned of ends,
// recovered at level info.
func NewOutage(logger *slog.Logger, maxWait time.Duration, recovered string) *Outage {
	return &Outage{logger: logger, maxWait: max(maxWait, MinBackoff), recovered: recovered}
}

// Fail records a failure and returns how long to wait before the next
// attempt. When msg is not empty it also logs msg with err as a warning,
// unless one was logged less than WarnEvery ago; callers that return err
// to their own caller (who logs it) pass "".
func (o *Outage) Fail(err error, msg string) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.backoff == nil {
		o.backoff = retry.WithCappedDuration(o.maxWait, retry.NewExponential(MinBackoff))
	}
	o.wait, _ = o.backoff.Next() // never stops: no WithMaxRetries
	now := time.Now()
	o.retryAt = now.Add(o.wait)
	if msg == "" {
		return o.wait
	}
	if now.Sub(o.lastWarn) < WarnEvery {
		o.suppressed++
		return o.wait
	}
	o.logger.Warn(msg, "err", err, "retry_in", o.wait, "suppressed", o.suppressed)
	o.failing, o.lastWarn, o.suppressed = true, now, 0
	return o.wait
}

// Recovered logs the end of an outage that Fail warned of. It leaves the
// backoff alone: see Reset.
func (o *Outage) Recovered() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failing {
		o.failing = false
		o.logger.Info(o.recovered)
	}
}

// Reset starts the backoff again from MinBackoff, for after a success
// that shows the server is healthy.
func (o *Outage) Reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.backoff, o.wait, o.retryAt = nil, 0, time.Time{}
}

// RetryAt returns the time before which the server should be left alone;
// the zero time when it answers.
func (o *Outage) RetryAt() time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.retryAt
}

// Sleep waits for d, and reports whether ctx is still live.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
