package sqlitestore_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/store/driver"
	"github.com/intake-dev/intake/internal/store/sqlitestore"
)

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notDB := filepath.Join(dir, "not.db")
	if err := os.WriteFile(notDB, []byte("this is not an SQLite database, just long enough to have a header"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, code string
	}{
		{"empty path", "", intake.EINVALID},
		{"in-memory", ":memory:", intake.EINVALID},
		{"URI", "file:x.db?mode=memory", intake.EINVALID},
		{"missing directory", filepath.Join(dir, "missing", "intake.db"), intake.EUNAVAILABLE},
		{"a directory", dir, intake.EUNAVAILABLE},
		{"not a database", notDB, intake.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: tt.path})
			if err == nil {
				_ = s.Close()
			}
			if got := intake.ErrorCode(err); got != tt.code {
				t.Errorf("Open(%q) error %v (code %q), want code %q", tt.path, err, got, tt.code)
			}
		})
	}
}

// TestPathCharacters checks that a path is a file name, not a URI: '?', '#'
// and '%' in it name the file rather than start a query.
func TestPathCharacters(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a?b#c%20d.db")
	s, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file not at %q: %v", path, err)
	}
}

func TestSchemaStatus(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intake.db")
	d, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s := store.New(d, store.Options{})
	defer s.Close()

	current, want, err := s.SchemaStatus(t.Context())
	if err != nil || current != 0 || want < 1 {
		t.Fatalf("SchemaStatus before Migrate = %d, %d, %v; want 0, >= 1", current, want, err)
	}
	// Open and SchemaStatus leave the schema alone.
	if n := countTables(t, path); n != 0 {
		t.Errorf("an unmigrated database has %d tables, want 0", n)
	}
	// The store is unusable until migrated.
	if _, err := s.CreateJobs(t.Context(), []*intake.Job{{SourceType: "filings"}}); err == nil {
		t.Error("CreateJobs on an unmigrated database succeeded")
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	current, want2, err := s.SchemaStatus(t.Context())
	if err != nil || current != want || want2 != want {
		t.Errorf("SchemaStatus after Migrate = %d, %d, %v; want %d, %d", current, want2, err, want, want)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Errorf("second Migrate: %v", err)
	}
}

func countTables(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'table'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMigrateConcurrent runs Migrate from several stores on one file, as
// replicas starting together would. The starts are staggered so that some
// migrator finds the version table created but the schema not yet migrated.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intake.db")
	var wg sync.WaitGroup
	for i := range 8 {
		s, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: path})
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer s.Close()
		wg.Go(func() {
			time.Sleep(time.Duration(i) * time.Millisecond)
			if err := s.Migrate(t.Context()); err != nil {
				t.Errorf("Migrate %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	s, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if current, want, err := s.SchemaStatus(t.Context()); err != nil || current != want {
		t.Errorf("SchemaStatus = %d, %d, %v; want current = want", current, want, err)
	}
}

// TestSharedFile runs two stores on one file, as `serve` and `work` in two
// processes would: claims stay exclusive and no SQLITE_BUSY surfaces.
func TestSharedFile(t *testing.T) {
	t.Parallel()
	const jobs, workers = 120, 8
	path := filepath.Join(t.TempDir(), "intake.db")
	var stores [2]*store.Store
	for i := range stores {
		d, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: path})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		stores[i] = store.New(d, store.Options{})
		defer stores[i].Close()
	}
	if err := stores[0].Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	in := make([]*intake.Job, jobs)
	for i := range in {
		in[i] = &intake.Job{SourceType: "filings", Config: []byte(`{}`)}
	}
	if _, err := stores[0].CreateJobs(t.Context(), in); err != nil {
		t.Fatalf("CreateJobs: %v", err)
	}

	var (
		mu      sync.Mutex
		claimed = map[string]int{}
		wg      sync.WaitGroup
	)
	for w := range workers {
		s := stores[w%2]
		wg.Go(func() {
			for run := 0; ; run++ {
				owner := fmt.Sprintf("w%d-%d", w, run)
				j, err := s.Claim(t.Context(), intake.ClaimParams{Owner: owner, LeaseTTL: time.Minute})
				if errors.Is(err, intake.ErrNoJob) {
					return
				}
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				mu.Lock()
				claimed[j.ID]++
				mu.Unlock()
				d := &intake.Document{JobID: j.ID, Seq: 1, Name: "d", BlobKey: intake.DocumentBlobKey(j.ID, 1, owner)}
				if err := s.RecordDocument(t.Context(), owner, d, []byte("cp")); err != nil {
					t.Errorf("RecordDocument: %v", err)
				}
				if _, err := s.Maintain(t.Context(), 3); err != nil {
					t.Errorf("Maintain: %v", err)
				}
				if err := s.FinishRun(t.Context(), j.ID, owner, true); err != nil {
					t.Errorf("FinishRun: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if len(claimed) != jobs {
		t.Errorf("%d jobs claimed, want %d", len(claimed), jobs)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("job %s claimed %d times", id, n)
		}
	}
	st, err := stores[1].Stats(t.Context())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.Jobs[intake.StatusCompleted] != jobs || st.Documents != jobs {
		t.Errorf("Stats: %d completed, %d documents; want %d of each", st.Jobs[intake.StatusCompleted], st.Documents, jobs)
	}
}

// TestClassify checks the codes of real SQLite errors: a held write lock
// (SQLITE_BUSY) is EUNAVAILABLE with a RetryAfter of its own.
func TestClassify(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "intake.db")
	d, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer d.Close()
	raw := func(query string) *sql.DB {
		db, err := sql.Open("sqlite", "file:"+path+"?"+query)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	holder := raw("_txlock=immediate")
	tx, err := holder.Begin()
	if err != nil {
		t.Fatalf("take the write lock: %v", err)
	}
	defer func() { _ = tx.Rollback() }()
	_, busy := raw("_pragma=busy_timeout(0)").Exec(`CREATE TABLE t (x INTEGER PRIMARY KEY)`)
	if _, err := tx.Exec(`CREATE TABLE u (x INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	_, err = tx.Exec(`INSERT INTO u VALUES (1)`)
	if err == nil {
		_, err = tx.Exec(`INSERT INTO u VALUES (1)`)
	}
	constraint := err
	tests := []struct {
		name  string
		err   error
		code  string
		retry time.Duration
	}{
		{"busy", busy, intake.EUNAVAILABLE, time.Second},
		{"constraint", constraint, intake.ECONFLICT, 0},
		{"no rows", fmt.Errorf("scan: %w", sql.ErrNoRows), intake.ENOTFOUND, 0},
		{"connection done", sql.ErrConnDone, intake.EUNAVAILABLE, 0},
		{"anything else", errors.New("boom"), intake.EINTERNAL, 0},
	}
	for _, tt := range tests {
		if code, retry := d.Classify(tt.err); code != tt.code || retry != tt.retry {
			t.Errorf("%s: Classify(%v) = %q, %v; want %q, %v", tt.name, tt.err, code, retry, tt.code, tt.retry)
		}
	}
	var ie *intake.Error
	if err := driver.Wrap(busy, d.Classify, "claim job"); !errors.As(err, &ie) || ie.RetryAfter != time.Second {
		t.Errorf("a busy error wraps as %#v, want RetryAfter 1s", err)
	}
}
