package main

import (
	"context"
	"log/slog"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/config"
	"github.com/intake-dev/intake/internal/dispatch"
)

// openDispatcher returns the dispatcher INTAKE_DISPATCH selects and how it
// wakes workers, for the start-up log.
func openDispatcher(ctx context.Context, cfg *config.Config, logger *slog.Logger) (intake.Dispatcher, string, error) {
	d, mode, err := dispatch.Open(ctx, dispatch.Config{
		Mode:        dispatch.Mode(cfg.Dispatch.Mode),
		RedisURL:    cfg.Dispatch.RedisURL,
		RedisStream: cfg.Dispatch.RedisStream,
		DatabaseURL: cfg.StoreURL(),
		Logger:      logger,
	})
	if err != nil {
		variable := "INTAKE_DISPATCH"
		if mode == dispatch.Redis {
			variable = "INTAKE_REDIS_URL"
		}
		return nil, "", openError(variable, err)
	}
	return d, mode.Description(), nil
}
