// Package dispatch opens the intake.Dispatcher that a mode names, the way
// store.Open and blob.Open open theirs by URL scheme. Each implementation
// lives in a subpackage (poll, redisstream, pgnotify) and passes the
// conformance suite in dispatchtest; remote holds what those that talk to a
// server share.
package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/dispatch/pgnotify"
	"github.com/intake-dev/intake/internal/dispatch/poll"
	"github.com/intake-dev/intake/internal/dispatch/redisstream"
)

// Mode names a dispatcher.
type Mode string

// The modes that Config.Mode accepts.
const (
	// Auto is Redis when Config.RedisURL is set, else Poll.
	Auto Mode = "auto"
	// Poll wakes the workers of one process only (poll).
	Poll Mode = "poll"
	// Redis carries notifications between processes over Redis Streams
	// (redisstream).
	Redis Mode = "redis"
	// PGNotify carries them with PostgreSQL's LISTEN/NOTIFY on the job
	// store's database (pgnotify).
	PGNotify Mode = "pgnotify"
)

// Modes lists the accepted modes, for error messages.
const Modes = "auto, poll, redis or pgnotify"

// Valid reports whether m is one of the modes that Modes lists. The empty
// mode, which Open takes for Auto, is not.
func (m Mode) Valid() bool {
	switch m {
	case Auto, Poll, Redis, PGNotify:
		return true
	}
	return false
}

// Description says how m wakes workers, for the start-up log.
func (m Mode) Description() string {
	switch m {
	case Redis:
		return "redis streams"
	case PGNotify:
		return "postgres listen/notify"
	case Poll:
		return "polling"
	}
	return string(m)
}

// Config configures the dispatcher that Open returns.
type Config struct {
	// Mode picks the dispatcher; Auto when empty.
	Mode Mode
	// RedisURL is the Redis server of Redis mode (redis:// or rediss://).
	RedisURL string
	// RedisStream is the stream of Redis mode;
	// redisstream.DefaultStream when empty.
	RedisStream string
	// DatabaseURL is the job store's URL: PGNotify mode listens on that
	// database, and so needs a PostgreSQL store.
	DatabaseURL string
	// Logger receives the dispatcher's warnings, and go-redis's own
	// messages at debug level; discarded when nil.
	Logger *slog.Logger
}

// Resolve returns the mode that cfg selects: Auto resolved, and the empty
// mode taken for Auto.
func (cfg Config) Resolve() Mode {
	switch cfg.Mode {
	case "", Auto:
		if cfg.RedisURL != "" {
			return Redis
		}
		return Poll
	}
	return cfg.Mode
}

// Open returns the dispatcher that cfg selects and the mode it resolved
// to (also with an error, so that callers can tell which setting was
// wrong). Every mode is only a hint: workers poll the store regardless. A
// server that cannot be reached is not an error (the dispatcher falls back
// to polling until it answers); an unknown mode, a missing or malformed
// URL, and PGNotify without a PostgreSQL store are EINVALID errors.
func Open(ctx context.Context, cfg Config) (intake.Dispatcher, Mode, error) {
	mode := cfg.Resolve()
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch mode {
	case Poll:
		return poll.New(), mode, nil
	case Redis:
		routeRedisLogs(logger)
		d, err := redisstream.Open(ctx, redisstream.Config{URL: cfg.RedisURL, Stream: cfg.RedisStream, Logger: logger})
		if err != nil {
			return nil, mode, err
		}
		return d, mode, nil
	case PGNotify:
		scheme, _, _ := strings.Cut(cfg.DatabaseURL, "://")
		if scheme != "postgres" && scheme != "postgresql" {
			return nil, mode, intake.Errorf(intake.EINVALID, "pgnotify needs a PostgreSQL job store (a postgres:// database URL)")
		}
		d, err := pgnotify.Open(ctx, pgnotify.Config{URL: cfg.DatabaseURL, Logger: logger})
		if err != nil {
			return nil, mode, err
		}
		return d, mode, nil
	}
	return nil, mode, intake.Errorf(intake.EINVALID, "dispatch mode %q is not one of %s", string(mode), Modes)
}

var redisLogOnce sync.Once

// routeRedisLogs sends go-redis's own messages (it logs through a package
// global) to logger at debug level instead of stderr: the dispatcher
// already reports outages, once per interval. The first Redis dispatcher
// of the process picks the logger.
func routeRedisLogs(logger *slog.Logger) {
	redisLogOnce.Do(func() { redis.SetLogger(redisLogger{logger}) })
}

type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
