package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/intake-dev/intake"
	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable is goose's record of applied migrations.
const versionTable = goose.DefaultTablename

// newProvider returns a goose provider over the embedded migrations.
func (s *Driver) newProvider(db *sql.DB, opts ...goose.ProviderOption) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	opts = append([]goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(s.logger),
	}, opts...)
	return goose.NewProvider(goose.DialectSQLite3, db, fsys, opts...)
}

// Migrate applies pending migrations. Concurrent calls, from this process
// or others sharing the file, are serialised by a lock row, so each
// migration runs once.
func (s *Driver) Migrate(ctx context.Context) (err error) {
	// goose holds one connection for the whole run while the lock is
	// released through another, so migrations get a pool of their own
	// rather than the single-connection writer.
	db, err := sql.Open("sqlite", dsn(s.path, false))
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := s.newProvider(db)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	// The lock covers all of Up, including goose's creation of its version
	// table, which goose's own locker option would leave outside.
	l := &migrationLock{owner: intake.NewID(), ttl: 5 * time.Minute}
	if err := l.lock(ctx, db); err != nil {
		return err
	}
	defer func() {
		if uerr := l.unlock(context.WithoutCancel(ctx), db); uerr != nil {
			err = errors.Join(err, uerr)
		}
	}()
	results, err := p.Up(ctx)
	if err != nil {
		return err
	}
	for _, r := range results {
		s.logger.Info("applied migration", "version", r.Source.Version, "file", r.Source.Path,
			"duration", r.Duration)
	}
	return nil
}

// SchemaStatus returns the version of the database's schema (0 before the
// first migration) and the newest version embedded in this binary. It only
// reads: it does not create goose's version table.
func (s *Driver) SchemaStatus(ctx context.Context) (current, want int64, err error) {
	p, err := s.newProvider(s.reader)
	if err != nil {
		return 0, 0, fmt.Errorf("load migrations: %w", err)
	}
	for _, src := range p.ListSources() {
		want = max(want, src.Version)
	}
	var exists bool
	err = s.reader.QueryRowContext(ctx,
		`SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = ?`, versionTable).Scan(&exists)
	if err != nil {
		return 0, want, err
	}
	if !exists {
		return 0, want, nil
	}
	err = s.reader.QueryRowContext(ctx,
		`SELECT coalesce(max(version_id), 0) FROM `+versionTable+` WHERE is_applied`).Scan(&current)
	if err != nil {
		return 0, want, err
	}
	return current, want, nil
}

// migrationLock serialises migrators on SQLite, which has no advisory locks:
// a single row that one migrator at a time owns. The row carries an
// expiry, in wall-clock time, so that a migrator that crashed does not
// block the others forever.
type migrationLock struct {
	owner string
	ttl   time.Duration
}

// lock waits until this migrator owns the lock row or ctx is done.
func (l *migrationLock) lock(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS intake_migration_lock (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		owner TEXT NOT NULL,
		expires_at INTEGER NOT NULL
	) STRICT`)
	if err != nil {
		return fmt.Errorf("create migration lock table: %w", err)
	}
	for {
		now := time.Now()
		res, err := db.ExecContext(ctx, `INSERT INTO intake_migration_lock (id, owner, expires_at)
			VALUES (1, ?1, ?2)
			ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
			WHERE intake_migration_lock.expires_at <= ?3`, l.owner, ms(now.Add(l.ttl)), ms(now))
		if err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for migration lock: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// unlock releases the lock row if this migrator still owns it.
func (l *migrationLock) unlock(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `DELETE FROM intake_migration_lock WHERE owner = ?`, l.owner)
	if err != nil {
		return fmt.Errorf("release migration lock: %w", err)
	}
	return nil
}
