package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/egress"
	"github.com/intake-dev/intake/internal/redact"
)

// userAgent is sent unless the config sets User-Agent.
const userAgent = "intake-api-source/1"

// maxRetryAfter bounds a server's Retry-After.
const maxRetryAfter = 24 * time.Hour

// errRedirect marks a redirect the source refuses to follow.
var errRedirect = errors.New("redirect refused")

// fetch requests u, retrying 429 and 5xx answers up to MaxAttempts times
// with backoff that honours Retry-After, and returns a 2xx response with
// the cancel function of its context, which the caller must call (by
// closing the body wrapper) when done with it.
func (s *Source) fetch(ctx context.Context, cfg *config, u *url.URL) (*http.Response, context.CancelFunc, error) {
	client := &http.Client{
		Transport: s.transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			return s.checkRedirect(cfg, req, via)
		},
	}
	where := cfg.Method + " " + redact.Location(u.String())
	for attempt := 1; ; attempt++ {
		reqCtx, cancel := context.WithTimeout(ctx, cfg.timeout)
		req, err := s.newRequest(reqCtx, cfg, u)
		if err != nil {
			cancel()
			return nil, nil, intake.Permanent(fmt.Errorf("api source: %s: build request: %w", where, err))
		}
		resp, err := client.Do(req)
		if err != nil {
			cancel()
			return nil, nil, s.classifyTransport(ctx, where, cfg.timeout, err)
		}
		code := resp.StatusCode
		switch {
		case code >= 200 && code < 300:
			return resp, cancel, nil
		case code == http.StatusTooManyRequests || code >= 500:
		default:
			discard(resp)
			cancel()
			return nil, nil, intake.Permanent(fmt.Errorf("api source: %s: HTTP %s", where, statusText(code)))
		}

		wait, hinted := retryAfter(resp.Header.Get("Retry-After"), time.Now())
		discard(resp)
		cancel()
		if !hinted {
			wait = s.backoff(attempt)
		}
		failure := fmt.Errorf("api source: %s: HTTP %s", where, statusText(code))
		if wait > s.opts.MaxRetryWait {
			return nil, nil, &intake.RetryAfterError{After: wait, Err: failure}
		}
		if attempt >= s.opts.MaxAttempts {
			return nil, nil, fmt.Errorf("%w (after %d attempts)", failure, attempt)
		}
		s.logger.WarnContext(ctx, "api page request will be retried", "url", redact.Location(u.String()), "status", code,
			"attempt", attempt, "wait", wait)
		if err := sleep(ctx, wait); err != nil {
			return nil, nil, fmt.Errorf("api source: %s: waiting to retry: %w", where, err)
		}
	}
}

// newRequest builds the request for u with the config's method, headers,
// body and the secrets that may be sent to u's host.
func (s *Source) newRequest(ctx context.Context, cfg *config, u *url.URL) (*http.Request, error) {
	var body io.Reader
	if cfg.Method == http.MethodPost && cfg.body != nil {
		body = bytes.NewReader(cfg.body)
	}
	req, err := http.NewRequestWithContext(ctx, cfg.Method, u.String(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range cfg.Headers {
		req.Header.Set(k, v)
	}
	s.setSecrets(cfg, req)
	return req, nil
}

// checkRedirect caps redirects, refuses schemes other than http and https
// and hosts the egress policy refuses, and re-applies the secret headers
// for the new host. The dial of the new host is checked again anyway.
func (s *Source) checkRedirect(cfg *config, req *http.Request, via []*http.Request) error {
	if len(via) > s.opts.MaxRedirects {
		return fmt.Errorf("more than %d redirects: %w", s.opts.MaxRedirects, errRedirect)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return fmt.Errorf("redirect to scheme %q: %w", req.URL.Scheme, errRedirect)
	}
	if req.URL.User != nil {
		return fmt.Errorf("redirect to a URL with credentials: %w", errRedirect)
	}
	if _, err := s.policy.CheckHost(req.URL.Hostname()); err != nil {
		return fmt.Errorf("redirect to %s: %w", redact.Location(req.URL.String()), err)
	}
	s.setSecrets(cfg, req)
	return nil
}

// classifyTransport turns a client error into the source's error: egress
// refusals and refused redirects are permanent; timeouts and network
// failures are transient. The URL's query never appears in it. Neither do
// the addresses a host name resolved to, the policy's blocks or the
// resolver's address, which tell a client how internal names resolve:
// the error says what happened, and the log keeps the detail.
func (s *Source) classifyTransport(ctx context.Context, where string, timeout time.Duration, err error) error {
	inner := unwrapURLError(err)
	var (
		dnsErr *net.DNSError
		opErr  *net.OpError
	)
	switch {
	case errors.Is(err, egress.ErrRefused):
		s.logger.WarnContext(ctx, "api source: refused by the egress policy", "request", where, "detail", inner.Error())
		return intake.Permanent(fmt.Errorf("api source: %s: %w", where, egress.ErrRefused))
	case errors.Is(err, errRedirect):
		return intake.Permanent(fmt.Errorf("api source: %s: %w", where, inner))
	case ctx.Err() != nil:
		return fmt.Errorf("api source: %s: %w", where, context.Cause(ctx))
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("api source: %s: timed out after %s", where, timeout)
	case errors.As(err, &dnsErr):
		s.logger.WarnContext(ctx, "api source: host name not resolved", "request", where, "detail", inner.Error())
		if dnsErr.IsNotFound {
			return fmt.Errorf("api source: %s: host %s could not be resolved", where, dnsErr.Name)
		}
		return fmt.Errorf("api source: %s: the DNS lookup of %s failed", where, dnsErr.Name)
	case errors.As(err, &opErr):
		s.logger.WarnContext(ctx, "api source: connection failed", "request", where, "detail", inner.Error())
		cause := "network error"
		if opErr.Err != nil {
			cause = opErr.Err.Error()
		}
		return fmt.Errorf("api source: %s: connection failed: %s", where, cause)
	default:
		return fmt.Errorf("api source: %s: %w", where, inner)
	}
}

// unwrapURLError strips the *url.Error around err, whose message carries
// the whole URL, query included.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// statusText returns "404 Not Found" for 404.
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

// discard drains a little of an unwanted body, so the connection may be
// reused, and closes it.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// retryAfter parses a Retry-After value: delay-seconds or an HTTP-date. It
// reports false when there is none or it is malformed.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(0, t.Sub(now)), maxRetryAfter), true
}

// backoff returns the wait before attempt+1 when the server gave no
// Retry-After: RetryBaseDelay×2^(attempt-1), jittered by up to half,
// capped at MaxRetryWait.
func (s *Source) backoff(attempt int) time.Duration {
	d := s.opts.RetryBaseDelay << min(attempt-1, 20)
	d = min(d, s.opts.MaxRetryWait)
	return d/2 + rand.N(d/2+1) //nolint:gosec // jitter needs no cryptographic randomness
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// cappedBody is a response body that fails permanently once more than
// limit bytes have been read, and cancels the request's context on Close.
type cappedBody struct {
	rc     io.ReadCloser
	limit  int64
	n      int64
	cancel context.CancelFunc
	url    string
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.n > b.limit {
		return 0, b.tooLarge()
	}
	if room := b.limit + 1 - b.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if b.n > b.limit {
		return n - int(b.n-b.limit), b.tooLarge()
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("read response from %s: %w", b.url, unwrapURLError(err))
	}
	return n, err
}

func (b *cappedBody) tooLarge() error {
	return intake.Permanent(fmt.Errorf("response from %s exceeds the %d-byte limit", b.url, b.limit))
}

func (b *cappedBody) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}
