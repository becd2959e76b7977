package postgresstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"testing"
	"time"

	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/store/driver"
	"github.com/intake-dev/intake/internal/store/postgresstore"
	"github.com/intake-dev/intake/internal/testenv"
	"github.com/jackc/pgx/v5"
)

// newSchema returns a schema name of the test's own and drops the schema,
// with everything in it, when the test ends. Migrate creates it.
func newSchema(tb testing.TB) string {
	tb.Helper()
	url := testenv.Postgres.URL(tb)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "intake_test_" + hex.EncodeToString(b)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin(tb, ctx, url, `DROP SCHEMA IF EXISTS `+name+` CASCADE`)
	})
	return name
}

// admin runs one statement on a connection of its own, outside any store.
func admin(tb testing.TB, ctx context.Context, url, sql string, args ...any) {
	tb.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Errorf("admin connect: %v", err)
		return
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Errorf("admin %q: %v", sql, err)
	}
}

// openDriver opens a driver with cfg, filling in the test server's URL, a
// fresh schema and a logger of warnings where cfg leaves them empty, and
// closes it when the test ends. It does not migrate.
func openDriver(tb testing.TB, cfg postgresstore.Config) *postgresstore.Driver {
	tb.Helper()
	if cfg.URL == "" {
		cfg.URL = testenv.Postgres.URL(tb)
	}
	if cfg.Schema == "" {
		cfg.Schema = newSchema(tb)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	d, err := postgresstore.Open(tb.Context(), cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = d.Close() })
	return d
}

// open opens and migrates a driver in a fresh schema of its own.
func open(tb testing.TB) driver.Driver {
	tb.Helper()
	d := openDriver(tb, postgresstore.Config{})
	if err := d.Migrate(tb.Context()); err != nil {
		tb.Fatalf("Migrate: %v", err)
	}
	return d
}

// openStore opens and migrates a store in a fresh schema of its own, on
// clock, and returns it with its driver.
func openStore(tb testing.TB, clock func() time.Time) (*store.Store, *postgresstore.Driver) {
	tb.Helper()
	d := open(tb).(*postgresstore.Driver)
	s := store.New(d, store.Options{Clock: clock})
	tb.Cleanup(func() { _ = s.Close() })
	return s, d
}
