package redisstream_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/dispatch/dispatchtest"
	"github.com/intake-dev/intake/internal/dispatch/redisstream"
	"github.com/intake-dev/intake/internal/testenv"
)

// redisURL returns INTAKE_TEST_REDIS_URL, or skips (fails in CI).
func redisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("INTAKE_TEST_REDIS_URL")
	if u == "" {
		testenv.Missing(t, "Redis (INTAKE_TEST_REDIS_URL)",
			`run: eval "$(scripts/test-services.sh env)" after scripts/test-services.sh up`)
	}
	return u
}

// testBundle is one test's Redis: its URL, a stream key no other test
// uses (deleted at cleanup), and a plain client for assertions.
type testBundle struct {
	url    string
	stream string
	rdb    *redis.Client
	logs   *logBuffer
}

func setup(t testing.TB) *testBundle {
	t.Helper()
	u := redisURL(t)
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("INTAKE_TEST_REDIS_URL: %v", err)
	}
	b := &testBundle{url: u, stream: "intake:test:" + randomHex(), rdb: redis.NewClient(opts), logs: &logBuffer{}}
	t.Cleanup(func() {
		if err := b.rdb.Del(context.Background(), b.stream).Err(); err != nil {
			t.Errorf("delete stream %s: %v", b.stream, err)
		}
		_ = b.rdb.Close()
	})
	return b
}

// open opens a Dispatcher on the bundle's stream, closed at cleanup.
func (b *testBundle) open(t testing.TB, cfg redisstream.Config) *redisstream.Dispatcher {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = b.url
	}
	if cfg.Stream == "" {
		cfg.Stream = b.stream
	}
	if cfg.Logger == nil {
		cfg.Logger = b.logs.logger()
	}
	d, err := redisstream.Open(t.Context(), cfg)
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

func TestConformance(t *testing.T) {
	t.Parallel()
	redisURL(t)
	dispatchtest.Run(t, func(t *testing.T) intake.Dispatcher {
		b := setup(t)
		d, err := redisstream.Open(t.Context(), redisstream.Config{URL: b.url, Stream: b.stream, Logger: b.logs.logger()})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return d // the suite closes it, before setup's cleanup deletes the stream
	})
}

func TestOpenInvalid(t *testing.T) {
	t.Parallel()
	const secret = "s3cretpw"
	tests := []struct {
		name string
		cfg  redisstream.Config
	}{
		{"empty URL", redisstream.Config{}},
		{"unparseable URL", redisstream.Config{URL: "redis://:" + secret + "@127.0.0.1:6379/%zz"}},
		{"wrong scheme", redisstream.Config{URL: "http://:" + secret + "@127.0.0.1:6379/0"}},
		{"bad database", redisstream.Config{URL: "redis://:" + secret + "@127.0.0.1:6379/x"}},
		{"unknown option", redisstream.Config{URL: "redis://:" + secret + "@127.0.0.1:6379/0?colour=red"}},
		{"negative MaxLen", redisstream.Config{URL: "redis://:" + secret + "@127.0.0.1:6379/0", MaxLen: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := redisstream.Open(t.Context(), tt.cfg)
			if err == nil {
				_ = d.Close()
				t.Fatal("Open succeeded, want an EINVALID error")
			}
			if code := intake.ErrorCode(err); code != intake.EINVALID {
				t.Errorf("Open = %v (code %q), want code %q", err, code, intake.EINVALID)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Open's error %q contains the password", err)
			}
		})
	}
}

// TestOpenRefused checks that what Redis refuses for good (a wrong password,
// a key that is not a stream) fails Open with EINVALID, without the
// password in the error.
func TestOpenRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const secret = "s3cretpw"
	u, err := url.Parse(b.url)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("intake-no-such-user", secret)
	wrongType := "intake:test:" + randomHex()
	if err := b.rdb.Set(t.Context(), wrongType, "a string", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.rdb.Del(context.Background(), wrongType) })

	tests := []struct {
		name string
		cfg  redisstream.Config
	}{
		{"wrong password", redisstream.Config{URL: u.String(), Stream: b.stream}},
		{"key is not a stream", redisstream.Config{URL: b.url, Stream: wrongType}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := redisstream.Open(t.Context(), tt.cfg)
			if err == nil {
				_ = d.Close()
				t.Fatal("Open succeeded, want an EINVALID error")
			}
			if code := intake.ErrorCode(err); code != intake.EINVALID {
				t.Errorf("Open = %v (code %q), want code %q", err, code, intake.EINVALID)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Open's error %q contains the password", err)
			}
		})
	}
}

// TestOutage points a Dispatcher at a closed loopback port: Open succeeds
// with one warning, Wait sleeps out its timeout without error and without
// hammering the server, Notify fails fast with EUNAVAILABLE, and neither
// logs nor errors show the password.
func TestOutage(t *testing.T) {
	t.Parallel()
	const secret = "s3cretpw"
	logs := &logBuffer{}
	d, err := redisstream.Open(t.Context(), redisstream.Config{
		URL:    "redis://:" + secret + "@" + closedPort(t) + "/0",
		Logger: logs.logger(),
	})
	if err != nil {
		t.Fatalf("Open with Redis down = %v, want a Dispatcher that polls", err)
	}
	defer func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	var calls, dials atomic.Int64
	d.Client().AddHook(countingHook{calls: &calls, dials: &dials})

	const waits, timeout = 6, 150 * time.Millisecond
	for i := range waits {
		start := time.Now()
		if err := d.Wait(t.Context(), timeout); err != nil {
			t.Fatalf("Wait %d = %v, want nil", i, err)
		}
		if elapsed := time.Since(start); elapsed < timeout {
			t.Fatalf("Wait %d returned after %v, before its timeout %v: a worker loop would spin", i, elapsed, timeout)
		}
	}
	// Backoff starts at 250ms and doubles, so Waits skip most reads.
	if n := calls.Load(); n < 1 || n > 3 {
		t.Errorf("%d Waits of %v sent %d commands, want 1 to 3 (backing off)", waits, timeout, n)
	}
	if n := dials.Load(); n > 6 {
		t.Errorf("%d Waits of %v dialled %d times, want at most 6", waits, timeout, n)
	}

	for i := range 2 { // the first tries Redis; the second fails fast in backoff
		start := time.Now()
		err := d.Notify(t.Context(), "job-1")
		if code := intake.ErrorCode(err); code != intake.EUNAVAILABLE {
			t.Errorf("Notify %d with Redis down = %v, want code %q", i, err, intake.EUNAVAILABLE)
		}
		if elapsed := time.Since(start); elapsed > time.Second {
			t.Errorf("Notify %d with Redis down took %v, want it to fail fast", i, elapsed)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("Notify's error %q contains the password", err)
		}
	}

	out := logs.String()
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Errorf("the outage logged %d warnings, want 1:\n%s", n, out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("the logs contain the password:\n%s", out)
	}
}

// TestTrim checks that Notify keeps the stream near MaxLen.
func TestTrim(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const maxLen = 100
	d := b.open(t, redisstream.Config{MaxLen: maxLen})
	for batch := range 20 {
		ids := make([]string, 100)
		for i := range ids {
			ids[i] = fmt.Sprintf("job-%d-%d", batch, i)
		}
		if err := d.Notify(t.Context(), ids...); err != nil {
			t.Fatalf("Notify: %v", err)
		}
	}
	n, err := b.rdb.XLen(t.Context(), b.stream).Result()
	if err != nil {
		t.Fatal(err)
	}
	// MAXLEN ~ trims whole radix-tree nodes (100 entries by default).
	if n < maxLen || n > 3*maxLen {
		t.Errorf("after 2000 entries with MaxLen %d, XLEN = %d, want %d to %d", maxLen, n, maxLen, 3*maxLen)
	}
}

// TestOneEntryWakesOneWaiter checks the consumer group across processes:
// two Dispatchers of one group wait, one entry arrives, and exactly one of
// them wakes while the other sleeps out its timeout.
func TestOneEntryWakesOneWaiter(t *testing.T) {
	t.Parallel()
	b := setup(t)
	notifier := b.open(t, redisstream.Config{})
	waiters := []*redisstream.Dispatcher{b.open(t, redisstream.Config{}), b.open(t, redisstream.Config{})}
	if waiters[0].Consumer() == waiters[1].Consumer() {
		t.Fatalf("two Dispatchers got the same default consumer name %q", waiters[0].Consumer())
	}

	const timeout = 1500 * time.Millisecond
	start := time.Now()
	returned := make(chan time.Duration, len(waiters))
	for _, w := range waiters {
		go func() {
			if err := w.Wait(t.Context(), timeout); err != nil {
				t.Errorf("Wait: %v", err)
			}
			returned <- time.Since(start)
		}()
	}
	time.Sleep(100 * time.Millisecond) // let both block in XREADGROUP
	if err := notifier.Notify(t.Context(), "job-1"); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	first, second := <-returned, <-returned
	if first >= timeout/2 {
		t.Errorf("the first waiter returned after %v, want well before its timeout %v", first, timeout)
	}
	if second < timeout {
		t.Errorf("the second waiter returned after %v, before its timeout %v: one entry woke both", second, timeout)
	}
}

// TestConsumersGetDistinctEntries reads with two consumers of one group in
// turn: every entry goes to exactly one of them.
func TestConsumersGetDistinctEntries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	consumers := []*redisstream.Dispatcher{b.open(t, redisstream.Config{}), b.open(t, redisstream.Config{})}
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprintf("job-%d", i))
	}
	if err := consumers[0].Notify(t.Context(), want...); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	var got []string
	perConsumer := make([]int, len(consumers))
	for i := range want {
		c := i % len(consumers)
		ids, err := consumers[c].ReadOne(100 * time.Millisecond)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if len(ids) != 1 {
			t.Fatalf("read %d by consumer %d got %q, want one entry", i, c, ids)
		}
		got = append(got, ids...)
		perConsumer[c]++
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the consumers got %q, want each of %q once", got, want)
	}
	if ids, err := consumers[1].ReadOne(50 * time.Millisecond); err != nil || len(ids) != 0 {
		t.Errorf("a read after every entry was delivered = %q, %v; want nothing", ids, err)
	}
}

// TestStreamDeleted deletes the stream, or only its group, under a running
// Dispatcher: the next Notify or Wait recreates what is missing, and
// notifications wake waiters again.
func TestStreamDeleted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// remove deletes the stream or the group.
		remove func(context.Context, *testBundle) error
		// waitFirst removes while a Wait blocks; otherwise Notify comes
		// first and must recreate the stream.
		waitFirst bool
	}{
		{"stream deleted while a Wait blocks", delStream, true},
		{"stream deleted before Notify", delStream, false},
		{"group destroyed while a Wait blocks", destroyGroup, true},
		{"group destroyed before Wait", destroyGroup, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			d := b.open(t, redisstream.Config{})
			done := make(chan error, 1)
			if tt.waitFirst {
				go func() { done <- d.Wait(t.Context(), 10*time.Second) }()
				time.Sleep(100 * time.Millisecond) // let it block in XREADGROUP
			}
			if err := tt.remove(t.Context(), b); err != nil {
				t.Fatal(err)
			}
			if !tt.waitFirst {
				if err := d.Notify(t.Context(), "job-0"); err != nil {
					t.Fatalf("Notify after the removal: %v", err)
				}
				go func() { done <- d.Wait(t.Context(), 10*time.Second) }()
			}
			start := time.Now()
			dispatchtest.NotifyUntil(t, d, done)
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("a waiter woke %v after notifications resumed, want well under its timeout", elapsed)
			}
			groups, err := b.rdb.XInfoGroups(t.Context(), b.stream).Result()
			if err != nil || len(groups) != 1 || groups[0].Name != redisstream.DefaultGroup {
				t.Errorf("groups after recovery = %+v, %v; want %q", groups, err, redisstream.DefaultGroup)
			}
			if logs := b.logs.String(); !strings.Contains(logs, "recreated") {
				t.Errorf("the Dispatcher logged no recreation:\n%s", logs)
			}
		})
	}
}

func delStream(ctx context.Context, b *testBundle) error { return b.rdb.Del(ctx, b.stream).Err() }

func destroyGroup(ctx context.Context, b *testBundle) error {
	return b.rdb.XGroupDestroy(ctx, b.stream, redisstream.DefaultGroup).Err()
}

// TestHandBack cancels a Wait while its XREADGROUP still blocks in Redis:
// the entry that read receives afterwards is added to the stream again,
// so the next Wait gets it instead of losing it.
func TestHandBack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.open(t, redisstream.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	if err := d.Wait(ctx, 3*time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context = %v, want context.Canceled", err)
	}
	// The abandoned read blocks ahead of any new one, so it gets this entry.
	if err := d.Notify(t.Context(), "job-1"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := d.Wait(t.Context(), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed >= time.Second {
		t.Errorf("the next Wait returned after %v: the entry read for a cancelled Wait was lost", elapsed)
	}
	if n, err := b.rdb.XLen(t.Context(), b.stream).Result(); err != nil || n != 2 {
		t.Errorf("XLEN = %d, %v; want 2 (the entry and its hand-back)", n, err)
	}
}

// TestMoreWaitersThanConnections runs more Waits than the client's pool
// has connections: the extra ones poll instead of failing on pool
// timeouts, which would look like an outage and start a backoff.
func TestMoreWaitersThanConnections(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u, err := url.Parse(b.url)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_size", "3")        // one read slot
	q.Set("pool_timeout", "100ms") // shorter than the Waits
	u.RawQuery = q.Encode()
	d, err := redisstream.Open(t.Context(), redisstream.Config{URL: u.String(), Stream: b.stream, Logger: b.logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	const waiters, timeout = 6, 300 * time.Millisecond
	var wg sync.WaitGroup
	for range waiters {
		wg.Go(func() {
			start := time.Now()
			if err := d.Wait(t.Context(), timeout); err != nil {
				t.Errorf("Wait: %v", err)
			}
			if elapsed := time.Since(start); elapsed < timeout {
				t.Errorf("Wait returned after %v, before its timeout %v", elapsed, timeout)
			}
		})
	}
	wg.Wait()
	done := make(chan error, 1)
	go func() { done <- d.Wait(t.Context(), 5*time.Second) }()
	dispatchtest.NotifyUntil(t, d, done)
	if err := d.Close(); err != nil { // waits for the reads still running
		t.Fatal(err)
	}
	if logs := b.logs.String(); strings.Contains(logs, "level=WARN") {
		t.Errorf("waiters beyond the pool's size logged warnings:\n%s", logs)
	}
}

// TestCloseRemovesConsumer checks that Close deletes the consumer from the
// group and leaves nothing pending.
func TestCloseRemovesConsumer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d, err := redisstream.Open(t.Context(), redisstream.Config{URL: b.url, Stream: b.stream})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Notify(t.Context(), "job-1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Wait(t.Context(), time.Second); err != nil {
		t.Fatal(err)
	}
	consumers, err := b.rdb.XInfoConsumers(t.Context(), b.stream, redisstream.DefaultGroup).Result()
	if err != nil || len(consumers) != 1 || consumers[0].Name != d.Consumer() || consumers[0].Pending != 0 {
		t.Fatalf("consumers after a read = %+v, %v; want %q with nothing pending", consumers, err, d.Consumer())
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	consumers, err = b.rdb.XInfoConsumers(t.Context(), b.stream, redisstream.DefaultGroup).Result()
	if err != nil || len(consumers) != 0 {
		t.Errorf("consumers after Close = %+v, %v; want none", consumers, err)
	}
}

// TestRemoveStaleConsumers checks Open's clean-up of consumers left by
// processes killed before Close: idle ones with nothing pending go, others
// stay.
func TestRemoveStaleConsumers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := b.open(t, redisstream.Config{})
	ctx := t.Context()
	group := redisstream.DefaultGroup
	if err := b.rdb.XGroupCreateConsumer(ctx, b.stream, group, "ghost").Err(); err != nil {
		t.Fatal(err)
	}
	// "busy" read an entry without NOACK: it stays pending, so it stays.
	if err := b.rdb.XAdd(ctx, &redis.XAddArgs{Stream: b.stream, Values: []string{"job", "job-1"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: "busy", Streams: []string{b.stream, ">"}, Count: 1, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	// d's own consumer is idle with nothing pending too, but it is alive.
	if err := d.Notify(ctx, "job-2"); err != nil {
		t.Fatal(err)
	}
	if ids, err := d.ReadOne(time.Millisecond); err != nil || len(ids) != 1 {
		t.Fatalf("read = %q, %v; want one entry", ids, err)
	}
	time.Sleep(20 * time.Millisecond)
	d.RemoveStaleConsumers(ctx, 10*time.Millisecond)

	consumers, err := b.rdb.XInfoConsumers(ctx, b.stream, group).Result()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range consumers {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	want := []string{"busy", d.Consumer()}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("consumers after the clean-up = %q, want %q", names, want)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://:s3cret@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"rediss://user:s3cret@cache.example:6380/1", "rediss://user:xxxxx@cache.example:6380/1"},
		{"redis://user@127.0.0.1", "redis://user@127.0.0.1"},
		{"redis://:s3cret@127.0.0.1/%zz", "(unparseable URL)"},
		{"127.0.0.1:6379", "(unparseable URL)"},
		{"redis:s3cret@127.0.0.1", "(not a URL)"},
	}
	for _, tt := range tests {
		if got := redisstream.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// countingHook counts the commands a client processes and its dials.
type countingHook struct{ calls, dials *atomic.Int64 }

func (h countingHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		h.dials.Add(1)
		return next(ctx, network, addr)
	}
}

func (h countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.calls.Add(1)
		return next(ctx, cmd)
	}
}

func (h countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.calls.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// logBuffer collects a Dispatcher's logs as text, safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
