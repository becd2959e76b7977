package postgresstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestPoolConfig(t *testing.T) {
	t.Parallel()
	defaultConns := int32(max(4, runtime.NumCPU()))
	tests := []struct {
		name    string
		cfg     Config
		conns   int32
		timeout string // statement_timeout, in milliseconds
		app     string
		path    string // search_path
	}{
		{"defaults", Config{URL: "postgres://h/db"}, defaultConns, "30000", "intake", ""},
		{"pool_max_conns in the URL", Config{URL: "postgres://h/db?pool_max_conns=3"}, 3, "30000", "intake", ""},
		{"MaxConns wins over the URL", Config{URL: "postgresql://h/db?pool_max_conns=3", MaxConns: 7}, 7, "30000", "intake", ""},
		{"StatementTimeout", Config{URL: "postgres://h/db", StatementTimeout: 1500 * time.Millisecond}, defaultConns, "1500", "intake", ""},
		{"sub-millisecond timeout rounds up", Config{URL: "postgres://h/db", StatementTimeout: time.Microsecond}, defaultConns, "1", "intake", ""},
		{"no timeout", Config{URL: "postgres://h/db", StatementTimeout: -1}, defaultConns, "0", "intake", ""},
		{"URL's statement_timeout kept", Config{URL: "postgres://h/db?statement_timeout=2500"}, defaultConns, "2500", "intake", ""},
		{"StatementTimeout wins over the URL", Config{URL: "postgres://h/db?statement_timeout=2500", StatementTimeout: time.Second}, defaultConns, "1000", "intake", ""},
		{"URL's application_name kept", Config{URL: "postgres://h/db?application_name=intake-worker"}, defaultConns, "30000", "intake-worker", ""},
		{"schema", Config{URL: "postgres://h/db?search_path=other", Schema: "intake_a"}, defaultConns, "30000", "intake", "intake_a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pc, err := poolConfig(tt.cfg)
			if err != nil {
				t.Fatalf("poolConfig: %v", err)
			}
			p := pc.ConnConfig.RuntimeParams
			if pc.MaxConns != tt.conns || p["statement_timeout"] != tt.timeout || p["application_name"] != tt.app ||
				p["search_path"] != tt.path {
				t.Errorf("MaxConns %d, statement_timeout %q, application_name %q, search_path %q; want %d, %q, %q, %q",
					pc.MaxConns, p["statement_timeout"], p["application_name"], p["search_path"],
					tt.conns, tt.timeout, tt.app, tt.path)
			}
			if _, ok := p["pool_max_conns"]; ok {
				t.Error("pool_max_conns would be sent to the server")
			}
		})
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		code string
		lost bool
	}{
		{"no rows", fmt.Errorf("scan: %w", pgx.ErrNoRows), intake.ENOTFOUND, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, intake.ECONFLICT, false},
		{"foreign key violation", &pgconn.PgError{Code: "23503"}, intake.ECONFLICT, false},
		{"invalid text representation", &pgconn.PgError{Code: "22P02"}, intake.EINVALID, false},
		{"untranslatable character", &pgconn.PgError{Code: "22P05"}, intake.EINVALID, false},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, intake.EUNAVAILABLE, false},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, intake.EUNAVAILABLE, true},
		{"cannot connect now", &pgconn.PgError{Code: "57P03"}, intake.EUNAVAILABLE, true},
		{"read-only standby", &pgconn.PgError{Code: "25006"}, intake.EUNAVAILABLE, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, intake.EUNAVAILABLE, true},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, intake.EUNAVAILABLE, false},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, intake.EUNAVAILABLE, false},
		{"too many connections", &pgconn.PgError{Code: "53300"}, intake.EUNAVAILABLE, false},
		{"undefined table", &pgconn.PgError{Code: "42P01"}, intake.EINTERNAL, false},
		{"connect error", &pgconn.ConnectError{Config: &pgconn.Config{}}, intake.EUNAVAILABLE, true},
		{"conn closed", fmt.Errorf("query: %w", pgconn.ErrConnClosed), intake.EUNAVAILABLE, true},
		{"unexpected EOF", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), intake.EUNAVAILABLE, true},
		{"network error", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, intake.EUNAVAILABLE, true},
		{"context canceled", fmt.Errorf("query: %w", context.Canceled), intake.EUNAVAILABLE, false},
		{"deadline exceeded", context.DeadlineExceeded, intake.EUNAVAILABLE, false},
		{"anything else", errors.New("cannot scan"), intake.EINTERNAL, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, lost := classify(tt.err)
			if code != tt.code || lost != tt.lost {
				t.Errorf("classify(%v) = %q, %v; want %q, %v", tt.err, code, lost, tt.code, tt.lost)
			}
			if _, retry := codeOf(tt.err); (retry == retryAfter) != (tt.code == intake.EUNAVAILABLE) || (retry != 0 && retry != retryAfter) {
				t.Errorf("codeOf(%v) gives RetryAfter %v, want %v only for EUNAVAILABLE", tt.err, retry, retryAfter)
			}
		})
	}
}
