// Package postgresstore is the PostgreSQL job store: a driver.Driver for
// store.Store with jackc/pgx v5 and a pgxpool connection pool.
//
// # URLs
//
// Config.URL is a libpq connection URL, postgres:// or postgresql://, for
// example
//
//	postgres://intake:secret@db.example.com:5432/intake?sslmode=verify-full&pool_max_conns=20
//
// Every parameter pgx understands is honoured (sslmode, connect_timeout,
// application_name, pool_max_conns, pool_max_conn_lifetime,
// default_query_exec_mode=exec behind PgBouncer in transaction mode, …),
// as are the libpq environment variables (PGPASSWORD, PGSSLMODE, …) for
// whatever the URL leaves out. Any other query parameter is sent to the
// server as a run-time parameter. Connections identify themselves as
// application_name "intake" unless the URL names another.
//
// # Pool size, statement timeout, schema
//
// Config.MaxConns sets the pool size; when it is zero the URL's
// pool_max_conns does, and without either pgxpool's default applies (the
// greater of 4 and the number of CPUs). Config.StatementTimeout (default
// 30s) is sent as the statement_timeout run-time parameter of every
// connection, so the server cancels any statement that runs longer; a
// statement_timeout in the URL is kept when the Config leaves it zero.
// Migrations run without a statement timeout. Config.Schema, when set, puts
// every table (and goose's version table) in that schema, through the
// connections' search_path; Migrate creates it.
//
// # Connection loss
//
// Errors that mean the server is unreachable or restarting (a failed
// connect, a terminated backend, 57P01 admin_shutdown, 57P03
// cannot_connect_now, a read-only standby after a failover, network errors)
// and errors that mean "try again" (57014 statement timeout, serialization
// failures, deadlocks, an exhausted server) are classified
// intake.EUNAVAILABLE, which the API answers with 503 and Retry-After. When
// the connection was lost Classify also resets the pool, so the next call
// dials afresh rather than finding another dead connection; pgxpool
// reconnects by itself from then on, and it pings a connection that has
// been idle for more than a second before handing it out. Unique
// violations are ECONFLICT and invalid input (SQLSTATE class 22) is
// EINVALID. Errors and logs never contain the URL's password.
//
// # Queries
//
// A claim is one statement: a CTE selects the oldest pending job FOR UPDATE
// SKIP LOCKED through the partial index jobs_pending (available_at, id)
// WHERE status = 'pending', and an UPDATE … FROM it … RETURNING takes the
// lease, so concurrent workers never wait for each other and the claim stays
// O(log n) however many jobs are queued. RecordDocument updates the job and
// inserts the document in one statement (a data-modifying CTE); Maintain
// promotes and expires jobs in one statement that skips rows another replica
// has locked, so replicas share the work and never deadlock.
package postgresstore

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/redact"
	"github.com/intake-dev/intake/internal/store/driver"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultStatementTimeout is the statement timeout of Config's zero value.
const DefaultStatementTimeout = 30 * time.Second

// defaultApplicationName identifies intake's connections in
// pg_stat_activity when the URL does not name the application.
const defaultApplicationName = "intake"

// Config configures a Driver.
type Config struct {
	// URL is the connection URL, postgres://… or postgresql://…; see the
	// package documentation for its parameters.
	URL string
	// Schema, when set, holds every table, including goose's version
	// table; Migrate creates it. It must be a lowercase SQL identifier
	// (letters, digits, underscores). Empty means the server's default
	// search_path (usually public).
	Schema string
	// Logger receives migration, connection-loss and diagnostic logs;
	// discarded when nil.
	Logger *slog.Logger
	// MaxConns is the pool size. Zero means the URL's pool_max_conns, or
	// else pgxpool's default (the greater of 4 and the number of CPUs).
	MaxConns int32
	// StatementTimeout bounds every statement on the server. Zero means the
	// URL's statement_timeout parameter if it has one, else
	// DefaultStatementTimeout; a negative value disables the timeout.
	StatementTimeout time.Duration
}

// Driver is the PostgreSQL job store driver.
type Driver struct {
	pool   *pgxpool.Pool
	schema string // validated identifier, or "" for the default schema
	logger *slog.Logger
}

var _ driver.Driver = (*Driver)(nil)

// schemaName is what Config.Schema accepts: a lowercase identifier that
// needs no quoting (goose interpolates the version table's name unquoted).
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Open connects to the server cfg.URL names and checks that it answers. It
// does not migrate the schema: call Migrate (intake migrate) first. A
// malformed URL or Config is an EINVALID error; a server that cannot be
// reached is EUNAVAILABLE.
func Open(ctx context.Context, cfg Config) (*Driver, error) {
	pcfg, err := poolConfig(cfg)
	if err != nil {
		return nil, err
	}
	s := &Driver{schema: cfg.Schema, logger: cfg.Logger}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, intake.WrapError(intake.EINVALID, redact.Error(err, cfg.URL), "postgres: open")
	}
	if err := s.pool.Ping(ctx); err != nil {
		s.pool.Close()
		return nil, driver.Wrap(redact.Error(err, cfg.URL), codeOf, "postgres: open")
	}
	s.logger.Debug("opened postgres job store", "host", pcfg.ConnConfig.Host, "database", pcfg.ConnConfig.Database,
		"schema", cfg.Schema, "max_conns", pcfg.MaxConns,
		"statement_timeout", pcfg.ConnConfig.RuntimeParams["statement_timeout"]+"ms")
	return s, nil
}

// poolConfig turns cfg into a pgxpool configuration.
func poolConfig(cfg Config) (*pgxpool.Config, error) {
	scheme, rest, ok := strings.Cut(cfg.URL, "://")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "postgres" && scheme != "postgresql") {
		return nil, intake.Errorf(intake.EINVALID, "postgres: the URL must start with postgres:// or postgresql://")
	}
	if cfg.Schema != "" && (!schemaName.MatchString(cfg.Schema) || strings.HasPrefix(cfg.Schema, "pg_")) {
		return nil, intake.Errorf(intake.EINVALID,
			"postgres: schema %q must be a lowercase identifier (a-z, 0-9, _; not pg_*) of at most 63 bytes", cfg.Schema)
	}
	if cfg.MaxConns < 0 {
		return nil, intake.Errorf(intake.EINVALID, "postgres: MaxConns must not be negative, not %d", cfg.MaxConns)
	}
	// pgx recognises a URL only by a lowercase scheme.
	pcfg, err := pgxpool.ParseConfig(scheme + "://" + rest)
	if err != nil {
		return nil, intake.WrapError(intake.EINVALID, redact.Error(err, cfg.URL), "postgres: invalid URL")
	}
	if cfg.MaxConns > 0 {
		pcfg.MaxConns = cfg.MaxConns
	}
	params := pcfg.ConnConfig.RuntimeParams
	if params["application_name"] == "" {
		params["application_name"] = defaultApplicationName
	}
	switch {
	case cfg.StatementTimeout > 0:
		params["statement_timeout"] = strconv.FormatInt(max(1, cfg.StatementTimeout.Milliseconds()), 10)
	case cfg.StatementTimeout < 0:
		params["statement_timeout"] = "0"
	case params["statement_timeout"] == "":
		params["statement_timeout"] = strconv.FormatInt(DefaultStatementTimeout.Milliseconds(), 10)
	}
	if cfg.Schema != "" {
		params["search_path"] = cfg.Schema
	}
	return pcfg, nil
}

// Ping checks that the server answers.
func (s *Driver) Ping(ctx context.Context) error {
	return s.pool.Ping(ctx)
}

// Close closes the pool, waiting for connections in use to be returned.
func (s *Driver) Close() error {
	s.pool.Close()
	return nil
}

// Classify returns the intake error code of an error from pgx. When the
// error means that the connection to the server was lost, it resets the
// pool so that the next call reconnects.
func (s *Driver) Classify(err error) (code string, retryAfter time.Duration) {
	code, lost := classify(err)
	if lost {
		s.logger.Warn("lost the connection to PostgreSQL; resetting the pool", "err", err)
		s.pool.Reset()
	}
	return code, retryAfterOf(code)
}

// codeOf is Classify without the pool reset, for the errors of Open.
func codeOf(err error) (code string, retryAfter time.Duration) {
	code, _ = classify(err)
	return code, retryAfterOf(code)
}

// retryAfter is the RetryAfter hint of EUNAVAILABLE errors: about as long
// as a server restart or a failover takes to begin accepting connections.
const retryAfter = 5 * time.Second

func retryAfterOf(code string) time.Duration {
	if code == intake.EUNAVAILABLE {
		return retryAfter
	}
	return 0
}

// classify returns the intake error code for an error from pgx, and whether
// it means that the connection (and likely every pooled one) is gone.
func classify(err error) (code string, lost bool) {
	var (
		connectErr *pgconn.ConnectError
		pgErr      *pgconn.PgError
		netErr     net.Error
	)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return intake.ENOTFOUND, false
	case errors.As(err, &connectErr):
		// Refused, unresolvable, authentication failed, server starting up
		// or shutting down, too many connections: all from the dial.
		return intake.EUNAVAILABLE, true
	case errors.As(err, &pgErr):
		return classifySQLState(pgErr.Code)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err):
		return intake.EUNAVAILABLE, false
	case errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, net.ErrClosed), errors.As(err, &netErr):
		return intake.EUNAVAILABLE, true
	case pgconn.SafeToRetry(err):
		return intake.EUNAVAILABLE, false
	}
	return intake.EINTERNAL, false
}

// classifySQLState maps a server error's SQLSTATE to an intake error code
// (https://www.postgresql.org/docs/current/errcodes-appendix.html).
func classifySQLState(state string) (code string, lost bool) {
	switch state {
	case "57014": // query_canceled: the statement timeout
		return intake.EUNAVAILABLE, false
	case "57P01", "57P02", "57P03", "57P04", "57P05": // admin/crash shutdown, cannot connect now, database dropped, idle session timeout
		return intake.EUNAVAILABLE, true
	case "25006": // read_only_sql_transaction: connected to a standby after a failover
		return intake.EUNAVAILABLE, true
	case "55P03", "55006": // lock_not_available, object_in_use
		return intake.EUNAVAILABLE, false
	}
	if len(state) < 2 {
		return intake.EINTERNAL, false
	}
	switch state[:2] {
	case "08": // connection exception
		return intake.EUNAVAILABLE, true
	case "40", "53", "58": // transaction rollback (serialization, deadlock), insufficient resources, system error
		return intake.EUNAVAILABLE, false
	case "23": // integrity constraint violation
		return intake.ECONFLICT, false
	case "22": // data exception: malformed input the caller sent
		return intake.EINVALID, false
	}
	return intake.EINTERNAL, false
}
