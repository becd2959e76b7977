package pgnotify_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/dispatch/dispatchtest"
	"github.com/intake-dev/intake/internal/dispatch/pgnotify"
	"github.com/intake-dev/intake/internal/testenv"
)

// testBundle is one test's PostgreSQL: its URL and a channel that no other
// test uses. Channels need no cleanup: they exist only while listened to.
type testBundle struct {
	url     string
	channel string
	logs    *testenv.Buffer
}

func setup(t testing.TB) *testBundle {
	t.Helper()
	return &testBundle{url: testenv.Postgres.URL(t), channel: "intake_test_" + randomHex(), logs: &testenv.Buffer{}}
}

// open opens a Dispatcher on the bundle's channel, closed at cleanup.
func (b *testBundle) open(t testing.TB) *pgnotify.Dispatcher {
	t.Helper()
	d, err := pgnotify.Open(t.Context(), pgnotify.Config{URL: b.url, Channel: b.channel, Logger: b.logs.Logger()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// admin returns a plain connection for assertions, closed at cleanup.
func (b *testBundle) admin(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), b.url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// TestConformance runs the suite through a proxy that its outage cases
// break; the Dispatchers of one harness listen on one channel.
func TestConformance(t *testing.T) {
	t.Parallel()
	testenv.Postgres.URL(t)
	dispatchtest.Run(t, func(t *testing.T) *dispatchtest.Harness {
		b := setup(t)
		return dispatchtest.ThroughProxy(t, b.url, "postgres", dispatchtest.Broadcast,
			func(t *testing.T, url string, logger *slog.Logger) (intake.Dispatcher, error) {
				return pgnotify.Open(t.Context(), pgnotify.Config{URL: url, Channel: b.channel, Logger: logger})
			})
	})
}

func TestOpenInvalid(t *testing.T) {
	t.Parallel()
	const secret = "s3cretpw"
	tests := []struct {
		name string
		cfg  pgnotify.Config
	}{
		{"empty URL", pgnotify.Config{}},
		{"unparseable URL", pgnotify.Config{URL: "postgres://u:" + secret + "@127.0.0.1:5432/%zz"}},
		{"keyword/value form", pgnotify.Config{URL: "host=127.0.0.1 user=u password=" + secret}},
		{"wrong scheme", pgnotify.Config{URL: "mysql://u:" + secret + "@127.0.0.1:5432/test"}},
		{"bad sslmode", pgnotify.Config{URL: "postgres://u:" + secret + "@127.0.0.1:5432/test?sslmode=maybe"}},
		{"channel too long", pgnotify.Config{URL: "postgres://u:" + secret + "@127.0.0.1:5432/test", Channel: strings.Repeat("c", 64)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := pgnotify.Open(t.Context(), tt.cfg)
			dispatchtest.WantInvalid(t, d, err, secret)
		})
	}
}

// TestOpenMissingDatabase checks that a database that does not exist is a
// configuration error, not an outage to wait out.
func TestOpenMissingDatabase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u, err := url.Parse(b.url)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/intake_no_such_db_" + randomHex()
	d, err := pgnotify.Open(t.Context(), pgnotify.Config{URL: u.String(), Channel: b.channel})
	dispatchtest.WantInvalid(t, d, err, "")
}

// TestReconnect terminates the listener's backend: the Dispatcher
// reconnects, wakes its waiters at once (notifications sent meanwhile are
// lost), and notifications from another process wake it again.
func TestReconnect(t *testing.T) {
	t.Parallel()
	b := setup(t)
	worker, api := b.open(t), b.open(t)
	admin := b.admin(t)
	pid := listenerPID(t, admin, b.channel)

	woken := make(chan error, 1)
	go func() { woken <- worker.Wait(t.Context(), 10*time.Second) }()
	time.Sleep(50 * time.Millisecond) // let it wait
	// Both Dispatchers listen under the same name; end both listeners.
	if _, err := admin.Exec(t.Context(),
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
		pgnotify.ListenerName(b.channel)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	select {
	case err := <-woken:
		if err != nil {
			t.Fatalf("Wait = %v", err)
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Errorf("the reconnected listener woke its waiter after %v, want soon after reconnecting", elapsed)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("the waiter was not woken after its listener reconnected")
	}

	done := make(chan error, 1)
	go func() { done <- worker.Wait(t.Context(), 10*time.Second) }()
	dispatchtest.NotifyUntil(t, api, done)

	if newPID := listenerPID(t, admin, b.channel); newPID == pid {
		t.Errorf("the listener's backend is still %d after it was terminated", pid)
	}
	if logs := b.logs.String(); !strings.Contains(logs, "lost the listening connection") ||
		!strings.Contains(logs, "listening again") {
		t.Errorf("the logs do not tell of the lost connection and the recovery:\n%s", logs)
	}
}

// TestPayload checks that a notification of many jobs stays under
// PostgreSQL's payload limit instead of failing.
func TestPayload(t *testing.T) {
	t.Parallel()
	ids := make([]string, 2000)
	for i := range ids {
		ids[i] = fmt.Sprintf("01JOB%021d", i)
	}
	tests := []struct {
		name   string
		ids    []string
		want   string
		atMost int
	}{
		{"none", nil, "", 0},
		{"one", ids[:1], ids[0], len(ids[0])},
		{"two", ids[:2], ids[0] + "," + ids[1], 2*len(ids[0]) + 1},
		{"too many for one payload", ids, "", pgnotify.MaxPayload},
	}
	for _, tt := range tests {
		got := pgnotify.Payload(tt.ids)
		if tt.want != "" && got != tt.want {
			t.Errorf("%s: payload = %q, want %q", tt.name, got, tt.want)
		}
		if len(got) > tt.atMost || (len(tt.ids) > 0 && !strings.HasPrefix(got, tt.ids[0])) {
			t.Errorf("%s: payload of %d bytes starting %.30q, want at most %d bytes starting with the first ID", tt.name, len(got), got, tt.atMost)
		}
	}
}

// TestNotifyManyJobs checks that PostgreSQL accepts the payload of a
// notification of many jobs.
func TestNotifyManyJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.open(t)
	ids := make([]string, 2000)
	for i := range ids {
		ids[i] = fmt.Sprintf("01JOB%021d", i)
	}
	if err := d.Notify(t.Context(), ids...); err != nil {
		t.Errorf("Notify of %d jobs: %v", len(ids), err)
	}
}

// listenerPID returns the backend PID of a listener on channel; it waits
// for one to appear, as a listener may be reconnecting.
func listenerPID(t *testing.T, admin *pgx.Conn, channel string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var pid int
		err := admin.QueryRow(t.Context(),
			"SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY backend_start DESC LIMIT 1",
			pgnotify.ListenerName(channel)).Scan(&pid)
		if err == nil {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listener backend for channel %s: %v", channel, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
