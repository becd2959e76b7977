// Package pgnotify is an optional dispatcher for PostgreSQL deployments: it
// carries "a job became pending" hints between processes with LISTEN and
// NOTIFY, so that no other server is needed for fast pickup.
//
// One dedicated connection per process LISTENs on a channel; every
// notification on it wakes every Wait of the process at once, as the
// polling dispatcher does within a process. Notify runs pg_notify on a
// small pool. PostgreSQL delivers a notification to every listening
// session, so a notification wakes the idle workers of every process (the
// broadcast fan-out rule of intake.Dispatcher), and the store's claim
// decides which of them gets the job.
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
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/dispatch/poll"
	"github.com/intake-dev/intake/internal/dispatch/remote"
	"github.com/intake-dev/intake/internal/redact"
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
	// maxBackoff caps the wait between reconnection attempts (see
	// remote.Outage).
	maxBackoff = 10 * time.Second
	// stableAfter is how long a connection must have lasted for the
	// backoff to start again from remote.MinBackoff when it is lost.
	stableAfter = time.Minute
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

	// outage paces the listener's reconnections and logs them.
	outage *remote.Outage
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
	if err := remote.CheckURL("pgnotify", cfg.URL, "postgres://user@host:5432/db", "postgres", "postgresql"); err != nil {
		return nil, err
	}
	poolCfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, intake.WrapError(intake.EINVALID, redact.Error(err, cfg.URL), "pgnotify: URL %s is invalid", redact.String(cfg.URL))
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
	logger = logger.With("channel", channel)
	d := &Dispatcher{
		channel:   channel,
		logger:    logger,
		listenCfg: listenCfg,
		done:      make(chan struct{}),
		local:     poll.New(),
		outage:    remote.NewOutage(logger, maxBackoff, "pgnotify: listening again"),
	}
	d.pool, err = pgxpool.NewWithConfig(ctx, poolCfg) // connects lazily
	if err != nil {
		return nil, intake.WrapError(intake.EINVALID, redact.Error(err, cfg.URL), "pgnotify: open pool for %s", redact.String(cfg.URL))
	}

	// Listen before returning, so that a Notify right after Open is heard.
	conn, err := d.connect(ctx)
	switch {
	case err == nil:
	case isConfigError(err):
		d.pool.Close()
		return nil, intake.WrapError(intake.EINVALID, redact.Error(err, cfg.URL), "pgnotify: listen on %s", redact.String(cfg.URL))
	case ctx.Err() != nil:
		d.pool.Close()
		return nil, fmt.Errorf("pgnotify: open: %w", ctx.Err())
	default:
		d.outage.Fail(err, cannotListen)
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
		return intake.WrapError(intake.EUNAVAILABLE, redact.Error(err, d.listenCfg.ConnString()), "pgnotify: notify %d job(s)", len(jobIDs))
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
