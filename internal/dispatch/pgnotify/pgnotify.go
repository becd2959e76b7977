// Package pgnotify is an optional dispatcher for PostgreSQL deployments: it
// carries "a job became pending" hints between processes with LISTEN and
// NOTIFY, so that no other server is needed for fast pickup.
//
// One dedicated connection per process LISTENs on a channel; every
// notification on it wakes every Wait of the process at once, as the
// polling dispatcher does within a process. Notify runs pg_notify on a
// small pool. PostgreSQL delivers a notification to every listening
// session, so a notification wakes the idle workers of every process, and
// the store's claim decides which of them gets the job.
//
// The store stays the source of truth: a lost notification costs latency,
// never a job. After the listening connection is lost, the Dispatcher
// reconnects with backoff and, once listening again, wakes every waiter,
// since notifications sent meanwhile are gone. Wait never fails and never
// returns early during an outage, so a worker loop never spins. The
// listener needs a session of its own: LISTEN does not work through a
// pooler in transaction mode (PgBouncer), so point URL at PostgreSQL or at
// a session-mode pool.
package pgnotify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/dispatch/poll"
)

// DefaultChannel is the channel that Config.Channel defaults to.
const DefaultChannel = "intake_pending"

const (
	// opTimeout bounds Notify and the listener's health checks.
	opTimeout = 2 * time.Second
	// connectTimeout bounds a connection attempt unless the URL sets
	// connect_timeout.
	connectTimeout = 5 * time.Second
	// healthEvery is how long the listener waits for a notification before
	// it pings its connection, to notice one that died silently.
	healthEvery = 30 * time.Second
	// minBackoff and maxBackoff bound the wait between reconnection
	// attempts; the backoff doubles while they fail.
	minBackoff = 250 * time.Millisecond
	maxBackoff = 10 * time.Second
	// stableAfter is how long a connection must have lasted for the
	// backoff to start again from minBackoff when it is lost.
	stableAfter = time.Minute
	// warnEvery is the least time between two warnings about one outage.
	warnEvery = 30 * time.Second
	// maxPayload is the most bytes of job IDs a notification carries;
	// PostgreSQL refuses payloads of 8000 bytes or more.
	maxPayload = 7900
	// maxChannel is PostgreSQL's identifier length limit (NAMEDATALEN-1).
	maxChannel = 63
)

// Config configures a Dispatcher.
type Config struct {
	// URL names the database: postgres://user:password@host:port/db?…
	// (or postgresql://), as for the PostgreSQL store. The password is
	// never logged nor put in an error.
	URL string
	// Channel is the notification channel; DefaultChannel when empty. At
	// most 63 bytes; it is case-sensitive.
	Channel string
	// Logger receives warnings about lost connections; discarded when nil.
	Logger *slog.Logger
}

// Dispatcher is an intake.Dispatcher over PostgreSQL's LISTEN/NOTIFY. It is
// safe for concurrent use.
type Dispatcher struct {
	channel   string
	logger    *slog.Logger
	pool      *pgxpool.Pool
	listenCfg *pgx.ConnConfig

	cancel context.CancelFunc // stops the listener
	done   chan struct{}      // closed when the listener has stopped

	mu     sync.Mutex
	local  *poll.Dispatcher // wakes this process's waiters on every notification
	closed bool

	// connects counts the listener's connection attempts.
	connects atomic.Int64
	// Outage logging, owned by the listener goroutine after Open.
	failing    bool
	lastWarn   time.Time
	suppressed int
}

var _ intake.Dispatcher = (*Dispatcher)(nil)

// Open checks cfg, opens the pool for Notify, and starts listening. A
// server that cannot be reached is not an error: Open logs a warning and
// returns a Dispatcher whose listener keeps reconnecting with backoff. An
// invalid URL or channel, failed authentication and a missing database are
// EINVALID errors.
func Open(ctx context.Context, cfg Config) (*Dispatcher, error) {
	channel := cmp.Or(cfg.Channel, DefaultChannel)
	if len(channel) > maxChannel {
		return nil, intake.Errorf(intake.EINVALID, "pgnotify: channel %q is longer than %d bytes", channel, maxChannel)
	}
	if err := checkURL(cfg.URL); err != nil {
		return nil, err
	}
	poolCfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// pgconn redacts the password in its parse errors.
		return nil, intake.WrapError(intake.EINVALID, err, "pgnotify: URL %s is invalid", Redact(cfg.URL))
	}
	poolCfg.MaxConns = 2
	poolCfg.MinConns = 0
	setDefaults(poolCfg.ConnConfig, "intake-notify")
	listenCfg := poolCfg.ConnConfig.Copy()
	// The listener has an application_name of its own, so that operators
	// (and tests) can find its backend in pg_stat_activity.
	listenCfg.RuntimeParams["application_name"] = ListenerName(channel)

	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		channel:   channel,
		logger:    logger.With("channel", channel),
		listenCfg: listenCfg,
		done:      make(chan struct{}),
		local:     poll.New(),
	}
	d.pool, err = pgxpool.NewWithConfig(ctx, poolCfg) // connects lazily
	if err != nil {
		return nil, intake.WrapError(intake.EINVALID, err, "pgnotify: open pool for %s", Redact(cfg.URL))
	}

	// Listen before returning, so that a Notify right after Open is heard.
	conn, err := d.connect(ctx)
	switch {
	case err == nil:
	case isConfigError(err):
		d.pool.Close()
		return nil, intake.WrapError(intake.EINVALID, err, "pgnotify: listen on %s", Redact(cfg.URL))
	case ctx.Err() != nil:
		d.pool.Close()
		return nil, fmt.Errorf("pgnotify: open: %w", ctx.Err())
	default:
		d.warn(err, "pgnotify: cannot listen; workers poll the store until PostgreSQL answers")
	}
	d.start(conn)
	return d, nil
}

// start starts the listener with conn, which may be nil. The listener
// lives as long as the Dispatcher, not as Open's context: Close stops it.
func (d *Dispatcher) start(conn *pgx.Conn) {
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	go d.run(ctx, conn)
}

// ListenerName returns the application_name of the listening connection of
// a Dispatcher on channel, truncated as PostgreSQL truncates it.
func ListenerName(channel string) string {
	name := "intake-listen:" + channel
	if len(name) > maxChannel {
		name = name[:maxChannel]
	}
	return name
}

// checkURL accepts postgres:// and postgresql:// URLs only: the keyword/value
// form would make redaction guesswork.
func checkURL(rawURL string) error {
	if strings.TrimSpace(rawURL) == "" {
		return intake.Errorf(intake.EINVALID, "pgnotify: URL is empty; use postgres://user@host:5432/db")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return intake.Errorf(intake.EINVALID, "pgnotify: URL %s is invalid: %v", Redact(rawURL), err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return intake.Errorf(intake.EINVALID, "pgnotify: URL %s: scheme must be postgres:// or postgresql://", Redact(rawURL))
	}
	return nil
}

// setDefaults sets a connect timeout and an application_name unless the URL
// sets them.
func setDefaults(cfg *pgx.ConnConfig, appName string) {
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = appName
	}
}

// Notify sends one notification carrying the job IDs (as many as fit in a
// payload, comma-separated: they are for people reading the channel, not
// for the waiters). Errors are EUNAVAILABLE; callers log them, and the
// workers find the jobs when they next poll. After Close it does nothing.
func (d *Dispatcher) Notify(ctx context.Context, jobIDs ...string) error {
	if len(jobIDs) == 0 {
		return nil
	}
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if _, err := d.pool.Exec(ctx, "SELECT pg_notify($1, $2)", d.channel, payload(jobIDs)); err != nil {
		return intake.WrapError(intake.EUNAVAILABLE, err, "pgnotify: notify %d job(s)", len(jobIDs))
	}
	return nil
}

// payload joins as many job IDs as fit in maxPayload bytes.
func payload(jobIDs []string) string {
	var b strings.Builder
	for _, id := range jobIDs {
		if b.Len()+len(id)+1 > maxPayload {
			break
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(id)
	}
	return b.String()
}

// Wait blocks until the next notification on the channel, until timeout
// elapses, or until ctx is done. A notification sent before Wait starts is
// not remembered: the caller polls the store on timeout anyway. It returns
// ctx's error only, and after Close it still waits out its timeout, so that
// a worker loop never spins.
func (d *Dispatcher) Wait(ctx context.Context, timeout time.Duration) error {
	return d.local.Wait(ctx, timeout)
}

// broadcast wakes every goroutine blocked in Wait.
func (d *Dispatcher) broadcast() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	_ = d.local.Notify(context.Background(), "listen") // never fails
}

// Close stops the listener, closes its connection and the pool. It is
// idempotent.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	<-d.done
	d.pool.Close()
	return nil
}

// run is the listener: it waits for notifications on conn and broadcasts
// them, and replaces conn, with backoff, when it fails. conn is nil when
// Open could not connect. run returns when ctx is done.
func (d *Dispatcher) run(ctx context.Context, conn *pgx.Conn) {
	defer close(d.done)
	backoff := time.Duration(0)
	if conn == nil {
		backoff = minBackoff
	}
	for {
		if conn == nil {
			if !sleepCtx(ctx, backoff) {
				return
			}
			var err error
			if conn, err = d.connect(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				backoff = min(2*backoff, maxBackoff)
				d.warn(err, "pgnotify: cannot listen; workers poll the store until PostgreSQL answers")
				continue
			}
			d.recovered()
			// Notifications sent while nobody listened are lost: wake
			// every waiter, so that it polls the store now.
			d.broadcast()
		}
		up := time.Now()
		err := d.listen(ctx, conn)
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(closeCtx)
		cancel()
		conn = nil
		if ctx.Err() != nil {
			return
		}
		if time.Since(up) >= stableAfter {
			backoff = minBackoff
		} else {
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
		}
		d.warn(err, "pgnotify: lost the listening connection; reconnecting")
	}
}

// connect opens the listening connection and runs LISTEN on it.
func (d *Dispatcher) connect(ctx context.Context) (*pgx.Conn, error) {
	d.connects.Add(1)
	conn, err := pgx.ConnectConfig(ctx, d.listenCfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{d.channel}.Sanitize()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return conn, nil
}

// listen broadcasts every notification that arrives on conn until conn
// fails or ctx is done. After healthEvery without one, it pings conn.
func (d *Dispatcher) listen(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, healthEvery)
		_, err := conn.WaitForNotification(wctx)
		quiet := wctx.Err() != nil && ctx.Err() == nil
		cancel()
		switch {
		case err == nil:
			d.broadcast()
		case ctx.Err() != nil:
			return ctx.Err()
		case quiet && pgconn.Timeout(err):
			pctx, cancel := context.WithTimeout(ctx, opTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// warn logs a warning about a failure, unless one was logged less than
// warnEvery ago, so that a flapping connection cannot flood the logs. Only
// Open and then the listener call it.
func (d *Dispatcher) warn(err error, msg string) {
	now := time.Now()
	if now.Sub(d.lastWarn) < warnEvery {
		d.suppressed++
		return
	}
	d.logger.Warn(msg, "err", err, "suppressed", d.suppressed)
	d.failing, d.lastWarn, d.suppressed = true, now, 0
}

// recovered logs the end of an outage that warn logged a warning about.
func (d *Dispatcher) recovered() {
	if d.failing {
		d.failing = false
		d.logger.Info("pgnotify: listening again")
	}
}

// sleepCtx sleeps for dur and reports whether ctx is still live.
func sleepCtx(ctx context.Context, dur time.Duration) bool {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// isConfigError reports whether PostgreSQL refused the connection for a
// reason that retrying cannot fix: failed authentication (class 28) or a
// database that does not exist (3D000).
func isConfigError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "28") || pgErr.Code == "3D000")
}

// Redact returns rawURL with its password, if any, replaced by xxxxx, for
// logs and errors.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparseable URL)"
	}
	if u.Scheme == "" || u.Opaque != "" {
		return "(not a URL)" // a password could be anywhere in it
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
