// Package store opens the job store that a database URL names. Each backend
// lives in a subpackage (sqlite, postgres, mongo) and passes the conformance
// suite in storetest.
package store

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store/mongostore"
	"github.com/intake-dev/intake/internal/store/postgresstore"
	"github.com/intake-dev/intake/internal/store/sqlitestore"
)

// Options configures the store that Open returns.
type Options struct {
	// Clock is the store's only source of time; time.Now when nil.
	Clock func() time.Time
	// Logger receives the store's logs; discarded when nil.
	Logger *slog.Logger
	// MaxConns is the PostgreSQL pool size; 0 keeps the URL's
	// pool_max_conns or pgxpool's default.
	MaxConns int32
	// StatementTimeout is PostgreSQL's statement_timeout; 0 means
	// postgresstore.DefaultStatementTimeout.
	StatementTimeout time.Duration
}

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
// The store is not migrated: stores with a schema implement
// intake.Migrator. Errors never include a URL's password.
func Open(ctx context.Context, rawURL string, opts Options) (intake.Store, error) {
	scheme, path, err := parse(rawURL)
	if err != nil {
		return nil, err
	}
	switch scheme {
	case "sqlite":
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, intake.WrapError(intake.EUNAVAILABLE, err, "open store: create directory %s", dir)
			}
		}
		s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path, Clock: opts.Clock, Logger: opts.Logger})
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	case "postgres", "postgresql":
		s, err := postgresstore.Open(ctx, postgresstore.Config{
			URL: rawURL, Clock: opts.Clock, Logger: opts.Logger,
			MaxConns: opts.MaxConns, StatementTimeout: opts.StatementTimeout,
		})
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	case "mongodb", "mongodb+srv":
		s, err := mongostore.Open(ctx, mongostore.Config{URI: rawURL, Clock: opts.Clock, Logger: opts.Logger})
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	default: // parse accepts no other scheme
		return nil, intake.Errorf(intake.EINTERNAL, "open store: scheme %q has no implementation", scheme)
	}
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

// Redact returns rawURL with its secrets replaced by "xxxxx", for logs and
// errors: the password of the userinfo, and the value of any query
// parameter whose name mentions a password, secret or token (libpq accepts
// ?password=). It assumes the worst of malformed URLs: when the userinfo
// cannot be told from the rest, everything before the last "@" goes.
func Redact(rawURL string) string {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		if strings.Contains(rawURL, "=") {
			// libpq's keyword/value form: "host=db password=secret".
			return userinfo.ReplaceAllString(keywordSecret.ReplaceAllString(rawURL, "${1}=xxxxx"), "xxxxx@")
		}
		if at := strings.LastIndex(rawURL, "@"); at >= 0 {
			return "xxxxx" + rawURL[at:]
		}
		if rawURL != "" && !strings.ContainsAny(rawURL, "/?") {
			return "xxxxx" // no URL at all: a bare password, say
		}
		return redactQuery(rawURL)
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if user, _, hasPassword := strings.Cut(rest[:at], ":"); hasPassword {
			if strings.ContainsAny(user, "/?#") { // not a plain user name
				user = "xxxxx"
			}
			rest = user + ":xxxxx" + rest[at:]
		}
	}
	// A keyword's value before the query ("scheme://password=secret",
	// found by FuzzDatabaseURL) is a secret too.
	base, query, hasQuery := strings.Cut(rest, "?")
	rest = keywordSecret.ReplaceAllString(base, "${1}=xxxxx")
	if hasQuery {
		rest += "?" + query
	}
	return scheme + "://" + redactQuery(rest)
}

// userinfo matches "user:secret@" inside a string that is no URL (found
// by FuzzDatabaseURL).
var userinfo = regexp.MustCompile(`[^\s=:/@]*:[^\s@]*@`)

// keywordSecret matches a secret-looking keyword of a keyword/value
// connection string and its value: unquoted up to the next space, or
// single-quoted with backslash escapes (to the end when the quote is not
// closed).
var keywordSecret = regexp.MustCompile(`(?i)([a-z0-9_]*(?:pass|secret|token|key)[a-z0-9_]*)\s*=\s*(?:'(?:\\.|[^'\\])*'?|\S*)`)

// redactQuery replaces the values of secret-looking query parameters.
func redactQuery(s string) string {
	base, query, ok := strings.Cut(s, "?")
	if !ok {
		return s
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		name, _, hasValue := strings.Cut(p, "=")
		n := strings.ToLower(name)
		if hasValue && (strings.Contains(n, "pass") || strings.Contains(n, "secret") || strings.Contains(n, "token")) {
			params[i] = name + "=xxxxx"
		}
	}
	return base + "?" + strings.Join(params, "&")
}
