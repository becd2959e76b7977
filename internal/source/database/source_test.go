package database_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/source/database"
	"github.com/intake-dev/intake/internal/testenv"
)

// bundle is a unique schema on the test server with a table t, an admin
// pool on it, and the URL of a connection whose search_path is the schema.
type bundle struct {
	admin  *pgxpool.Pool
	schema string
	url    string
	logs   *testenv.Buffer
}

func newBundle(t *testing.T) *bundle {
	t.Helper()
	base := testenv.Postgres.URL(t)
	ctx := t.Context()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	schema := "database_test_" + hex.EncodeToString(rnd[:])
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	admin, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		admin.Close()
	})
	b := &bundle{admin: admin, schema: schema, url: u.String(), logs: &testenv.Buffer{}}
	b.exec(t, "CREATE SCHEMA "+schema)
	b.exec(t, `CREATE TABLE t (
		id int PRIMARY KEY,
		name text NOT NULL,
		amount numeric,
		ratio double precision,
		flag boolean,
		created_at timestamptz,
		day date,
		data bytea,
		doc jsonb,
		uid uuid,
		tags text[]
	)`)
	return b
}

func (b *bundle) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := b.admin.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// insertRows inserts rows with the given ids and simple values.
func (b *bundle) insertRows(t *testing.T, ids ...int) {
	t.Helper()
	for _, id := range ids {
		b.exec(t, `INSERT INTO t (id, name, amount, flag) VALUES ($1, $2, $3, $4)`,
			id, fmt.Sprintf("row %d", id), fmt.Sprintf("%d.50", id), id%2 == 0)
	}
}

func (b *bundle) count(t *testing.T) int {
	t.Helper()
	var n int
	if err := b.admin.QueryRow(t.Context(), "SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// source returns a new Source with connection MAIN (and OTHER) on the
// bundle's schema.
func (b *bundle) source(t *testing.T, adjust ...func(*database.Options)) *database.Source {
	t.Helper()
	opts := database.Options{
		Connections: map[string]string{"main": b.url, "Other": b.url},
		Logger:      slog.New(slog.NewJSONHandler(b.logs, nil)),
	}
	for _, f := range adjust {
		f(&opts)
	}
	s, err := database.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// run collects documents from seq onwards until the source is exhausted
// or max documents were produced. It returns their bodies and the last
// checkpoint.
func run(t *testing.T, s *database.Source, config string, seq int, cp []byte, maxDocs int) ([]string, []*intake.Item, []byte) {
	t.Helper()
	ctx := t.Context()
	if cp == nil {
		if err := s.Validate(ctx, json.RawMessage(config)); err != nil {
			t.Fatalf("validate: %v", err)
		}
		total, plan, err := s.Plan(ctx, json.RawMessage(config))
		if err != nil {
			t.Fatalf("plan: %v", err)
		}
		if total != intake.TotalUnknown {
			t.Fatalf("plan total = %d, want unknown", total)
		}
		cp = plan
	}
	var (
		bodies []string
		items  []*intake.Item
	)
	for ; len(bodies) < maxDocs; seq++ {
		item, err := s.Next(ctx, json.RawMessage(config), seq, cp)
		if errors.Is(err, intake.ErrExhausted) {
			break
		}
		if err != nil {
			t.Fatalf("next %d: %v", seq, err)
		}
		body, err := io.ReadAll(item.Body)
		if err != nil {
			t.Fatal(err)
		}
		if err := item.Body.Close(); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(body))
		items = append(items, item)
		cp = item.Checkpoint
	}
	return bodies, items, cp
}

func TestNDJSONValues(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.exec(t, `INSERT INTO t VALUES
		(1, 'ä "q"', 12345678901234567890.123, 0.5, true, '2024-03-01 12:30:00.123456+00', '2024-03-01', '\x00ff', '{"b": 1, "a": [true, null]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{x,y}'),
		(2, 'nulls', NULL, 'NaN', NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)
	s := b.source(t)
	bodies, items, _ := run(t, s, `{"connection":"main","query":"SELECT * FROM t","key":["id"]}`, 1, nil, 10)
	if len(bodies) != 1 {
		t.Fatalf("got %d documents, want 1", len(bodies))
	}
	want := `{"id":1,"name":"ä \"q\"","amount":12345678901234567890.123,"ratio":0.5,"flag":true,"created_at":"2024-03-01T12:30:00.123456Z","day":"2024-03-01","data":"AP8=","doc":{"a":[true,null],"b":1},"uid":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","tags":["x","y"]}
{"id":2,"name":"nulls","amount":null,"ratio":"NaN","flag":null,"created_at":null,"day":null,"data":null,"doc":null,"uid":null,"tags":null}
`
	if bodies[0] != want {
		t.Errorf("document:\n%s\nwant:\n%s", bodies[0], want)
	}
	if items[0].ContentType != database.ContentTypeNDJSON || items[0].Name != "rows-000001.ndjson" {
		t.Errorf("content type %q name %q", items[0].ContentType, items[0].Name)
	}
	for _, line := range strings.Split(strings.TrimSpace(bodies[0]), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("invalid JSON line %s", line)
		}
	}
}

func TestDocumentsAndFormats(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.insertRows(t, 1, 2, 3, 4, 5)
	tests := []struct {
		name   string
		config string
		want   []string
		ct     string
	}{
		{
			name:   "ndjson pages of two",
			config: `{"connection":"MAIN","query":"SELECT id, name FROM t","key":["id"],"rows_per_document":2}`,
			want: []string{
				"{\"id\":1,\"name\":\"row 1\"}\n{\"id\":2,\"name\":\"row 2\"}\n",
				"{\"id\":3,\"name\":\"row 3\"}\n{\"id\":4,\"name\":\"row 4\"}\n",
				"{\"id\":5,\"name\":\"row 5\"}\n",
			},
			ct: database.ContentTypeNDJSON,
		},
		{
			name:   "csv with header",
			config: `{"connection":"main","query":"SELECT id, name, amount, flag FROM t WHERE id <= 4","key":["id"],"rows_per_document":3,"format":"csv"}`,
			want: []string{
				"id,name,amount,flag\n1,row 1,1.50,false\n2,row 2,2.50,true\n3,row 3,3.50,false\n",
				"id,name,amount,flag\n4,row 4,4.50,true\n",
			},
			ct: database.ContentTypeCSV,
		},
		{
			name:   "exact multiple ends with a short page",
			config: `{"connection":"main","query":"SELECT id FROM t WHERE id <= 4","key":["id"],"rows_per_document":2}`,
			want:   []string{"{\"id\":1}\n{\"id\":2}\n", "{\"id\":3}\n{\"id\":4}\n"},
			ct:     database.ContentTypeNDJSON,
		},
		{
			name:   "empty result has no documents",
			config: `{"connection":"main","query":"SELECT id FROM t WHERE id > 100","key":["id"]}`,
			ct:     database.ContentTypeNDJSON,
		},
		{
			name:   "composite key, descending source order",
			config: `{"connection":"main","query":"SELECT id % 2 AS odd, id FROM t ORDER BY id DESC","key":["odd","id"],"rows_per_document":2}`,
			want: []string{
				"{\"odd\":0,\"id\":2}\n{\"odd\":0,\"id\":4}\n",
				"{\"odd\":1,\"id\":1}\n{\"odd\":1,\"id\":3}\n",
				"{\"odd\":1,\"id\":5}\n",
			},
			ct: database.ContentTypeNDJSON,
		},
		{
			name:   "trailing line comment cannot swallow the wrapper",
			config: `{"connection":"main","query":"SELECT id FROM t WHERE id < 3 -- LIMIT 0","key":["id"],"rows_per_document":1}`,
			want:   []string{"{\"id\":1}\n", "{\"id\":2}\n"},
			ct:     database.ContentTypeNDJSON,
		},
		{
			name:   "params bound positionally",
			config: `{"connection":"main","query":"SELECT id FROM t WHERE id > $1 AND name <> $2 AND flag = $3 AND amount < $4","params":[1,"row 3",false,10.5],"key":["id"]}`,
			want:   []string{"{\"id\":5}\n"},
			ct:     database.ContentTypeNDJSON,
		},
		{
			name:   "text keys and a trailing semicolon and comment",
			config: `{"connection":"main","query":"-- names\nSELECT name FROM t WHERE id IN (2, 5);  ","key":["name"],"rows_per_document":1}`,
			want:   []string{"{\"name\":\"row 2\"}\n", "{\"name\":\"row 5\"}\n"},
			ct:     database.ContentTypeNDJSON,
		},
	}
	s := b.source(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bodies, items, _ := run(t, s, tt.config, 1, nil, 100)
			if strings.Join(bodies, "|") != strings.Join(tt.want, "|") {
				t.Errorf("documents:\n%q\nwant:\n%q", bodies, tt.want)
			}
			for _, it := range items {
				if it.ContentType != tt.ct {
					t.Errorf("content type %q, want %q", it.ContentType, tt.ct)
				}
			}
		})
	}
}

// TestResumeInFreshPod collects the first document with one Source and the
// rest with a new one given only the checkpoint, while rows change in
// between: collected documents stay as they were, rows behind the cursor
// are not seen, rows ahead of it are.
func TestResumeInFreshPod(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.insertRows(t, 10, 20, 30, 40, 50, 60, 70)
	config := `{"connection":"main","query":"SELECT id FROM t","key":["id"],"rows_per_document":3}`

	first, _, cp := run(t, b.source(t), config, 1, nil, 1)
	if want := []string{"{\"id\":10}\n{\"id\":20}\n{\"id\":30}\n"}; strings.Join(first, "") != strings.Join(want, "") {
		t.Fatalf("first document %q, want %q", first, want)
	}

	// Between runs: an insert behind the cursor, one ahead, a delete of a
	// collected row and of an uncollected one, an update ahead.
	b.exec(t, "INSERT INTO t (id, name) VALUES (15, 'behind'), (45, 'ahead')")
	b.exec(t, "DELETE FROM t WHERE id IN (20, 50)")

	rest, _, _ := run(t, b.source(t), config, 2, cp, 100)
	want := []string{
		"{\"id\":40}\n{\"id\":45}\n{\"id\":60}\n",
		"{\"id\":70}\n",
	}
	if strings.Join(rest, "|") != strings.Join(want, "|") {
		t.Errorf("resumed documents %q, want %q", rest, want)
	}

	// Re-producing document 2 from the same checkpoint in a third pod
	// gives the same bytes while the data in its range is unchanged.
	again, _, _ := run(t, b.source(t), config, 2, cp, 1)
	if len(again) != 1 || again[0] != want[0] {
		t.Errorf("document 2 again %q, want %q", again, want[0])
	}
}

// TestRejectedQueries checks that statements that write, several
// statements and hidden writes fail permanently and change nothing.
func TestRejectedQueries(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.insertRows(t, 1, 2, 3)
	b.exec(t, "CREATE SEQUENCE s")
	s := b.source(t)
	tests := []struct {
		name  string
		query string
		key   string
		want  string // in the error
		code  string // intake error code, "" for a PermanentError
	}{
		// The text filter stops these at trigger time (and in Next)…
		{name: "delete", query: "DELETE FROM t", key: "id", want: "must be one SELECT", code: intake.EINVALID},
		{name: "update", query: "UPDATE t SET name = 'x'", key: "id", want: "must be one SELECT", code: intake.EINVALID},
		// … and the server stops them when they pass it.
		{name: "delete behind a WITH", query: "WITH d AS (SELECT 1) DELETE FROM t", key: "id", want: "returns no columns", code: intake.EINVALID},
		{name: "update behind a comment and WITH", query: "/* x */ WITH d AS (SELECT 1) UPDATE t SET name = 'x'", key: "id", want: "returns no columns", code: intake.EINVALID},
		{name: "update returning", query: "WITH d AS (SELECT 1) UPDATE t SET name = 'x' RETURNING id", key: "id", want: "SQLSTATE 42601"},
		{name: "two statements", query: "SELECT 1 AS id; DROP TABLE t", key: "id", want: "SQLSTATE 42601"},
		// A data-modifying WITH cannot be wrapped (0A000); the read-only
		// transaction refuses it at the top level too (see below).
		{name: "write in a CTE", query: "WITH x AS (DELETE FROM t RETURNING id) SELECT id FROM x", key: "id", want: "SQLSTATE 0A000"},
		{name: "row lock", query: "SELECT id FROM t FOR UPDATE", key: "id", want: "SQLSTATE"},
		{name: "write in a function", query: "SELECT id, nextval('s') AS n FROM t", key: "id", want: "SQLSTATE 25006"},
		{name: "undefined table", query: "SELECT id FROM nope", key: "id", want: "SQLSTATE 42P01"},
		{name: "syntax", query: "SELECT id FROM t WHERE", key: "id", want: "SQLSTATE 42601"},
		{name: "wrapper escape", query: "SELECT id FROM t) AS intake_q; DROP TABLE t; SELECT * FROM (SELECT 1 AS id", key: "id", want: "SQLSTATE 42601"},
		{name: "key not in result", query: "SELECT name FROM t", key: "id", want: "is not a column", code: intake.EINVALID},
		{name: "duplicate column names", query: "SELECT id, id FROM t", key: "id", want: "must be unique", code: intake.EINVALID},
		{name: "param count", query: "SELECT id FROM t WHERE id > $1", key: "id", want: "takes 1 parameters", code: intake.EINVALID},
		{name: "key not unique", query: "SELECT id % 2 AS k FROM t", key: "k", want: "not unique"},
		{name: "key null", query: "SELECT NULLIF(id, 2) AS k FROM t", key: "k", want: "NULL"},
		{name: "parameter of the wrong type", query: "SELECT id FROM t WHERE id = $1::int + 0 * length($2)", key: "id", want: "SQLSTATE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			params := "[]"
			if tt.name == "parameter of the wrong type" {
				params = `["abc", "x"]`
			}
			config := fmt.Sprintf(`{"connection":"main","query":%q,"key":[%q],"params":%s}`, tt.query, tt.key, params)
			if err := s.Validate(t.Context(), json.RawMessage(config)); err != nil && !strings.Contains(tt.want, "must be one SELECT") {
				t.Fatalf("validate: %v (the server is the guard under test)", err)
			}
			_, err := s.Next(t.Context(), json.RawMessage(config), 1, nil)
			if err == nil {
				t.Fatal("Next succeeded")
			}
			if !intake.IsPermanent(err) {
				t.Errorf("error %v is not permanent", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if tt.code != "" && intake.ErrorCode(err) != tt.code {
				t.Errorf("code %q, want %q", intake.ErrorCode(err), tt.code)
			}
			if _, _, err := s.Plan(t.Context(), json.RawMessage(config)); err == nil && tt.code != "" {
				t.Errorf("Plan accepted a query that Next rejects as %s", tt.code)
			}
		})
	}
	t.Cleanup(func() {
		// The table is intact after every attempt.
		var n int
		if err := b.admin.QueryRow(context.Background(), "SELECT count(*) FROM t").Scan(&n); err != nil || n != 3 {
			t.Errorf("t has %d rows after the rejected queries (err %v), want 3", n, err)
		}
		var name string
		if err := b.admin.QueryRow(context.Background(), "SELECT name FROM t WHERE id = 1").Scan(&name); err != nil || name != "row 1" {
			t.Errorf("row 1 name %q, err %v", name, err)
		}
	})
}

// TestReadOnlyTransactionRejectsCTEWrite shows the read-only transaction
// itself refusing a data-modifying CTE at the top level (the page wrapper
// already refuses it as a subquery).
func TestReadOnlyTransactionRejectsCTEWrite(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.insertRows(t, 1, 2)
	s := b.source(t)
	err := database.ExportRunReadOnly(t.Context(), s, "MAIN", "WITH x AS (DELETE FROM t RETURNING id) SELECT id FROM x")
	if err == nil || !strings.Contains(err.Error(), "25006") || !intake.IsPermanent(err) {
		t.Errorf("CTE write in the read-only transaction: %v, want a permanent 25006", err)
	}
	if n := b.count(t); n != 2 {
		t.Errorf("t has %d rows, want 2", n)
	}
}

// TestSessionStateIsReset checks that what a query leaves on its pooled
// connection beyond its transaction (a session advisory lock) is released.
func TestSessionStateIsReset(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	s := b.source(t)
	var lockKey int64
	if err := b.admin.QueryRow(t.Context(), "SELECT (random() * 1e9)::bigint").Scan(&lockKey); err != nil {
		t.Fatal(err)
	}
	// A function of the database's own that takes the lock: the name
	// filter refuses pg_advisory_lock itself, but not what it cannot see.
	b.exec(t, "CREATE FUNCTION take_lock(k bigint) RETURNS void LANGUAGE sql AS 'SELECT pg_advisory_lock(k)'")
	config := fmt.Sprintf(`{"connection":"main","query":"SELECT 1 AS id, take_lock(%d) AS l","key":["id"]}`, lockKey)
	run(t, s, config, 1, nil, 1)
	var held int
	err := b.admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1", lockKey).Scan(&held)
	if err != nil || held != 0 {
		t.Errorf("advisory lock held by %d sessions after the job's query (err %v)", held, err)
	}
}

func TestStatementTimeoutIsTransient(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	s := b.source(t, func(o *database.Options) { o.StatementTimeout = 200 * time.Millisecond })
	config := json.RawMessage(`{"connection":"main","query":"SELECT 1 AS id, pg_sleep(5) AS slept","key":["id"]}`)
	start := time.Now()
	_, err := s.Next(t.Context(), config, 1, nil)
	elapsed := time.Since(start)
	if err == nil || intake.IsPermanent(err) || !strings.Contains(err.Error(), "57014") {
		t.Fatalf("error %v, want a transient statement timeout (57014)", err)
	}
	if elapsed > 3*time.Second {
		t.Errorf("took %s with a 200ms statement timeout", elapsed)
	}
}

func TestSuperuserWarningOncePerConnection(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.insertRows(t, 1)
	var super bool
	if err := b.admin.QueryRow(t.Context(), "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil {
		t.Fatal(err)
	}
	if !super {
		t.Skip("the test server's role is not a superuser")
	}
	s := b.source(t)
	for range 3 {
		run(t, s, `{"connection":"main","query":"SELECT id FROM t","key":["id"]}`, 1, nil, 1)
	}
	run(t, s, `{"connection":"other","query":"SELECT id FROM t","key":["id"]}`, 1, nil, 1)
	logs := b.logs.String()
	if n := strings.Count(logs, "superuser"); n != 2 {
		t.Errorf("%d superuser warnings, want one per connection (2):\n%s", n, logs)
	}
	if !strings.Contains(logs, `"connection":"MAIN"`) || strings.Contains(logs, "postgres://") {
		t.Errorf("warning should name the connection, never its URL:\n%s", logs)
	}
}

func TestMaxRowsCap(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.insertRows(t, 1, 2, 3, 4, 5, 6, 7)
	s := b.source(t, func(o *database.Options) { o.MaxRows = 5 })
	config := `{"connection":"main","query":"SELECT id FROM t","key":["id"],"rows_per_document":2}`
	bodies, items, _ := run(t, s, config, 1, nil, 100)
	want := []string{"{\"id\":1}\n{\"id\":2}\n", "{\"id\":3}\n{\"id\":4}\n", "{\"id\":5}\n"}
	if strings.Join(bodies, "|") != strings.Join(want, "|") {
		t.Errorf("documents %q, want %q", bodies, want)
	}
	if got := identities(items); !slices.Equal(got, []string{"rows 1-2 by (id)", "rows 3-4 by (id)", "rows 5-5 by (id)"}) {
		t.Errorf("identities %q, want the last page capped at row 5", got)
	}
	if got := s.MaxDocuments(json.RawMessage(config)); got != 3 {
		t.Errorf("MaxDocuments = %d, want 3", got)
	}
	if !strings.Contains(b.logs.String(), "row cap reached") {
		t.Errorf("no row cap warning:\n%s", b.logs.String())
	}
}

func TestLargeDocumentSpools(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	s := b.source(t)
	// 3000 rows of 4 KiB: 12 MiB, more than the in-memory spool.
	config := `{"connection":"main","query":"SELECT g AS id, repeat('x', 4096) AS pad FROM generate_series(1, 3000) g","key":["id"],"rows_per_document":3000}`
	bodies, _, _ := run(t, s, config, 1, nil, 10)
	if len(bodies) != 1 || strings.Count(bodies[0], "\n") != 3000 || len(bodies[0]) < 3000*4096 {
		t.Fatalf("got %d documents", len(bodies))
	}
}

func TestConnectionFailureIsTransient(t *testing.T) {
	t.Parallel()
	// Port 1 on loopback: nothing listens there.
	s, err := database.New(database.Options{Connections: map[string]string{"down": "postgres://intake:secret-pw@127.0.0.1:1/db?connect_timeout=2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	_, err = s.Next(t.Context(), json.RawMessage(`{"connection":"down","query":"SELECT 1 AS id","key":["id"]}`), 1, nil)
	if err == nil || intake.IsPermanent(err) || intake.ErrorCode(err) != intake.EUNAVAILABLE {
		t.Fatalf("error %v (code %q), want transient EUNAVAILABLE", err, intake.ErrorCode(err))
	}
	if strings.Contains(err.Error(), "secret-pw") || strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("error leaks the connection's details: %v", err)
	}
}

func identities(items []*intake.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Identity
	}
	return out
}

// TestIdentity: a document's identity is its range of rows in key order,
// whatever rows it holds: after a row is inserted ahead of the others, the
// same identities come back with other content, and one more page.
func TestIdentity(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.insertRows(t, 2, 3, 4, 5)
	s := b.source(t)
	config := `{"connection":"main","query":"SELECT id % 2 AS odd, id, name FROM t","key":["odd","id"],"rows_per_document":2}`
	before, items, _ := run(t, s, config, 1, nil, 100)
	want := []string{"rows 1-2 by (odd, id)", "rows 3-4 by (odd, id)"}
	if got := identities(items); !slices.Equal(got, want) {
		t.Fatalf("identities %q, want %q", got, want)
	}
	b.insertRows(t, 0)
	after, items, _ := run(t, s, config, 1, nil, 100)
	want = append(want, "rows 5-6 by (odd, id)")
	if got := identities(items); !slices.Equal(got, want) {
		t.Errorf("identities after an insert %q, want %q", got, want)
	}
	if before[0] == after[0] {
		t.Errorf("the first page did not change with a row inserted into it: %q", after[0])
	}
}
