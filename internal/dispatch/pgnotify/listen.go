package pgnotify

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/intake-dev/intake/internal/dispatch/remote"
)

// Warnings of the listener; remote.Outage logs at most one per
// remote.WarnEvery.
const (
	cannotListen   = "pgnotify: cannot listen; workers poll the store until PostgreSQL answers"
	lostConnection = "pgnotify: lost the listening connection; reconnecting"
)

// run is the listener: it waits for notifications on conn and broadcasts
// them, and replaces conn, with backoff, when it fails. conn is nil when
// Open could not connect. run returns when ctx is done.
func (d *Dispatcher) run(ctx context.Context, conn *pgx.Conn) {
	defer close(d.done)
	wait := time.Duration(0)
	if conn == nil {
		wait = time.Until(d.outage.RetryAt())
	}
	for {
		if conn == nil {
			if !remote.Sleep(ctx, wait) {
				return
			}
			var err error
			if conn, err = d.connect(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				wait = d.outage.Fail(err, cannotListen)
				continue
			}
			d.outage.Recovered()
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
			d.outage.Reset()
		}
		wait = d.outage.Fail(err, lostConnection)
	}
}

// connect opens the listening connection and runs LISTEN on it.
func (d *Dispatcher) connect(ctx context.Context) (*pgx.Conn, error) {
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

// isConfigError reports whether PostgreSQL refused the connection for a
// reason that retrying cannot fix: failed authentication (class 28) or a
// database that does not exist (3D000).
func isConfigError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "28") || pgErr.Code == "3D000")
}
