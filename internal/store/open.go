package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store/driver"
	"github.com/intake-dev/intake/internal/store/mongostore"
	"github.com/intake-dev/intake/internal/store/postgresstore"
	"github.com/intake-dev/intake/internal/store/sqlitestore"
)

// Schemes lists the accepted database URL forms, for error messages.
const Schemes = "sqlite://PATH, postgres://…, postgresql://…, mongodb://… or mongodb+srv://…"

// Open opens the store that rawURL names by its scheme:
//
//	sqlite://PATH   an SQLite file; PATH is everything after "sqlite://", so
//	                sqlite://data/intake.db and sqlite://./data/intake.db are
//	                relative and sqlite:///var/lib/intake/intake.db absolute.
//	                The file's directory is created when missing.
//	postgres://…    PostgreSQL (also postgresql://), any pgx URL parameter.
//	mongodb://…     MongoDB (also mongodb+srv:// for Atlas); the database is
//	                the URL's path, default "intake".
//
// The store is not migrated: call Migrate first. Errors never include the
// URL's secrets.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	scheme, path, err := parse(rawURL)
	if err != nil {
		return nil, err
	}
	var d driver.Driver
	switch scheme {
	case "sqlite":
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, intake.WrapError(intake.EUNAVAILABLE, err, "open store: create directory %s", dir)
			}
		}
		d, err = sqlitestore.Open(ctx, sqlitestore.Config{Path: path, Logger: opts.Logger})
	case "postgres", "postgresql":
		d, err = postgresstore.Open(ctx, postgresstore.Config{
			URL: rawURL, Logger: opts.Logger, MaxConns: opts.MaxConns, StatementTimeout: opts.StatementTimeout,
		})
	case "mongodb", "mongodb+srv":
		d, err = mongostore.Open(ctx, mongostore.Config{URI: rawURL, Logger: opts.Logger})
	default: // parse accepts no other scheme
		return nil, intake.Errorf(intake.EINTERNAL, "open store: scheme %q has no implementation", scheme)
	}
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	s := New(d, opts)
	s.url = rawURL
	return s, nil
}

// parse splits a database URL into its lowercased scheme and, for sqlite,
// the file path. It rejects unknown schemes.
func parse(rawURL string) (scheme, path string, err error) {
	if strings.TrimSpace(rawURL) == "" {
		return "", "", intake.Errorf(intake.EINVALID, "database URL is empty; use sqlite://PATH")
	}
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok || scheme == "" || strings.ContainsAny(scheme, "/@:") {
		// Not repeated: without a scheme, nothing tells a password from the
		// rest (a bare password in the wrong variable, say).
		return "", "", intake.Errorf(intake.EINVALID, "database URL has no scheme; use %s", Schemes)
	}
	scheme = strings.ToLower(scheme)
	switch scheme {
	case "postgres", "postgresql", "mongodb", "mongodb+srv":
		return scheme, "", nil
	case "sqlite":
	default:
		return "", "", intake.Errorf(intake.EINVALID,
			"database URL scheme %q is not supported; accepted: %s", scheme, Schemes)
	}
	if rest == "" {
		return "", "", intake.Errorf(intake.EINVALID, "database URL %q has no path; use sqlite://PATH", rawURL)
	}
	return scheme, rest, nil
}
