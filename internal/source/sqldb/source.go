package sqldb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/intake-dev/intake"
)

// SourceType is the source_type of database jobs.
const SourceType = "database"

// SchemaName is the name of the config's OpenAPI schema component.
const SchemaName = "DatabaseSourceConfig"

// Content types of documents.
const (
	ContentTypeNDJSON = "application/x-ndjson"
	ContentTypeCSV    = "text/csv; charset=utf-8"
)

// Defaults of Options.
const (
	DefaultStatementTimeout = 30 * time.Second
	DefaultMaxRows          = 1_000_000
	defaultMaxConns         = 4
	defaultConnectTimeout   = 10 * time.Second
	// clientGrace is added to the client-side deadline of a query and
	// bounds the session reset after it.
	clientGrace = 5 * time.Second
)

// Options configure a Source.
type Options struct {
	// Connections maps connection names to PostgreSQL URLs. Names are
	// matched case-insensitively (stored upper case).
	Connections map[string]string
	// StatementTimeout bounds each query (SET LOCAL statement_timeout).
	// Default 30s.
	StatementTimeout time.Duration
	// MaxRows caps the rows one job collects. Default 1,000,000.
	MaxRows int
	// Logger receives warnings (superuser connections, row caps). Nil
	// discards them.
	Logger *slog.Logger
}

// Source collects the rows of a read-only query. It implements
// intake.Source, intake.Bounded and api.ConfigDescriber, and is safe for
// concurrent use.
type Source struct {
	opts    Options
	urls    map[string]string // upper-case name → URL
	configs map[string]*pgxpool.Config
	log     *slog.Logger

	mu     sync.Mutex
	pools  map[string]*pgxpool.Pool
	vetted map[string]bool // the superuser check ran for the connection
	closed bool
}

var (
	_ intake.Source  = (*Source)(nil)
	_ intake.Bounded = (*Source)(nil)
)

// New returns a Source over opts.Connections. It parses every URL (without
// connecting) and fails on a malformed one, naming the connection only.
func New(opts Options) (*Source, error) {
	if opts.StatementTimeout == 0 {
		opts.StatementTimeout = DefaultStatementTimeout
	}
	if opts.MaxRows == 0 {
		opts.MaxRows = DefaultMaxRows
	}
	if opts.StatementTimeout < time.Millisecond {
		return nil, fmt.Errorf("sqldb: statement timeout %s must be at least 1ms", opts.StatementTimeout)
	}
	if opts.MaxRows < 1 {
		return nil, fmt.Errorf("sqldb: max rows must be at least 1, got %d", opts.MaxRows)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Source{
		opts:    opts,
		urls:    map[string]string{},
		configs: map[string]*pgxpool.Config{},
		log:     opts.Logger,
		pools:   map[string]*pgxpool.Pool{},
		vetted:  map[string]bool{},
	}
	for name, url := range opts.Connections {
		upper := strings.ToUpper(name)
		if !connNameRE.MatchString(upper) {
			return nil, fmt.Errorf("sqldb: connection name %q must be letters, digits and underscores", name)
		}
		if _, dup := s.urls[upper]; dup {
			return nil, fmt.Errorf("sqldb: connection %s configured twice", upper)
		}
		cfg, err := poolConfig(url)
		if err != nil {
			// pgx redacts passwords from its parse errors.
			return nil, fmt.Errorf("sqldb: connection %s: %w", upper, err)
		}
		s.urls[upper] = url
		s.configs[upper] = cfg
	}
	return s, nil
}

// poolConfig parses a URL into a pool config with intake's defaults.
func poolConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	// The extended protocol with a describe step for every query: the
	// server refuses more than one statement in a prepared statement.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "intake"
	}
	return cfg, nil
}

// Close closes the pools opened so far. The Source must not be used after.
func (s *Source) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, p := range s.pools {
		p.Close()
		delete(s.pools, name)
	}
	s.closed = true
}

// Type returns SourceType.
func (s *Source) Type() string { return SourceType }

// ConfigSchema returns the config's schema component name and type.
func (s *Source) ConfigSchema() (string, any) { return SchemaName, Config{} }

// Example returns an example config.
func (s *Source) Example() json.RawMessage {
	return json.RawMessage(`{"connection":"WAREHOUSE","query":"SELECT id, name, created_at FROM customers WHERE region = $1","params":["EU"],"key":["id"],"rows_per_document":1000,"format":"ndjson"}`)
}

// Validate checks a config without connecting: the connection name is
// configured, the query starts as a SELECT, params are scalars, the key
// names plain columns. The database checks the rest on the first run.
func (s *Source) Validate(_ context.Context, config json.RawMessage) error {
	_, err := parseConfig(config, s.urls)
	return err
}

// MaxDocuments returns ceil(MaxRows/rows_per_document), the most documents
// a job can have.
func (s *Source) MaxDocuments(config json.RawMessage) int {
	cfg, err := parseConfig(config, s.urls)
	if err != nil {
		return 0
	}
	return (s.opts.MaxRows + cfg.RowsPerDocument - 1) / cfg.RowsPerDocument
}

// checkpoint is the state saved with each document.
type checkpoint struct {
	// After is the text form of the last collected row's key columns.
	After []string `json:"after,omitempty"`
	// Rows is the number of rows collected so far.
	Rows int `json:"rows"`
	// Done says the last page was short: there is nothing more.
	Done bool `json:"done,omitempty"`
}

// Plan describes the query in a read-only transaction (so that a query
// that cannot run fails the job on its first run) and returns an unknown
// total and an empty checkpoint.
func (s *Source) Plan(ctx context.Context, config json.RawMessage) (int, []byte, error) {
	cfg, err := parseConfig(config, s.urls)
	if err != nil {
		return 0, nil, err
	}
	err = s.inTx(ctx, cfg.Connection, func(tx pgx.Tx) error {
		_, err := describe(ctx, tx, cfg)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	cp, _ := json.Marshal(checkpoint{}) // a plain struct always marshals
	return intake.TotalUnknown, cp, nil
}

// Next returns document seq: the next rows_per_document rows in key order
// after the checkpoint's key. It returns intake.ErrExhausted when the
// previous page was the last, the page is empty, or MaxRows is reached.
func (s *Source) Next(ctx context.Context, config json.RawMessage, seq int, cpRaw []byte) (*intake.Item, error) {
	cfg, err := parseConfig(config, s.urls)
	if err != nil {
		return nil, err
	}
	var cp checkpoint
	if len(cpRaw) > 0 {
		if err := json.Unmarshal(cpRaw, &cp); err != nil {
			return nil, intake.Permanent(fmt.Errorf("sqldb: decode checkpoint of document %d: %w", seq-1, err))
		}
		if len(cp.After) != 0 && len(cp.After) != len(cfg.Key) {
			return nil, intake.Permanent(fmt.Errorf("sqldb: checkpoint of document %d has %d key values, key has %d columns", seq-1, len(cp.After), len(cfg.Key)))
		}
	}
	if cp.Done || cp.Rows >= s.opts.MaxRows {
		return nil, intake.ErrExhausted
	}
	limit := min(cfg.RowsPerDocument, s.opts.MaxRows-cp.Rows)

	var (
		sp   = &spool{}
		page pageResult
	)
	err = s.inTx(ctx, cfg.Connection, func(tx pgx.Tx) error {
		var err error
		page, err = readPage(ctx, tx, cfg, cp.After, limit, sp)
		return err
	})
	if err != nil {
		sp.discard()
		return nil, err
	}
	if page.rows == 0 {
		sp.discard()
		return nil, intake.ErrExhausted
	}
	next := checkpoint{After: page.last, Rows: cp.Rows + page.rows, Done: !page.more}
	if page.more && next.Rows >= s.opts.MaxRows {
		s.log.WarnContext(ctx, "database source: row cap reached, the rest of the result is not collected",
			"connection", cfg.Connection, "max_rows", s.opts.MaxRows)
		next.Done = true
	}
	cpOut, _ := json.Marshal(next) // strings and ints always marshal
	body, err := sp.reader()
	if err != nil {
		return nil, err
	}
	ext, ct := "ndjson", ContentTypeNDJSON
	if cfg.Format == FormatCSV {
		ext, ct = "csv", ContentTypeCSV
	}
	return &intake.Item{
		Name:         fmt.Sprintf("rows-%06d.%s", seq, ext),
		DocumentType: "rows",
		ContentType:  ct,
		Body:         body,
		Checkpoint:   cpOut,
	}, nil
}

// pageResult is what readPage read.
type pageResult struct {
	rows int      // rows kept in the document
	last []string // key text of the last kept row
	more bool     // a row beyond the page exists
}

// readPage runs the page query and encodes up to limit rows into w.
func readPage(ctx context.Context, tx pgx.Tx, cfg Config, after []string, limit int, w *spool) (pageResult, error) {
	var res pageResult
	fields, err := describe(ctx, tx, cfg)
	if err != nil {
		return res, err
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	sql, args := pageQuery(cfg, after, limit)
	rows, err := tx.Query(ctx, sql, append([]any{pgx.QueryExecModeDescribeExec, resultFormats(fields)}, args...)...)
	if err != nil {
		return res, classify(ctx, cfg.Connection, err)
	}
	defer rows.Close()

	enc, err := newEncoder(cfg.Format, names, w)
	if err != nil {
		return res, err
	}
	n := len(names)
	fds := rows.FieldDescriptions()
	if len(fds) != n+len(cfg.Key) {
		rows.Close()
		if err := rows.Err(); err != nil {
			return res, classify(ctx, cfg.Connection, err)
		}
		return res, intake.Permanent(fmt.Errorf("sqldb: page query returned %d columns, want %d", len(fds), n+len(cfg.Key)))
	}
	oids := make([]uint32, n)
	formats := make([]int16, n)
	for i := range n {
		oids[i], formats[i] = fds[i].DataTypeOID, fds[i].Format
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return res, intake.Permanent(fmt.Errorf("sqldb: decode row %d: %w", res.rows+1, err))
		}
		key := make([]string, len(cfg.Key))
		for i := range cfg.Key {
			v, ok := vals[n+i].(string)
			if vals[n+i] == nil || !ok {
				return res, intake.Permanent(fmt.Errorf("sqldb: key column %q is NULL in a row; the key must be unique and never NULL", cfg.Key[i]))
			}
			key[i] = v
		}
		if res.last != nil && equalKeys(res.last, key) {
			return res, intake.Permanent(fmt.Errorf("sqldb: key (%s) is not unique: two rows have %s", strings.Join(cfg.Key, ", "), strings.Join(key, ", ")))
		}
		if res.rows == limit {
			res.more = true
			break
		}
		raws := rows.RawValues()
		if err := enc.row(oids, vals[:n], raws[:n], formats); err != nil {
			return res, err
		}
		res.rows++
		res.last = key
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, classify(ctx, cfg.Connection, err)
	}
	if err := enc.flush(); err != nil {
		return res, err
	}
	return res, nil
}

func equalKeys(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// pageQuery wraps the query for one page of keyset pagination. The query
// goes on lines of its own, so that a trailing line comment cannot swallow
// the wrapper; the page reads one row more than it keeps.
func pageQuery(cfg Config, after []string, limit int) (string, []any) {
	const alias = "intake_q"
	cols := make([]string, len(cfg.Key))
	for i, k := range cfg.Key {
		cols[i] = alias + "." + pgx.Identifier{k}.Sanitize()
	}
	var b strings.Builder
	b.WriteString("SELECT " + alias + ".*")
	for _, c := range cols {
		b.WriteString(", " + c + "::text")
	}
	b.WriteString(" FROM (\n" + cfg.Query + "\n) AS " + alias)
	args := append([]any(nil), cfg.Params...)
	if len(after) > 0 {
		ps := make([]string, len(after))
		for i, v := range after {
			args = append(args, v)
			ps[i] = "$" + strconv.Itoa(len(args))
		}
		b.WriteString("\nWHERE (" + strings.Join(cols, ", ") + ") > (" + strings.Join(ps, ", ") + ")")
	}
	b.WriteString("\nORDER BY " + strings.Join(cols, ", "))
	b.WriteString("\nLIMIT " + strconv.Itoa(limit+1))
	return b.String(), args
}

// describe prepares the query alone and checks what it returns: columns,
// with unique names, including the key columns, and as many parameters as
// the config has.
func describe(ctx context.Context, tx pgx.Tx, cfg Config) ([]pgconn.FieldDescription, error) {
	sd, err := tx.Conn().PgConn().Prepare(ctx, "", cfg.Query, nil)
	if err != nil {
		return nil, classify(ctx, cfg.Connection, err)
	}
	if len(sd.Fields) == 0 {
		return nil, invalid(intake.FieldError{Location: "query", Message: "returns no columns: it must be a SELECT (or WITH … SELECT)"})
	}
	if len(sd.ParamOIDs) != len(cfg.Params) {
		return nil, invalid(intake.FieldError{
			Location: "params",
			Message:  fmt.Sprintf("the query takes %d parameters, params has %d", len(sd.ParamOIDs), len(cfg.Params)),
		})
	}
	seen := make(map[string]bool, len(sd.Fields))
	for _, f := range sd.Fields {
		if seen[f.Name] {
			return nil, invalid(intake.FieldError{Location: "query", Message: "result column names must be unique; alias the duplicates", Value: f.Name})
		}
		seen[f.Name] = true
	}
	var errs []intake.FieldError
	for i, k := range cfg.Key {
		if !seen[k] {
			errs = append(errs, intake.FieldError{Location: fmt.Sprintf("key[%d]", i), Message: "is not a column of the query's result", Value: k})
		}
	}
	if len(errs) > 0 {
		return nil, invalid(errs...)
	}
	return sd.Fields, nil
}

// inTx runs fn in a read-only transaction with the statement timeout, on
// the named connection's pool. The transaction is always rolled back (it has
// nothing to commit), and DISCARD ALL then drops whatever the query left on
// the session beyond it (advisory locks, LISTEN), or the connection is
// closed. A client-side deadline backs the server's statement timeout.
func (s *Source) inTx(ctx context.Context, name string, fn func(pgx.Tx) error) error {
	pool, err := s.pool(ctx, name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*s.opts.StatementTimeout+clientGrace)
	defer cancel()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return s.unavailable(ctx, name, err)
	}
	defer func() {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), clientGrace)
		defer rcancel()
		if _, err := conn.Exec(rctx, "DISCARD ALL"); err != nil {
			_ = conn.Conn().Close(rctx) // the pool drops a closed connection
		}
		conn.Release()
	}()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return s.unavailable(ctx, name, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	ms := max(1, s.opts.StatementTimeout.Milliseconds())
	if _, err := tx.Exec(ctx, "SET LOCAL statement_timeout = "+strconv.FormatInt(ms, 10)); err != nil {
		return s.unavailable(ctx, name, err)
	}
	if err := fn(tx); err != nil {
		var ce *connError
		if errors.As(err, &ce) {
			s.log.WarnContext(ctx, "database source: connection failed", "connection", name, "err", ce.err)
		}
		return err
	}
	return nil
}

// pool returns the named connection's pool, opening it on first use and
// checking once whether its role is a superuser.
func (s *Source) pool(ctx context.Context, name string) (*pgxpool.Pool, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("sqldb: source closed")
	}
	p, ok := s.pools[name]
	if !ok {
		cfg, known := s.configs[name]
		if !known {
			s.mu.Unlock()
			return nil, invalid(intake.FieldError{Location: "connection", Message: "unknown connection", Value: name})
		}
		var err error
		p, err = pgxpool.NewWithConfig(context.WithoutCancel(ctx), cfg.Copy())
		if err != nil {
			s.mu.Unlock()
			return nil, s.unavailable(ctx, name, err)
		}
		s.pools[name] = p
	}
	vetted := s.vetted[name]
	s.mu.Unlock()
	if !vetted {
		s.checkSuperuser(ctx, name, p)
	}
	return p, nil
}

// checkSuperuser logs a warning when the connection's role is a superuser.
// It marks the connection vetted only once the check has run.
func (s *Source) checkSuperuser(ctx context.Context, name string, p *pgxpool.Pool) {
	var super bool
	err := p.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super)
	if err != nil {
		return // the query that follows reports the connection's trouble
	}
	s.mu.Lock()
	first := !s.vetted[name]
	s.vetted[name] = true
	s.mu.Unlock()
	if first && super {
		s.log.WarnContext(ctx, "database source: connection role is a superuser; grant intake a read-only least-privilege role instead (see package sqldb)",
			"connection", name)
	}
}

// connError is a connection failure. Its message names the connection
// only; the cause, which may name hosts and users, goes to the log.
type connError struct {
	name string
	err  error
}

func (e *connError) Error() string {
	return "database connection " + e.name + " unavailable (details in the worker log)"
}

func (e *connError) Unwrap() error { return e.err }

// unavailable classifies err from connecting or starting a transaction.
func (s *Source) unavailable(ctx context.Context, name string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("sqldb: %w", err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return classify(ctx, name, err)
	}
	s.log.WarnContext(ctx, "database source: connection failed", "connection", name, "err", err)
	return &intake.Error{Code: intake.EUNAVAILABLE, Message: "database connection " + name + " unavailable", Err: &connError{name: name, err: err}}
}

// permanentClasses are the SQLSTATE classes of errors caused by the query
// itself, which retrying cannot fix.
var permanentClasses = map[string]bool{
	"0A": true, // feature not supported
	"21": true, // cardinality violation
	"22": true, // data exception (e.g. a parameter of the wrong type)
	"23": true, // integrity constraint violation
	"25": true, // invalid transaction state, incl. 25006 read-only violation
	"26": true, // invalid SQL statement name
	"2F": true, // SQL routine exception
	"34": true, // invalid cursor name
	"38": true, // external routine exception
	"39": true, // external routine invocation exception
	"3D": true, // invalid catalog name
	"3F": true, // invalid schema name
	"42": true, // syntax error or access rule violation (42601, 42P01, 42501, …)
	"44": true, // WITH CHECK OPTION violation
	"54": true, // program limit exceeded (statement too complex)
	"P0": true, // PL/pgSQL error raised
}

// classify maps a query error: SQL errors caused by the query are
// permanent, a statement timeout and everything else transient.
func classify(ctx context.Context, name string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("sqldb: %w", err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "57014":
			return fmt.Errorf("sqldb: query cancelled (statement timeout on connection %s): %w", name, err)
		case len(pgErr.Code) == 5 && permanentClasses[pgErr.Code[:2]]:
			return intake.Permanent(fmt.Errorf("sqldb: query failed: %w", err))
		}
		return fmt.Errorf("sqldb: query failed on connection %s: %w", name, err)
	}
	return &intake.Error{Code: intake.EUNAVAILABLE, Message: "database connection " + name + " unavailable", Err: &connError{name: name, err: err}}
}
