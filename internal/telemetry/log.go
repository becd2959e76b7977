package telemetry

import (
	"io"
	"log/slog"
	"strings"

	"github.com/intake-dev/intake"
)

// NewLogger returns a logger writing to w at level (debug, info, warn or
// error; empty means info) in format (json or text; empty means json).
// Names are case-insensitive. An unknown value is an EINVALID error that
// names it.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "debug":
		lvl = slog.LevelDebug
	case "info", "":
		lvl = slog.LevelInfo
	case "warn", "warning":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		return nil, intake.Errorf(intake.EINVALID, "unknown log level %q (want debug, info, warn or error)", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(strings.TrimSpace(format)) {
	case "json", "":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, intake.Errorf(intake.EINVALID, "unknown log format %q (want json or text)", format)
	}
}
