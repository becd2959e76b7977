package redisstream_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/dispatch/dispatchtest"
	"github.com/intake-dev/intake/internal/dispatch/redisstream"
	"github.com/intake-dev/intake/internal/testenv"
)

// testBundle is one test's Redis: its URL, a stream key no other test
// uses (deleted at cleanup), and a plain client for assertions.
type testBundle struct {
	url    string
	stream string
	rdb    *redis.Client
	logs   *testenv.Buffer
}

func setup(t testing.TB) *testBundle {
	t.Helper()
	u := testenv.Redis.URL(t)
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("INTAKE_TEST_REDIS_URL: %v", err)
	}
	b := &testBundle{url: u, stream: "intake:test:" + randomHex(), rdb: redis.NewClient(opts), logs: &testenv.Buffer{}}
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
		cfg.Logger = b.logs.Logger()
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

// TestConformance runs the suite through a proxy that its outage cases
// break; the Dispatchers of one harness share one stream and group.
func TestConformance(t *testing.T) {
	t.Parallel()
	testenv.Redis.URL(t)
	dispatchtest.Run(t, func(t *testing.T) *dispatchtest.Harness {
		b := setup(t) // its cleanup deletes the stream after the suite closed the Dispatchers
		// Redis's default user takes any password while it has none.
		return dispatchtest.ThroughProxy(t, b.url, "default", dispatchtest.OnePerJob,
			func(t *testing.T, url string, logger *slog.Logger) (intake.Dispatcher, error) {
				return redisstream.Open(t.Context(), redisstream.Config{URL: url, Stream: b.stream, Logger: logger})
			})
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
			dispatchtest.WantInvalid(t, d, err, secret)
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
			dispatchtest.WantInvalid(t, d, err, secret)
		})
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
	d, err := redisstream.Open(t.Context(), redisstream.Config{URL: u.String(), Stream: b.stream, Logger: b.logs.Logger()})
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

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
