package postgresstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// migrations holds the schema's goose migrations. migrations/README.md
// states the rule every new file follows: expand, then contract.
//
//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is goose's record of applied migrations, qualified with the
// store's schema when it has one.
func (s *Driver) versionTable() string {
	if s.schema == "" {
		return goose.DefaultTablename
	}
	return s.schema + "." + goose.DefaultTablename
}

// newProvider returns a goose provider over the embedded migrations.
func (s *Driver) newProvider(db *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(s.logger),
		goose.WithTableName(s.versionTable()),
	)
}

// lockKey is the pg_advisory_lock key that serialises migrations of one
// schema. Advisory locks are per database, so the schema is all it needs.
func (s *Driver) lockKey() int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("intake migrate " + s.schema))
	return int64(h.Sum64()) //nolint:gosec // a lock key: any 64 bits do
}

// Migrate creates the schema (when Config.Schema names one) and applies
// pending migrations. Concurrent calls, from this process or other
// replicas, are serialised by a session advisory lock held around all of
// it, so each migration runs once. Migrations run without a statement
// timeout.
func (s *Driver) Migrate(ctx context.Context) (err error) {
	// goose speaks database/sql; its connections are the pool's
	// configuration without the statement timeout, so that a long index
	// build is not cancelled.
	cc := s.pool.Config().ConnConfig.Copy()
	cc.RuntimeParams["statement_timeout"] = "0"
	db := stdlib.OpenDB(*cc)
	defer db.Close()

	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	key := s.lockKey()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return fmt.Errorf("take the migration lock: %w", err)
	}
	defer func() {
		// A lost session has released the lock already.
		if _, uerr := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, key); uerr != nil {
			err = errors.Join(err, fmt.Errorf("release the migration lock: %w", uerr))
		}
	}()
	if s.schema != "" {
		if _, err := conn.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+s.schema); err != nil {
			return fmt.Errorf("create schema %s: %w", s.schema, err)
		}
	}
	p, err := s.newProvider(db)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return err
	}
	for _, r := range results {
		s.logger.Info("applied migration", "version", r.Source.Version, "file", r.Source.Path,
			"schema", s.schema, "duration", r.Duration)
	}
	return nil
}

// SchemaStatus returns the version of the database's schema (0 before the
// first migration, also when the schema does not exist) and the newest
// version embedded in this binary. It only reads.
func (s *Driver) SchemaStatus(ctx context.Context) (current, want int64, err error) {
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	p, err := s.newProvider(db)
	if err != nil {
		return 0, 0, fmt.Errorf("load migrations: %w", err)
	}
	for _, src := range p.ListSources() {
		want = max(want, src.Version)
	}
	var schema *string
	if s.schema != "" {
		schema = &s.schema
	}
	var exists bool
	err = s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables
		WHERE schemaname = coalesce($1, current_schema()) AND tablename = $2)`,
		schema, goose.DefaultTablename).Scan(&exists)
	if err != nil {
		return 0, want, err
	}
	if !exists {
		return 0, want, nil
	}
	err = s.pool.QueryRow(ctx,
		`SELECT coalesce(max(version_id), 0) FROM `+s.versionTable()+` WHERE is_applied`).Scan(&current)
	if err != nil {
		return 0, want, err
	}
	return current, want, nil
}
