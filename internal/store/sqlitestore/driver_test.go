package sqlitestore_test

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store/sqlitestore"
	"github.com/intake-dev/intake/internal/store/storetest"
)

// open opens and migrates a fresh database file in a temporary directory.
func open(tb testing.TB, clock func() time.Time) *sqlitestore.Store {
	tb.Helper()
	s, err := sqlitestore.Open(tb.Context(), sqlitestore.Config{
		Path:   filepath.Join(tb.TempDir(), "intake.db"),
		Clock:  clock,
		Logger: slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(tb.Context()); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, clock func() time.Time) intake.Store {
		return open(t, clock)
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.Benchmark(b, func(b *testing.B) intake.Store {
		return open(b, time.Now)
	})
}
