// Package store is intake's job store: Store, the portable type that
// commands, the API and the worker hold, over a driver.Driver that holds
// only a backend's queries. Each backend lives in a subpackage
// (sqlitestore, postgresstore, mongostore); Open picks one by the
// database URL's scheme, and storetest is the conformance suite every
// driver passes through Store.
//
// Store does what the contract asks of every backend alike: it validates
// arguments (the same EINVALID errors everywhere), reads the clock,
// defaults and pages, encodes list cursors, tells "missing" from
// "terminal" for Cancel, sorts Maintain's result, and gives each driver
// error its intake code, RetryAfter and a message without secrets.
package store

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/redact"
	"github.com/intake-dev/intake/internal/store/driver"
)

// Options configures a Store.
type Options struct {
	// Clock is the store's only source of time; time.Now when nil.
	Clock func() time.Time
	// Logger receives the store's logs; discarded when nil.
	Logger *slog.Logger
	// MaxConns is the PostgreSQL pool size (Open only); 0 keeps the URL's
	// pool_max_conns or pgxpool's default.
	MaxConns int32
	// StatementTimeout is PostgreSQL's statement_timeout (Open only); 0
	// means postgresstore.DefaultStatementTimeout.
	StatementTimeout time.Duration
}

// Store is the job store. It implements intake.Store and intake.Migrator
// over a driver, and is safe for concurrent use.
type Store struct {
	d      driver.Driver
	clock  func() time.Time
	logger *slog.Logger
	url    string // the database URL, whose secrets errors must not repeat

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var (
	_ intake.Store    = (*Store)(nil)
	_ intake.Migrator = (*Store)(nil)
)

// New returns a Store over d. Closing the Store closes d.
func New(d driver.Driver, opts Options) *Store {
	s := &Store{d: d, clock: opts.Clock, logger: opts.Logger}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s
}

// now returns the clock's time at the precision every driver keeps.
func (s *Store) now() time.Time {
	return s.clock().UTC().Truncate(time.Millisecond)
}

// errClosed is the cause of the errors of a closed store.
var errClosed = errors.New("the store is closed")

// wrap describes a driver's error and classifies it (see driver.Wrap).
// Once the store is closed every error is EUNAVAILABLE.
func (s *Store) wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	classify := driver.Classifier(s.d.Classify)
	if s.closed.Load() {
		classify = func(error) (string, time.Duration) { return intake.EUNAVAILABLE, 0 }
	}
	if s.url != "" {
		err = redact.Error(err, s.url)
	}
	return driver.Wrap(err, classify, format, args...)
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return s.wrap(errClosed, "ping job store")
	}
	return s.wrap(s.d.Ping(ctx), "ping job store")
}

// Close closes the driver. Later calls return EUNAVAILABLE errors; closing
// twice is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closeErr = s.wrap(s.d.Close(), "close job store")
	})
	return s.closeErr
}

// Migrate applies pending migrations; concurrent calls are safe.
func (s *Store) Migrate(ctx context.Context) error {
	if s.closed.Load() {
		return s.wrap(errClosed, "migrate")
	}
	return s.wrap(s.d.Migrate(ctx), "migrate")
}

// SchemaStatus returns the schema version in the database and the one this
// binary expects.
func (s *Store) SchemaStatus(ctx context.Context) (current, want int64, err error) {
	current, want, err = s.d.SchemaStatus(ctx)
	return current, want, s.wrap(err, "schema status")
}
