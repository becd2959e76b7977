package sqlitestore_test

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/intake-dev/intake/internal/store/driver"
	"github.com/intake-dev/intake/internal/store/sqlitestore"
	"github.com/intake-dev/intake/internal/store/storetest"
)

// open opens and migrates a fresh database file in a temporary directory.
func open(tb testing.TB) driver.Driver {
	tb.Helper()
	d, err := sqlitestore.Open(tb.Context(), sqlitestore.Config{
		Path:   filepath.Join(tb.TempDir(), "intake.db"),
		Logger: slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { _ = d.Close() })
	if err := d.Migrate(tb.Context()); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return d
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, open)
}

func BenchmarkStore(b *testing.B) { storetest.Benchmark(b, open) }
