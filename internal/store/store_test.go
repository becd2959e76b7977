package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store/driver"
	"github.com/intake-dev/intake/internal/store/sqlitestore"
)

// TestWrap checks what every driver's errors become: the driver's code
// (or the code an intake error already has), a RetryAfter with
// EUNAVAILABLE, no secret of the database URL, the cause still in the
// chain, and EUNAVAILABLE for everything once the store is closed.
func TestWrap(t *testing.T) {
	t.Parallel()
	d, err := sqlitestore.Open(t.Context(), sqlitestore.Config{Path: filepath.Join(t.TempDir(), "intake.db")})
	if err != nil {
		t.Fatal(err)
	}
	s := New(d, Options{})
	s.url = "mongodb://intake:pa%24%24word@db.example/intake"
	tests := []struct {
		name  string
		err   error
		code  string
		retry time.Duration
		text  string
	}{
		{"unavailable, redacted", fmt.Errorf("auth as intake with pa$$word: %w", context.Canceled),
			intake.EUNAVAILABLE, driver.DefaultRetryAfter, "ping: job store unavailable: auth as intake with xxxxx: context canceled"},
		{"intake error kept", intake.ErrLeaseLost, intake.ELEASELOST, 0, "ping: lease lost"},
		{"anything else", errors.New("boom"), intake.EINTERNAL, 0, "ping: boom"},
	}
	for _, tt := range tests {
		err := s.wrap(tt.err, "ping")
		var ie *intake.Error
		if !errors.As(err, &ie) || ie.Code != tt.code || ie.RetryAfter != tt.retry || err.Error() != tt.text {
			t.Errorf("%s: wrap = %q (%+v), want code %q, RetryAfter %v, text %q", tt.name, err, ie, tt.code, tt.retry, tt.text)
		}
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: %v does not unwrap to its cause", tt.name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.wrap(errors.New("boom"), "ping"); intake.ErrorCode(err) != intake.EUNAVAILABLE {
		t.Errorf("wrap after Close = %v, want EUNAVAILABLE", err)
	}
}
