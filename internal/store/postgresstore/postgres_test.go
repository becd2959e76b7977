package postgresstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/store/postgresstore"
	"github.com/intake-dev/intake/internal/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	const secret = "s3cr%40tpw" // percent-encoded "s3cr@tpw"
	tests := []struct {
		name string
		cfg  postgresstore.Config
		code string
	}{
		{"empty URL", postgresstore.Config{}, intake.EINVALID},
		{"other scheme", postgresstore.Config{URL: "mysql://u:" + secret + "@127.0.0.1/db"}, intake.EINVALID},
		{"keyword/value DSN", postgresstore.Config{URL: "host=127.0.0.1 password=" + secret}, intake.EINVALID},
		{"bad port", postgresstore.Config{URL: "postgres://u:" + secret + "@127.0.0.1:notaport/db"}, intake.EINVALID},
		{"bad pool_max_conns", postgresstore.Config{URL: "postgres://u@127.0.0.1/db?password=" + secret + "&pool_max_conns=x"}, intake.EINVALID},
		{"uppercase schema", postgresstore.Config{URL: "postgres://127.0.0.1/db", Schema: "Intake"}, intake.EINVALID},
		{"quoted schema", postgresstore.Config{URL: "postgres://127.0.0.1/db", Schema: `a"; DROP TABLE jobs; --`}, intake.EINVALID},
		{"reserved schema", postgresstore.Config{URL: "postgres://127.0.0.1/db", Schema: "pg_intake"}, intake.EINVALID},
		{"negative MaxConns", postgresstore.Config{URL: "postgres://127.0.0.1/db", MaxConns: -1}, intake.EINVALID},
		// Port 1 on loopback refuses connections at once.
		{"unreachable server", postgresstore.Config{URL: "postgres://u:" + secret + "@127.0.0.1:1/db?connect_timeout=5"}, intake.EUNAVAILABLE},
		{"unreachable server, uppercase scheme", postgresstore.Config{URL: "POSTGRESQL://u:" + secret + "@127.0.0.1:1/db"}, intake.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := postgresstore.Open(t.Context(), tt.cfg)
			if err == nil {
				_ = s.Close()
			}
			if got := intake.ErrorCode(err); got != tt.code {
				t.Fatalf("Open error %v (code %q), want code %q", err, got, tt.code)
			}
			for _, leak := range []string{secret, "s3cr@tpw"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("Open error %q contains the password", err)
				}
			}
		})
	}
}

func TestSchemaStatus(t *testing.T) {
	t.Parallel()
	d := openDriver(t, postgresstore.Config{})
	s := store.New(d, store.Options{})
	ctx := t.Context()
	current, want, err := s.SchemaStatus(ctx)
	if err != nil || current != 0 || want < 1 {
		t.Fatalf("SchemaStatus before Migrate = %d, %d, %v; want 0, >= 1", current, want, err)
	}
	// Open and SchemaStatus leave the database alone.
	if n := countTables(t, d); n != 0 {
		t.Errorf("an unmigrated schema has %d tables, want 0", n)
	}
	if _, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings"}}); err == nil {
		t.Error("CreateJobs on an unmigrated schema succeeded")
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	current, want2, err := s.SchemaStatus(ctx)
	if err != nil || current != want || want2 != want {
		t.Errorf("SchemaStatus after Migrate = %d, %d, %v; want %d, %d", current, want2, err, want, want)
	}
	// Every table, goose's included, is in the store's schema.
	if n := countTables(t, d); n != 8 {
		t.Errorf("schema %s has %d tables after Migrate, want 8 (jobs, documents, job_runs, schedules, deliveries, "+
			"counts, run_stat_bounds, goose_db_version)", d.Schema(), n)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Errorf("second Migrate: %v", err)
	}
}

// countTables counts the tables in the store's schema.
func countTables(t *testing.T, d *postgresstore.Driver) int {
	t.Helper()
	var n int
	err := d.Pool().QueryRow(t.Context(), `SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = $1`, d.Schema()).Scan(&n)
	if err != nil {
		t.Fatalf("count tables: %v", err)
	}
	return n
}

// TestMigrateConcurrent runs Migrate from several stores on one schema, as
// replicas starting together would; the advisory lock lets one migrate and
// the others find the work done.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	stores := make([]*postgresstore.Driver, 6)
	for i := range stores {
		stores[i] = openDriver(t, postgresstore.Config{Schema: schema, MaxConns: 2})
	}
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * time.Millisecond)
			if err := s.Migrate(t.Context()); err != nil {
				t.Errorf("Migrate %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	current, want, err := stores[0].SchemaStatus(t.Context())
	if err != nil || current != want {
		t.Errorf("SchemaStatus = %d, %d, %v; want current = want", current, want, err)
	}
	var applied int
	err = stores[0].Pool().QueryRow(t.Context(), `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied)
	if err != nil || int64(applied) != want {
		t.Errorf("goose recorded %d migrations (%v), want each of %d once", applied, err, want)
	}
}

// TestStatementTimeout checks that the statement timeout reaches the server
// and that a statement it cancels is an EUNAVAILABLE error: a Heartbeat
// waits on a row lock that another connection holds.
func TestStatementTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	d := openDriver(t, postgresstore.Config{StatementTimeout: timeout})
	s := store.New(d, store.Options{})
	ctx := t.Context()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	var shown string
	if err := d.Pool().QueryRow(ctx, `SHOW statement_timeout`).Scan(&shown); err != nil || shown != "300ms" {
		t.Fatalf("SHOW statement_timeout = %q, %v; want 300ms", shown, err)
	}
	jobs, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings"}})
	if err != nil {
		t.Fatalf("CreateJobs: %v", err)
	}
	id := jobs[0].ID
	if _, err := s.Claim(ctx, intake.ClaimParams{Owner: "w1", LeaseTTL: time.Minute}); err != nil {
		t.Fatalf("Claim: %v", err)
	}

	locker, err := pgx.Connect(ctx, testenv.Postgres.URL(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer locker.Close(context.WithoutCancel(ctx))
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM `+d.Schema()+`.jobs WHERE id = $1 FOR UPDATE`, id); err != nil {
		t.Fatalf("lock the job: %v", err)
	}
	start := time.Now()
	err = s.Heartbeat(ctx, id, "w1", time.Minute)
	took := time.Since(start)
	if intake.ErrorCode(err) != intake.EUNAVAILABLE {
		t.Errorf("Heartbeat on a locked job: error %v, want EUNAVAILABLE", err)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Errorf("Heartbeat on a locked job: error %v, want SQLSTATE 57014", err)
	}
	if took < timeout || took > 10*timeout {
		t.Errorf("the statement was cancelled after %v, want about %v", took, timeout)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if err := s.Heartbeat(ctx, id, "w1", time.Minute); err != nil {
		t.Errorf("Heartbeat after the lock was released: %v", err)
	}
}

// TestConnectionLoss terminates every backend of a store from another
// connection, as a server restart or a failover would: the next call
// either succeeds or fails with EUNAVAILABLE, and the one after succeeds.
func TestConnectionLoss(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		idle time.Duration // how long the pool sits idle after the termination
	}{
		{"next call at once", 0},
		// Past pgxpool's one-second idle threshold, Acquire pings first.
		{"next call after idling", 1100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			schema := newSchema(t)
			app := "intake-" + schema // unique to this test
			sep := "?"
			if strings.Contains(testenv.Postgres.URL(t), "?") {
				sep = "&"
			}
			s := store.New(openDriver(t, postgresstore.Config{
				URL: testenv.Postgres.URL(t) + sep + "application_name=" + app, Schema: schema, MaxConns: 4,
			}), store.Options{})
			ctx := t.Context()
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
			in := make([]*intake.Job, 8)
			for i := range in {
				in[i] = &intake.Job{SourceType: "filings"}
			}
			jobs, err := s.CreateJobs(ctx, in)
			if err != nil {
				t.Fatalf("CreateJobs: %v", err)
			}
			for round := range 3 {
				// Fill the pool: concurrent calls open every connection.
				var wg sync.WaitGroup
				for range 4 {
					wg.Go(func() {
						if _, err := s.Stats(ctx); err != nil {
							t.Errorf("Stats: %v", err)
						}
					})
				}
				wg.Wait()
				if n := terminate(t, app); n == 0 {
					t.Fatalf("round %d: no backend of %s to terminate", round, app)
				}
				time.Sleep(tt.idle)
				ops := []struct {
					name string
					call func() error
				}{
					{"GetJob", func() error { _, err := s.GetJob(ctx, jobs[round].ID); return err }},
					{"Claim", func() error {
						_, err := s.Claim(ctx, intake.ClaimParams{Owner: fmt.Sprintf("w%d", round), LeaseTTL: time.Minute})
						return err
					}},
				}
				first := ops[round%2]
				if err := first.call(); err != nil && intake.ErrorCode(err) != intake.EUNAVAILABLE {
					t.Errorf("round %d: %s after the backends were terminated: error %v (code %q), want success or EUNAVAILABLE",
						round, first.name, err, intake.ErrorCode(err))
				} else if err != nil {
					t.Logf("round %d: %s after the backends were terminated: %v", round, first.name, err)
				}
				for _, op := range ops {
					if err := op.call(); err != nil {
						t.Errorf("round %d: %s after the first call: %v", round, op.name, err)
					}
				}
			}
		})
	}
}

// terminate ends every backend whose application_name is app, from a
// connection of its own, and returns how many it ended.
func terminate(t *testing.T, app string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), testenv.Postgres.URL(t))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	var n int
	err = conn.QueryRow(t.Context(), `SELECT count(pg_terminate_backend(pid, 5000))
		FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n)
	if err != nil {
		t.Fatalf("terminate backends: %v", err)
	}
	return n
}

// TestUnavailableServer checks calls on a store whose server went away:
// EUNAVAILABLE, never a hang or another code.
func TestUnavailableServer(t *testing.T) {
	t.Parallel()
	_, d := openStore(t, time.Now)
	// Point a second store at a port nothing listens on, with the first
	// one's schema: Open fails, as it checks that the server answers.
	_, err := postgresstore.Open(t.Context(), postgresstore.Config{
		URL: "postgres://postgres@127.0.0.1:1/test?connect_timeout=5", Schema: d.Schema(),
	})
	if intake.ErrorCode(err) != intake.EUNAVAILABLE {
		t.Errorf("Open on a closed port: error %v, want EUNAVAILABLE", err)
	}
	var ie *intake.Error
	if errors.As(err, &ie) && ie.RetryAfter <= 0 {
		t.Errorf("EUNAVAILABLE error without a RetryAfter hint: %+v", ie)
	}
}

// TestInvalidInput checks values that are valid for the domain but not for
// PostgreSQL's types: EINVALID, not EINTERNAL, and nothing stored.
func TestInvalidInput(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, time.Now)
	ctx := t.Context()
	tests := []struct {
		name string
		job  *intake.Job
	}{
		{"NUL in a JSON string", &intake.Job{SourceType: "filings", Config: json.RawMessage(`{"cin":"a\u0000b"}`)}},
		{"NUL in the source type", &intake.Job{SourceType: "fil\x00ings"}},
		{"invalid UTF-8", &intake.Job{SourceType: "filings", IdempotencyKey: "\xff\xfe"}},
	}
	for _, tt := range tests {
		_, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings"}, tt.job})
		if intake.ErrorCode(err) != intake.EINVALID {
			t.Errorf("%s: CreateJobs error %v (code %q), want EINVALID", tt.name, err, intake.ErrorCode(err))
		}
	}
	if p, err := s.ListJobs(ctx, intake.JobFilter{}); err != nil || len(p.Jobs) != 0 {
		t.Errorf("after refused batches: %d jobs, %v; want none", len(p.Jobs), err)
	}

	jobs, err := s.CreateJobs(ctx, []*intake.Job{{SourceType: "filings"}})
	if err != nil {
		t.Fatalf("CreateJobs: %v", err)
	}
	if _, err := s.Claim(ctx, intake.ClaimParams{Owner: "w1", LeaseTTL: time.Minute}); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	doc := &intake.Document{ID: "doc-1", JobID: jobs[0].ID, Seq: 1, Name: "a", BlobKey: intake.DocumentBlobKey(jobs[0].ID, 1, "w1")}
	if err := s.RecordDocument(ctx, "w1", doc, nil); intake.ErrorCode(err) != intake.EINVALID {
		t.Errorf("RecordDocument with a non-UUID document ID: error %v, want EINVALID", err)
	}
}

// TestCreateIdempotentConcurrent creates the same idempotency key from
// several goroutines at once: one job is created and every caller gets it.
func TestCreateIdempotentConcurrent(t *testing.T) {
	t.Parallel()
	s, _ := openStore(t, time.Now)
	const callers = 8
	ids := make([]string, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			jobs, err := s.CreateJobs(t.Context(), []*intake.Job{
				{SourceType: "filings", IdempotencyKey: "same", RequestHash: "h"},
				{SourceType: "filings"},
			})
			if err != nil {
				t.Errorf("CreateJobs %d: %v", i, err)
				return
			}
			ids[i] = jobs[0].ID
		})
	}
	wg.Wait()
	for i, id := range ids {
		if id != ids[0] {
			t.Errorf("caller %d got job %s for the key, caller 0 got %s", i, id, ids[0])
		}
	}
	st, err := s.Stats(t.Context())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if n := st.Jobs[intake.StatusPending]; n != callers+1 {
		t.Errorf("%d pending jobs, want %d (one keyed, one per caller without a key)", n, callers+1)
	}
}

func TestClaimMany(t *testing.T) {
	t.Parallel()
	clock := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s, d := openStore(t, func() time.Time { return clock })
	ctx := t.Context()
	in := make([]*intake.Job, 5)
	for i := range in {
		in[i] = &intake.Job{SourceType: "filings"}
	}
	jobs, err := s.CreateJobs(ctx, in)
	if err != nil {
		t.Fatalf("CreateJobs: %v", err)
	}
	p := intake.ClaimParams{Owner: "pool-1", LeaseTTL: time.Minute}
	tests := []struct {
		n    int
		want []*intake.Job
	}{
		{3, jobs[:3]},
		{10, jobs[3:]},
		{1, nil},
	}
	for _, tt := range tests {
		got, err := d.ClaimMany(ctx, clock, p, tt.n)
		if tt.want == nil {
			if !errors.Is(err, intake.ErrNoJob) {
				t.Errorf("ClaimMany(%d) with nothing pending: %v, want ErrNoJob", tt.n, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ClaimMany(%d): %v", tt.n, err)
		}
		if len(got) != len(tt.want) {
			t.Fatalf("ClaimMany(%d) claimed %d jobs, want %d", tt.n, len(got), len(tt.want))
		}
		for i, j := range got {
			if j.ID != tt.want[i].ID || j.Status != intake.StatusProcessing || j.LeaseOwner != p.Owner || j.Runs != 1 {
				t.Errorf("ClaimMany(%d)[%d] = %s %s owner %q runs %d; want %s processing under %s, Runs 1",
					tt.n, i, j.ID, j.Status, j.LeaseOwner, j.Runs, tt.want[i].ID, p.Owner)
			}
		}
	}
	// Each job is fenced on its own.
	if err := s.FinishRun(ctx, jobs[0].ID, p.Owner, true); err != nil {
		t.Errorf("FinishRun of a job claimed with others: %v", err)
	}
	if err := s.Heartbeat(ctx, jobs[1].ID, p.Owner, time.Minute); err != nil {
		t.Errorf("Heartbeat of a job claimed with others: %v", err)
	}
	for _, bad := range []struct {
		p intake.ClaimParams
		n int
	}{
		{p, 0}, {p, intake.MaxPageSize + 1}, {intake.ClaimParams{LeaseTTL: time.Minute}, 1},
		{intake.ClaimParams{Owner: "x", LeaseTTL: time.Minute, JobID: jobs[0].ID}, 1},
	} {
		if _, err := d.ClaimMany(ctx, clock, bad.p, bad.n); intake.ErrorCode(err) != intake.EINVALID {
			t.Errorf("ClaimMany(%+v, %d): error %v, want EINVALID", bad.p, bad.n, err)
		}
	}
}

// TestClaimPlan loads pending jobs with generate_series and checks that
// the claim walks the partial index jobs_pending for the one row it takes:
// no sequential scan and no sort, so its cost does not grow with the
// queue. INTAKE_TEST_CLAIM_ROWS sets the number of jobs (default 20000);
// run it with 1000000 and -v for the plan in docs/PERFORMANCE.md.
func TestClaimPlan(t *testing.T) {
	t.Parallel()
	rows := 20_000
	if v := os.Getenv("INTAKE_TEST_CLAIM_ROWS"); v != "" {
		var err error
		if rows, err = strconv.Atoi(v); err != nil || rows < 1 {
			t.Fatalf("INTAKE_TEST_CLAIM_ROWS=%q is not a positive number", v)
		}
	}
	// Loading a million rows takes longer than the default statement timeout.
	d := openDriver(t, postgresstore.Config{StatementTimeout: -1})
	s := store.New(d, store.Options{})
	ctx := t.Context()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	start := time.Now()
	// A tenth as many jobs in other statuses, as a live queue has.
	_, err := d.Pool().Exec(ctx, `INSERT INTO jobs (id, tenant, source_type, config, status, available_at, created_at, updated_at)
		SELECT gen_random_uuid(), 'default', 'filings', '{}',
			CASE WHEN i % 10 = 0 THEN 'completed' ELSE 'pending' END,
			t, t, t
		FROM generate_series(1, $1::int) AS i,
			LATERAL (SELECT timestamptz '2030-01-01' + i * interval '1 millisecond') AS at (t)`, rows+rows/9)
	if err != nil {
		t.Fatalf("load jobs: %v", err)
	}
	if _, err := d.Pool().Exec(ctx, `ANALYZE jobs`); err != nil {
		t.Fatalf("analyze: %v", err)
	}
	load := time.Since(start)

	var pending int
	if err := d.Pool().QueryRow(ctx, `SELECT count(*) FROM jobs WHERE status = 'pending'`).Scan(&pending); err != nil {
		t.Fatalf("count: %v", err)
	}

	t.Logf("%d pending jobs (of %d) loaded and analysed in %v", pending, rows+rows/9, load.Round(time.Millisecond))
	// The first claim reads index pages from disk; the later ones show the
	// steady state. Each runs in a transaction that is rolled back, as
	// EXPLAIN ANALYZE executes the statement.
	for run := range 3 {
		text := explainClaim(t, d)
		if run == 0 || run == 2 {
			t.Logf("EXPLAIN (ANALYZE, BUFFERS) of the claim, run %d of 3:\n%s", run+1, text)
		}
		if !strings.Contains(text, "Index Scan using jobs_pending on jobs") {
			t.Error("the claim does not scan the partial index jobs_pending")
		}
		for _, bad := range []string{"Seq Scan", "Sort", "Bitmap"} {
			if strings.Contains(text, bad) {
				t.Errorf("the claim's plan has a %s node", bad)
			}
		}
		if !strings.Contains(text, "rows=1 loops=1") {
			t.Error("the claim's plan does not update exactly one row")
		}
	}

	// Committed claims through the store: each leaves a dead entry at the
	// head of jobs_pending that the next one skips.
	const claims = 200
	start = time.Now()
	for i := range claims {
		if _, err := s.Claim(ctx, intake.ClaimParams{Owner: fmt.Sprintf("w%d", i), LeaseTTL: time.Minute}); err != nil {
			t.Fatalf("Claim %d: %v", i, err)
		}
	}
	t.Logf("%d claims one after another: %v each on average", claims, (time.Since(start) / claims).Round(time.Microsecond))
}

// explainClaim returns the EXPLAIN (ANALYZE, BUFFERS) output of the claim
// statement, run in a transaction that it rolls back.
func explainClaim(t *testing.T, d *postgresstore.Driver) string {
	t.Helper()
	ctx := t.Context()
	tx, err := d.Pool().Begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	now := time.Now().UTC().Truncate(time.Millisecond)
	r, err := tx.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS) `+postgresstore.ClaimNextQuery, "explain", now.Add(time.Minute), now)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	plan, err := pgx.CollectRows(r, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	return strings.Join(plan, "\n")
}
