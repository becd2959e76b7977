// Package webhook delivers job events to webhook endpoints, signed per the
// Standard Webhooks specification (https://www.standardwebhooks.com): the
// outbox side of the maintenance loop.
//
// Each pass claims due notifications (Store.ClaimNotifications), POSTs
// every event the job's Notify wants through a client that enforces the
// egress policy, logs each attempt (Store.RecordDelivery) and settles the
// claim: delivered when every event got a 2xx, else due again after an
// exponential backoff, until MaxAttempts, when it gives up. Every attempt
// of a notification resends all its events with the same webhook-id, so
// receivers deduplicate by it. Redirects are not followed.
package webhook

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/egress"
	"github.com/intake-dev/intake/internal/redact"
)

// Defaults of Config.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 15
	DefaultClaimTTL    = time.Minute
	DefaultBatch       = 16
	DefaultBackoffBase = 5 * time.Second
	DefaultBackoffMax  = time.Hour
	// concurrency is how many notifications a pass delivers at once.
	concurrency = 4
	// maxErrorBody is how much of an endpoint's answer is read.
	maxErrorBody = 4 << 10
)

// Config configures a Deliverer. Zero fields take the documented defaults.
type Config struct {
	// Timeout bounds each POST, connection included. Default 10s.
	Timeout time.Duration
	// MaxAttempts is how many times a notification is attempted before
	// the Deliverer gives up on it. Default 15.
	MaxAttempts int
	// ClaimTTL is how long a claim holds a notification; one that is not
	// settled by then (the deliverer crashed) is claimed again. Default 1m.
	ClaimTTL time.Duration
	// Batch is how many notifications one pass claims. Default 16.
	Batch int
	// BackoffBase and BackoffMax bound the wait before a notification is
	// attempted again: BackoffBase×2^(failed attempts), at most BackoffMax,
	// of which a random half is taken off. Defaults 5s and 1h.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// AllowUnsigned lets a Notify without Secret be delivered unsigned.
	AllowUnsigned bool
	// Secrets are the signing secrets Notify.Secret names, by upper-case
	// name (INTAKE_SECRET_<NAME>).
	Secrets map[string]Secret
	// Policy is the egress policy of the endpoints (the api source's);
	// Resolver resolves their names (net.DefaultResolver when nil).
	Policy   *egress.Policy
	Resolver egress.Resolver
	// Clock returns the current time: the attempts' timestamps and the
	// backoff are read from it. Default time.Now.
	Clock func() time.Time
}

// Secret is a signing secret and the hosts it may sign requests for.
type Secret struct {
	Value string
	Hosts []string
}

func (c Config) withDefaults() (Config, error) {
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.MaxAttempts = cmp.Or(c.MaxAttempts, DefaultMaxAttempts)
	c.ClaimTTL = cmp.Or(c.ClaimTTL, DefaultClaimTTL)
	c.Batch = cmp.Or(c.Batch, DefaultBatch)
	c.BackoffBase = cmp.Or(c.BackoffBase, DefaultBackoffBase)
	c.BackoffMax = cmp.Or(c.BackoffMax, DefaultBackoffMax)
	if c.Clock == nil {
		c.Clock = time.Now
	}
	switch {
	case c.Timeout < 0 || c.ClaimTTL < 0 || c.BackoffBase < 0:
		return c, intake.Errorf(intake.EINVALID, "webhook timeout, claim TTL and backoff must be positive")
	case c.MaxAttempts < 1:
		return c, intake.Errorf(intake.EINVALID, "webhook max attempts must be at least 1, got %d", c.MaxAttempts)
	case c.Batch < 1 || c.Batch > intake.MaxPageSize:
		return c, intake.Errorf(intake.EINVALID, "webhook batch must be in [1, %d], got %d", intake.MaxPageSize, c.Batch)
	case c.BackoffMax < c.BackoffBase:
		return c, intake.Errorf(intake.EINVALID, "webhook backoff max %s is below its base %s", c.BackoffMax, c.BackoffBase)
	case c.Policy == nil:
		return c, intake.Errorf(intake.EINVALID, "webhook deliverer: an egress policy is required")
	}
	return c, nil
}

// Deliverer delivers the store's due notifications. Several replicas may
// run it at once: claims keep them apart.
type Deliverer struct {
	cfg     Config
	store   intake.Store
	client  *http.Client
	secrets map[string]Secret
	logger  *slog.Logger
	metrics *metrics
}

// New returns a Deliverer whose metrics are registered on reg (nil
// registers nothing).
func New(cfg Config, store intake.Store, logger *slog.Logger, reg prometheus.Registerer) (*Deliverer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("new webhook deliverer: %w", err)
	}
	if store == nil || logger == nil {
		return nil, intake.Errorf(intake.EINVALID, "new webhook deliverer: store and logger are required")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("new webhook deliverer: %w", err)
	}
	secrets := make(map[string]Secret, len(cfg.Secrets))
	for name, s := range cfg.Secrets {
		secrets[strings.ToUpper(name)] = s
	}
	client := &http.Client{
		Transport: egress.NewTransport(egress.NewDialer(cfg.Policy, cfg.Resolver, cfg.Timeout)),
		Timeout:   cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 3xx is an answer, not a 2xx
		},
	}
	return &Deliverer{cfg: cfg, store: store, client: client, secrets: secrets,
		logger: logger.With("component", "webhook"), metrics: m}, nil
}

// Close closes the idle connections of the Deliverer's client.
func (d *Deliverer) Close() error {
	d.client.CloseIdleConnections()
	return nil
}

// DeliverDue claims up to Batch due notifications, delivers them a few at
// a time and settles each. It returns how many it settled; a failed
// notification is logged and left for its claim to lapse.
func (d *Deliverer) DeliverDue(ctx context.Context) (int, error) {
	claims, err := d.store.ClaimNotifications(ctx, d.cfg.ClaimTTL, d.cfg.Batch)
	if err != nil {
		return 0, fmt.Errorf("claim notifications: %w", err)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		settled int
		sem     = make(chan struct{}, concurrency)
	)
	for _, c := range claims {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ok, err := d.deliver(ctx, c)
			if err != nil {
				d.logger.ErrorContext(ctx, "deliver notification", "job_id", c.Job.ID, "err", err)
			}
			if ok {
				mu.Lock()
				settled++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return settled, nil
}

// deliver sends a claimed notification's events and settles the claim. It
// works no longer than the claim holds.
func (d *Deliverer) deliver(ctx context.Context, c *intake.NotifyClaim) (bool, error) {
	job := c.Job
	ctx, cancel := context.WithTimeout(ctx, c.Until.Sub(d.cfg.Clock()))
	defer cancel()
	var changes *intake.ChangeCounts
	if job.Status == intake.StatusCompleted && job.PreviousJobID != "" {
		var err error
		if changes, err = d.store.ChangeCounts(ctx, job.ID); err != nil {
			return false, fmt.Errorf("count changes: %w", err)
		}
	}
	attempt := job.NotifyAttempts + 1
	last := attempt >= d.cfg.MaxAttempts
	allOK := true
	for _, e := range Events(job, changes) {
		del := d.attempt(ctx, job, e, changes, attempt)
		if ctx.Err() != nil {
			return false, fmt.Errorf("deliver %s: %w", e, context.Cause(ctx))
		}
		outcome := "ok"
		switch {
		case !del.OK && last:
			outcome = "gave_up"
			del.Error += fmt.Sprintf("; gave up after %d attempts", attempt)
			d.logger.WarnContext(ctx, "webhook delivery gave up", "job_id", job.ID, "event", e, "attempts", attempt, "err", del.Error)
		case !del.OK:
			outcome = "error"
		}
		allOK = allOK && del.OK
		d.metrics.deliveries.WithLabelValues(string(e), outcome).Inc()
		if err := d.store.RecordDelivery(ctx, del); err != nil {
			d.logger.WarnContext(ctx, "record webhook delivery", "job_id", job.ID, "event", e, "err", err)
		}
	}
	var next time.Time
	if !allOK && !last {
		next = d.cfg.Clock().Add(d.backoff(job.NotifyAttempts))
	}
	ok, err := d.store.SettleNotification(ctx, job.ID, c.Until, next)
	if err != nil {
		return false, fmt.Errorf("settle notification: %w", err)
	}
	if !ok {
		d.logger.WarnContext(ctx, "notification claim lapsed before it was settled", "job_id", job.ID)
	}
	return ok, nil
}

// attempt POSTs one event and returns its delivery log entry.
func (d *Deliverer) attempt(ctx context.Context, job *intake.Job, e intake.Event, changes *intake.ChangeCounts, attempt int) *intake.Delivery {
	at := d.cfg.Clock()
	del := &intake.Delivery{
		JobID:       job.ID,
		MessageID:   MessageID(job.ID, e),
		Event:       e,
		URL:         redact.Location(job.Notify.URL),
		Attempt:     attempt,
		AttemptedAt: at,
	}
	start := time.Now()
	status, err := d.post(ctx, job, e, changes, del.MessageID, at)
	elapsed := time.Since(start)
	d.metrics.duration.Observe(elapsed.Seconds())
	del.DurationMS = elapsed.Milliseconds()
	del.StatusCode = status
	del.OK = err == nil
	if err != nil {
		del.Error = err.Error()
	}
	return del
}

// post signs and sends one event, returning the endpoint's status.
func (d *Deliverer) post(ctx context.Context, job *intake.Job, e intake.Event, changes *intake.ChangeCounts, id string, at time.Time) (int, error) {
	u, err := CheckURL(d.cfg.Policy, job.Notify.URL)
	if err != nil {
		return 0, err
	}
	key, err := d.key(job.Notify, u.Hostname())
	if err != nil {
		return 0, err
	}
	body, err := Body(job, e, changes, at)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(string(body)))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "intake-webhook")
	SetHeaders(req.Header, key, id, at, body)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, d.classify(ctx, job.ID, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("endpoint answered HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// key returns the signing key of n for a request to host: nil when n has
// no secret and unsigned deliveries are allowed.
func (d *Deliverer) key(n *intake.Notify, host string) ([]byte, error) {
	if n.Secret == "" {
		if d.cfg.AllowUnsigned {
			return nil, nil
		}
		return nil, errors.New("notify has no secret and unsigned deliveries are not allowed (INTAKE_WEBHOOK_ALLOW_UNSIGNED)")
	}
	name := strings.ToUpper(n.Secret)
	sec, ok := d.secrets[name]
	switch {
	case !ok:
		return nil, fmt.Errorf("secret %s is not configured (INTAKE_SECRET_%s)", name, name)
	case !egress.HostMatches(sec.Hosts, host):
		return nil, fmt.Errorf("secret %s may not sign requests to %s (INTAKE_SECRET_%s_HOSTS)", name, host, name)
	}
	key, err := Key(sec.Value)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return key, nil
}

// classify says why a POST got no answer, without the addresses a name
// resolved to (the delivery log is shown to clients); the log keeps them.
func (d *Deliverer) classify(ctx context.Context, jobID string, err error) error {
	var (
		dnsErr *net.DNSError
		opErr  *net.OpError
	)
	d.logger.WarnContext(ctx, "webhook endpoint not reached", "job_id", jobID, "detail", err.Error())
	switch {
	case errors.Is(err, egress.ErrRefused):
		return fmt.Errorf("endpoint %w", egress.ErrRefused)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Errorf("no answer within %s", d.cfg.Timeout)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("host %s could not be resolved", dnsErr.Name)
	case errors.As(err, &opErr) && opErr.Err != nil:
		return fmt.Errorf("connection failed: %s", lastCause(opErr.Err))
	}
	return errors.New("connection failed")
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// lastCause returns the innermost message of err ("connection refused").
func lastCause(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// backoff returns the wait after failed attempts: BackoffBase×2^attempts
// capped at BackoffMax, less a random part of up to half of it.
func (d *Deliverer) backoff(attempts int) time.Duration {
	return Backoff(d.cfg.BackoffBase, d.cfg.BackoffMax, attempts, rand.N[int64])
}

// Backoff returns min(max, base×2^attempts) less randN(half of it + 1):
// "equal jitter", so that a retry never comes sooner than half the
// nominal wait.
func Backoff(base, maxWait time.Duration, attempts int, randN func(int64) int64) time.Duration {
	d := maxWait
	if attempts < 62 {
		if v := base << attempts; v > 0 && v>>attempts == base && v < maxWait {
			d = v
		}
	}
	if d <= 0 {
		return 0
	}
	half := int64(d / 2)
	return d - time.Duration(randN(half+1))
}

// CheckURL parses a webhook URL and checks it: absolute http or https, no
// credentials, a port in range and a host the egress policy does not
// refuse outright (the address dialled is checked again).
func CheckURL(p *egress.Policy, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || strings.ContainsFunc(raw, func(r rune) bool { return r <= 0x20 || r == 0x7f }):
		return nil, errors.New("webhook URL must be an absolute http or https URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, errors.New("webhook URL must use http or https")
	case u.Opaque != "" || u.Host == "":
		return nil, errors.New("webhook URL must be absolute, with a host")
	case u.User != nil:
		return nil, errors.New("webhook URL must not contain credentials")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, errors.New("webhook URL has an invalid port")
		}
	}
	if _, err := p.CheckHost(u.Hostname()); err != nil {
		return nil, fmt.Errorf("webhook URL: %w", err)
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}
