package database

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
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
		return nil, fmt.Errorf("database source: statement timeout %s must be at least 1ms", opts.StatementTimeout)
	}
	if opts.MaxRows < 1 {
		return nil, fmt.Errorf("database source: max rows must be at least 1, got %d", opts.MaxRows)
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
			return nil, fmt.Errorf("database source: connection name %q must be letters, digits and underscores", name)
		}
		if _, dup := s.urls[upper]; dup {
			return nil, fmt.Errorf("database source: connection %s configured twice", upper)
		}
		cfg, err := poolConfig(url)
		if err != nil {
			// pgx redacts passwords from its parse errors.
			return nil, fmt.Errorf("database source: connection %s: %w", upper, err)
		}
		s.urls[upper] = url
		s.configs[upper] = cfg
	}
	return s, nil
}

// Close closes the pools opened so far. The Source must not be used after.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, p := range s.pools {
		p.Close()
		delete(s.pools, name)
	}
	s.closed = true
	return nil
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
			return nil, intake.Permanent(fmt.Errorf("database source: decode checkpoint of document %d: %w", seq-1, err))
		}
		if len(cp.After) != 0 && len(cp.After) != len(cfg.Key) {
			return nil, intake.Permanent(fmt.Errorf("database source: checkpoint of document %d has %d key values, key has %d columns", seq-1, len(cp.After), len(cfg.Key)))
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
		Identity:     identity(cfg, cp.Rows, limit),
		DocumentType: "rows",
		ContentType:  ct,
		Body:         body,
		Checkpoint:   cpOut,
	}, nil
}

// identity returns the Identity of the page of up to limit rows after the
// first rows: its range of row numbers and the key that orders them.
func identity(cfg Config, rows, limit int) string {
	return fmt.Sprintf("rows %d-%d by (%s)", rows+1, rows+limit, strings.Join(cfg.Key, ", "))
}
