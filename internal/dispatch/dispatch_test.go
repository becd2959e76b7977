package dispatch_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/dispatch"
)

// TestOpen checks which dispatcher each configuration opens. The servers
// are on a loopback port where nothing listens: Open succeeds without
// them, and the dispatchers fall back to polling.
func TestOpen(t *testing.T) {
	t.Parallel()
	const (
		redisURL = "redis://127.0.0.1:1/0"
		pgURL    = "postgres://intake:s3cretpw@127.0.0.1:1/intake?sslmode=disable"
	)
	tests := []struct {
		name     string
		cfg      dispatch.Config
		wantMode dispatch.Mode
		wantType string // the dispatcher's type; "" for an error
		wantMsg  string // a substring of the EINVALID error
	}{
		{"empty mode is auto", dispatch.Config{}, dispatch.Poll, "*poll.Dispatcher", ""},
		{"auto without Redis polls", dispatch.Config{Mode: dispatch.Auto, DatabaseURL: pgURL}, dispatch.Poll, "*poll.Dispatcher", ""},
		{"auto with Redis", dispatch.Config{Mode: dispatch.Auto, RedisURL: redisURL}, dispatch.Redis, "*redisstream.Dispatcher", ""},
		{"poll despite Redis", dispatch.Config{Mode: dispatch.Poll, RedisURL: redisURL}, dispatch.Poll, "*poll.Dispatcher", ""},
		{"redis", dispatch.Config{Mode: dispatch.Redis, RedisURL: redisURL, RedisStream: "intake:test"}, dispatch.Redis, "*redisstream.Dispatcher", ""},
		{"redis without URL", dispatch.Config{Mode: dispatch.Redis}, dispatch.Redis, "", "URL is empty"},
		{"redis with a bad URL", dispatch.Config{Mode: dispatch.Redis, RedisURL: "http://:s3cretpw@127.0.0.1:1"}, dispatch.Redis, "", "scheme must be redis://"},
		{"pgnotify", dispatch.Config{Mode: dispatch.PGNotify, DatabaseURL: pgURL}, dispatch.PGNotify, "*pgnotify.Dispatcher", ""},
		{"pgnotify on postgresql://", dispatch.Config{Mode: dispatch.PGNotify, DatabaseURL: strings.Replace(pgURL, "postgres:", "postgresql:", 1)}, dispatch.PGNotify, "*pgnotify.Dispatcher", ""},
		{"pgnotify on SQLite", dispatch.Config{Mode: dispatch.PGNotify, DatabaseURL: "sqlite://data/intake.db"}, dispatch.PGNotify, "", "needs a PostgreSQL job store"},
		{"pgnotify on MongoDB", dispatch.Config{Mode: dispatch.PGNotify, DatabaseURL: "mongodb://u:s3cretpw@127.0.0.1:1/intake"}, dispatch.PGNotify, "", "needs a PostgreSQL job store"},
		{"unknown mode", dispatch.Config{Mode: "kafka"}, "kafka", "", `"kafka" is not one of auto, poll, redis or pgnotify`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.cfg.Resolve(); got != tt.wantMode {
				t.Errorf("Resolve() = %q, want %q", got, tt.wantMode)
			}
			d, mode, err := dispatch.Open(t.Context(), tt.cfg)
			if mode != tt.wantMode {
				t.Errorf("Open's mode = %q, want %q", mode, tt.wantMode)
			}
			if tt.wantType == "" {
				if err == nil {
					_ = d.Close()
					t.Fatalf("Open succeeded with %T, want an EINVALID error", d)
				}
				if code := intake.ErrorCode(err); code != intake.EINVALID || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("Open = %v (code %q), want %s containing %q", err, code, intake.EINVALID, tt.wantMsg)
				}
				if strings.Contains(err.Error(), "s3cretpw") {
					t.Errorf("Open's error %q contains the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer func() {
				if err := d.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			if got := fmt.Sprintf("%T", d); got != tt.wantType {
				t.Errorf("Open = %s, want %s", got, tt.wantType)
			}
		})
	}
}

func TestModeDescription(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode dispatch.Mode
		want string
	}{
		{dispatch.Poll, "polling"},
		{dispatch.Redis, "redis streams"},
		{dispatch.PGNotify, "postgres listen/notify"},
	}
	for _, tt := range tests {
		if got := tt.mode.Description(); got != tt.want {
			t.Errorf("%q.Description() = %q, want %q", tt.mode, got, tt.want)
		}
	}
}

// TestModeValid checks that Valid accepts exactly the modes that Modes
// names, which config checks INTAKE_DISPATCH against.
func TestModeValid(t *testing.T) {
	t.Parallel()
	for _, m := range []dispatch.Mode{dispatch.Auto, dispatch.Poll, dispatch.Redis, dispatch.PGNotify} {
		if !m.Valid() || !strings.Contains(dispatch.Modes, string(m)) {
			t.Errorf("mode %q: Valid() = %v, Modes %q; want valid and listed", m, m.Valid(), dispatch.Modes)
		}
	}
	for _, m := range []dispatch.Mode{"", "kafka", "Redis", "poll "} {
		if m.Valid() {
			t.Errorf("mode %q is Valid, want not", m)
		}
	}
}
