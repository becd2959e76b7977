package mongostore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"testing"
	"time"

	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/store/driver"
	"github.com/intake-dev/intake/internal/store/mongostore"
	"github.com/intake-dev/intake/internal/store/storetest"
	"github.com/intake-dev/intake/internal/testenv"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// testDB is one test's database on the test server, dropped at cleanup, and
// a raw driver handle on it for inspecting or damaging what the store wrote.
type testDB struct {
	url  string
	name string
	raw  *mongo.Database
}

// newDB names a fresh database for tb and drops it at cleanup.
func newDB(tb testing.TB) *testDB {
	tb.Helper()
	url := testenv.Mongo.URL(tb)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "intake_test_" + hex.EncodeToString(b)
	client, err := mongo.Connect(options.Client().ApplyURI(url))
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.Database(name).Drop(ctx); err != nil {
			tb.Errorf("drop database %s: %v", name, err)
		}
		_ = client.Disconnect(ctx)
	})
	return &testDB{url: url, name: name, raw: client.Database(name)}
}

// driver opens a driver on the database, registering its Close with
// cleanup.
func (d *testDB) driver(tb testing.TB) *mongostore.Driver {
	tb.Helper()
	drv, err := mongostore.Open(tb.Context(), mongostore.Config{
		URI:      d.url,
		Database: d.name,
		Logger:   slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { _ = drv.Close() })
	return drv
}

// open opens a store on the database, registering its Close with cleanup.
func (d *testDB) open(tb testing.TB, clock func() time.Time) *store.Store {
	tb.Helper()
	s := store.New(d.driver(tb), store.Options{Clock: clock})
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// open opens and migrates a store on a fresh database.
func open(tb testing.TB, clock func() time.Time) (*store.Store, *testDB) {
	tb.Helper()
	d := newDB(tb)
	s := d.open(tb, clock)
	if err := s.Migrate(tb.Context()); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return s, d
}

// harness opens and migrates a driver on a fresh database.
func harness(tb testing.TB) driver.Driver {
	tb.Helper()
	d := newDB(tb).driver(tb)
	if err := d.Migrate(tb.Context()); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return d
}

func TestConformance(t *testing.T) {
	t.Parallel()
	testenv.Mongo.URL(t)
	storetest.Run(t, harness)
}

func BenchmarkStore(b *testing.B) { storetest.Benchmark(b, harness) }
