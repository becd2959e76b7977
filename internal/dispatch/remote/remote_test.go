package remote_test

import (
	"bytes"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/dispatch/remote"
)

func TestCheckURL(t *testing.T) {
	t.Parallel()
	const secret = "s3cretpw"
	tests := []struct {
		name, raw string
		wantMsg   string // "" when the URL is fine
	}{
		{"postgres", "postgres://u:" + secret + "@127.0.0.1:5432/test", ""},
		{"second scheme", "postgresql://127.0.0.1/test", ""},
		{"empty", " ", "URL is empty; use postgres://host/db"},
		{"unparseable", "postgres://u:" + secret + "@127.0.0.1:5432/%zz", "invalid URL escape"},
		{"keyword/value form", "host=127.0.0.1 password=" + secret, "scheme must be postgres:// or postgresql://"},
		{"wrong scheme", "mysql://u:" + secret + "@127.0.0.1/test", "scheme must be postgres:// or postgresql://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := remote.CheckURL("pgnotify", tt.raw, "postgres://host/db", "postgres", "postgresql")
			if tt.wantMsg == "" {
				if err != nil {
					t.Errorf("CheckURL(%q) = %v, want nil", tt.raw, err)
				}
				return
			}
			if code := intake.ErrorCode(err); code != intake.EINVALID {
				t.Fatalf("CheckURL(%q) = %v (code %q), want %s", tt.raw, err, code, intake.EINVALID)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "pgnotify: ") || !strings.Contains(msg, tt.wantMsg) || strings.Contains(msg, secret) {
				t.Errorf("CheckURL(%q) = %q, want it to start with the component, contain %q and no password", tt.raw, msg, tt.wantMsg)
			}
		})
	}
}

// TestOutage follows one outage on synctest's fake clock: the waits double
// from MinBackoff up to the cap, one warning is logged per WarnEvery, the
// recovery is logged once, and Reset starts the backoff again.
func TestOutage(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		o := remote.NewOutage(slog.New(slog.NewTextHandler(&logs, nil)), 2*time.Second, "answers again")
		if !o.RetryAt().IsZero() {
			t.Fatalf("RetryAt before any failure = %v, want zero", o.RetryAt())
		}
		boom := errors.New("connection refused")
		var waits []time.Duration
		for range 6 {
			w := o.Fail(boom, "down")
			if got := time.Until(o.RetryAt()); got != w {
				t.Errorf("RetryAt is %v away after Fail returned %v", got, w)
			}
			waits = append(waits, w)
			time.Sleep(w)
		}
		want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second}
		if !slices.Equal(waits, want) {
			t.Errorf("waits = %v, want %v", waits, want)
		}
		if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
			t.Errorf("%d warnings within %v, want 1:\n%s", n, remote.WarnEvery, logs.String())
		}
		time.Sleep(remote.WarnEvery)
		o.Fail(boom, "")
		o.Fail(boom, "still down")
		if out := logs.String(); strings.Count(out, "level=WARN") != 2 || !strings.Contains(out, "suppressed=5") || strings.Contains(out, `msg=""`) {
			t.Errorf("after %v, want a second warning counting the 5 warnings not logged (a failure without a message is no warning):\n%s", remote.WarnEvery, out)
		}

		o.Recovered()
		o.Recovered()
		if n := strings.Count(logs.String(), "answers again"); n != 1 {
			t.Errorf("the recovery was logged %d times, want once", n)
		}
		if w := o.Fail(boom, ""); w != 2*time.Second {
			t.Errorf("the first wait after Recovered without Reset = %v, want the backoff kept at 2s", w)
		}
		o.Reset()
		if !o.RetryAt().IsZero() {
			t.Errorf("RetryAt after Reset = %v, want zero", o.RetryAt())
		}
		if w := o.Fail(boom, ""); w != remote.MinBackoff {
			t.Errorf("the first wait after Reset = %v, want %v", w, remote.MinBackoff)
		}
	})
}
