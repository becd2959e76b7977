package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/store/postgresstore"
	"github.com/intake-dev/intake/internal/testenv"
)

// hostileSource yields one document whose metadata, or whose error, holds
// bytes that are not UTF-8 and a NUL, as a web page's charset or a
// server's error text may.
type hostileSource struct{ fail bool }

func (hostileSource) Type() string                                    { return "hostile" }
func (hostileSource) Validate(context.Context, json.RawMessage) error { return nil }
func (hostileSource) Close() error                                    { return nil }
func (hostileSource) Plan(context.Context, json.RawMessage) (int, []byte, error) {
	return 1, []byte{0xff, 0}, nil
}

func (s hostileSource) Next(context.Context, json.RawMessage, int, []byte) (*intake.Item, error) {
	if s.fail {
		return nil, intake.Permanent(errors.New("upstream said \xff\xfe\x00 and hung up"))
	}
	return &intake.Item{
		Name:         "caf\xe9\x00.html",
		DocumentType: "page\xff",
		ContentType:  "text/html; charset=\xff",
		Body:         io.NopCloser(strings.NewReader("<p>hi</p>")),
		Checkpoint:   []byte{0xff, 1},
	}, nil
}

// pgStore opens a migrated PostgreSQL store in a schema of the test's own
// on the test server, the store that refused such text.
func pgStore(t testing.TB, clock func() time.Time) intake.Store {
	t.Helper()
	url := testenv.Postgres.URL(t)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	schema := "intake_worker_" + hex.EncodeToString(rnd[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, url); err == nil {
			_, _ = c.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			_ = c.Close(ctx)
		}
	})
	d, err := postgresstore.Open(t.Context(), postgresstore.Config{URL: url, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(d, store.Options{Clock: clock})
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSourceTextSanitised runs a hostile source on SQLite and PostgreSQL:
// on both the job ends the same way, with the document's metadata and the
// error stored as valid text (U+FFFD for each run of bad bytes and each NUL).
func TestSourceTextSanitised(t *testing.T) {
	t.Parallel()
	stores := map[string]func(*testing.T, *bundle) intake.Store{
		"sqlite":   func(_ *testing.T, b *bundle) intake.Store { return b.store },
		"postgres": func(t *testing.T, b *bundle) intake.Store { return pgStore(t, b.clock.Now) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t)
			b.store = open(t, b)
			w, _ := b.worker(t, Config{}, nil, hostileSource{})
			job := b.createJob(t, "hostile", map[string]any{})
			runOnce(t, w, job.ID)
			got := b.job(t, job.ID)
			wantStatus(t, got, intake.StatusCompleted)
			doc, err := b.store.GetDocument(t.Context(), job.ID, 1)
			if err != nil {
				t.Fatal(err)
			}
			if doc.Name != "caf\uFFFD\uFFFD.html" || doc.DocumentType != "page\uFFFD" || doc.ContentType != "text/html; charset=\uFFFD" {
				t.Errorf("document %q %q %q, want the bad bytes as U+FFFD", doc.Name, doc.DocumentType, doc.ContentType)
			}

			w2, _ := b.worker(t, Config{}, nil, hostileSource{fail: true})
			failing := b.createJob(t, "hostile", map[string]any{})
			runOnce(t, w2, failing.ID)
			got = b.job(t, failing.ID)
			wantStatus(t, got, intake.StatusFailed)
			if !intake.ValidText(got.LastError) || !strings.Contains(got.LastError, "upstream said \uFFFD\uFFFD and hung up") {
				t.Errorf("last error %q, want the text with U+FFFD", got.LastError)
			}
		})
	}
}
