package database

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/intake-dev/intake"
)

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
		return nil, errors.New("database source: source closed")
	}
	p, ok := s.pools[name]
	if !ok {
		cfg, known := s.configs[name]
		if !known {
			s.mu.Unlock()
			return nil, intake.Invalid("database config", intake.FieldError{Location: "connection", Message: "unknown connection", Value: name})
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
		s.log.WarnContext(ctx, "database source: connection role is a superuser; grant intake a read-only least-privilege role instead (see the README's database source section)",
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
		return fmt.Errorf("database source: %w", err)
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
		return fmt.Errorf("database source: %w", err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "57014":
			return fmt.Errorf("database source: query cancelled (statement timeout on connection %s): %w", name, err)
		case len(pgErr.Code) == 5 && permanentClasses[pgErr.Code[:2]]:
			return intake.Permanent(fmt.Errorf("database source: query failed: %w", err))
		}
		return fmt.Errorf("database source: query failed on connection %s: %w", name, err)
	}
	return &intake.Error{Code: intake.EUNAVAILABLE, Message: "database connection " + name + " unavailable", Err: &connError{name: name, err: err}}
}
