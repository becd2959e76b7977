package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/config"
	"github.com/intake-dev/intake/internal/dispatch/pgnotify"
	"github.com/intake-dev/intake/internal/dispatch/poll"
	"github.com/intake-dev/intake/internal/dispatch/redisstream"
)

// openDispatcher returns the dispatcher INTAKE_DISPATCH selects. Every mode
// is only a hint: workers poll the store regardless.
func openDispatcher(ctx context.Context, cfg *config.Config, logger *slog.Logger) (intake.Dispatcher, string, error) {
	mode := cfg.Dispatch.Mode
	if mode == "auto" {
		mode = "poll"
		if cfg.Dispatch.RedisURL != "" {
			mode = "redis"
		}
	}
	switch mode {
	case "redis":
		routeRedisLogs(logger)
		d, err := redisstream.Open(ctx, redisstream.Config{URL: cfg.Dispatch.RedisURL, Stream: cfg.Dispatch.RedisStream, Logger: logger})
		if err != nil {
			return nil, "", openError("INTAKE_REDIS_URL", err)
		}
		return d, "redis streams", nil
	case "pgnotify":
		u := cfg.StoreURL()
		if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
			return nil, "", usageError("INTAKE_DISPATCH: pgnotify needs a PostgreSQL job store (INTAKE_DATABASE_URL=postgres://…)")
		}
		d, err := pgnotify.Open(ctx, pgnotify.Config{URL: u, Logger: logger})
		if err != nil {
			return nil, "", openError("INTAKE_DISPATCH", err)
		}
		return d, "postgres listen/notify", nil
	default:
		return poll.New(), "polling", nil
	}
}

var redisLogOnce sync.Once

// routeRedisLogs sends go-redis's own messages (it logs through a package
// global) to the process logger at debug level instead of stderr: the
// dispatcher already reports outages once per interval.
func routeRedisLogs(logger *slog.Logger) {
	redisLogOnce.Do(func() { redis.SetLogger(redisLogger{logger}) })
}

type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
