// Package redisstream is intake's Redis Streams dispatcher: it carries
// "a job became pending" hints between processes, so that an idle worker in
// any process picks a new job up within milliseconds instead of at its next
// poll of the store.
//
// Notify appends one entry per job ID to a stream (XADD … MAXLEN ~ N, so the
// stream stays bounded). Every Dispatcher reads the stream through one
// consumer group, so each entry wakes exactly one Wait across all processes:
// a Wait reads at most one entry (XREADGROUP … COUNT 1 BLOCK t … NOACK) and
// returns as soon as it has one. NOACK acknowledges the entry in the same
// round trip as the read, so nothing ever stays pending: the store is the
// source of truth, and a lost or duplicated entry costs latency, never a
// job.
//
// A Redis outage degrades intake to polling. Wait then sleeps out its
// timeout, Dispatchers back off before they touch Redis again, Notify fails
// fast with an EUNAVAILABLE error, and one warning is logged per outage and
// at most one every 30 seconds while it lasts.
package redisstream

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/intake-dev/intake"
)

// Defaults of Config's fields.
const (
	// DefaultStream is the key of the stream that carries job IDs.
	DefaultStream = "intake:pending"
	// DefaultGroup is the consumer group that every worker process joins.
	DefaultGroup = "intake-workers"
	// DefaultMaxLen bounds the stream: older entries are trimmed.
	DefaultMaxLen = 10000
)

const (
	// maxBlock caps one XREADGROUP's BLOCK: a longer Wait reads again.
	maxBlock = 5 * time.Second
	// readSlack is how long a blocking read may take beyond its BLOCK
	// before the client gives up on the connection.
	readSlack = 2 * time.Second
	// opTimeout bounds every other command (XADD, XGROUP), so that an
	// unreachable Redis never holds up a caller for long.
	opTimeout = 2 * time.Second
	// openTimeout bounds Open's set-up commands.
	openTimeout = 5 * time.Second
	// minBackoff and maxBackoff bound how long a Dispatcher leaves Redis
	// alone after a failed command; the backoff doubles while failures go on.
	minBackoff = 250 * time.Millisecond
	maxBackoff = 5 * time.Second
	// warnEvery is the least time between two warnings about one outage.
	warnEvery = 30 * time.Second
	// staleConsumerAge is how long a consumer with nothing pending must have
	// been idle before Open deletes it: a process killed before Close leaves
	// its consumer behind.
	staleConsumerAge = 24 * time.Hour
	// jobField is the name of the one field of each stream entry.
	jobField = "job"
)

// Config configures a Dispatcher.
type Config struct {
	// URL names the Redis server: redis://[[user]:password@]host[:port][/db]
	// or rediss:// for TLS, with go-redis's query options (dial_timeout,
	// pool_size, …). The password is never logged nor put in an error.
	URL string
	// Stream is the key of the stream; DefaultStream when empty.
	Stream string
	// Group is the consumer group; DefaultGroup when empty. Every process
	// of one deployment must use the same group.
	Group string
	// Consumer names this Dispatcher within the group; hostname-pid-random
	// when empty. It must be unique among live processes.
	Consumer string
	// MaxLen is the approximate length the stream is trimmed to
	// (XADD MAXLEN ~); DefaultMaxLen when 0.
	MaxLen int64
	// Logger receives warnings about Redis outages; discarded when nil.
	Logger *slog.Logger
}

// Dispatcher is an intake.Dispatcher over a Redis stream and consumer
// group. It is safe for concurrent use. Each Wait holds one connection of
// the client's pool while it blocks in Redis; at most the pool's size less
// two do so at once (go-redis's default pool has 10 connections per CPU,
// and the URL's pool_size sets it), and further Waits queue for their
// turn while the entries wait for them in the stream.
type Dispatcher struct {
	client   *redis.Client
	stream   string
	group    string
	consumer string
	maxLen   int64
	logger   *slog.Logger

	// base is cancelled by Close, aborting reads still dialling.
	base   context.Context
	cancel context.CancelFunc
	// reads counts the goroutines that run reads; Close waits for them.
	reads sync.WaitGroup
	// readSlots bounds the reads that block at once below the client's
	// pool size, so that waiting workers never starve Notify of
	// connections, nor fail on pool timeouts that look like an outage.
	readSlots chan struct{}

	mu         sync.Mutex
	closed     bool
	retryAt    time.Time     // no command before this time, after a failure
	backoff    time.Duration // the last backoff; 0 while Redis answers
	failing    bool          // a warning was logged, and no success since
	lastWarn   time.Time
	suppressed int // failures not logged since lastWarn
}

var _ intake.Dispatcher = (*Dispatcher)(nil)

// Open connects to the Redis server that cfg.URL names and creates the
// stream and its consumer group when missing (reading new entries only).
// A server that cannot be reached is not an error: Open logs a warning and
// returns a Dispatcher that falls back to polling until Redis answers. An
// invalid configuration, a refused password or a key that is not a stream
// are EINVALID errors.
func Open(ctx context.Context, cfg Config) (*Dispatcher, error) {
	opts, err := clientOptions(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.MaxLen < 0 {
		return nil, intake.Errorf(intake.EINVALID, "redis dispatch: MaxLen must not be negative, not %d", cfg.MaxLen)
	}
	d := &Dispatcher{
		stream:   cmp.Or(cfg.Stream, DefaultStream),
		group:    cmp.Or(cfg.Group, DefaultGroup),
		consumer: cfg.Consumer,
		maxLen:   cfg.MaxLen,
		logger:   cfg.Logger,
	}
	if d.consumer == "" {
		d.consumer = defaultConsumer()
	}
	if d.maxLen == 0 {
		d.maxLen = DefaultMaxLen
	}
	if d.logger == nil {
		d.logger = slog.New(slog.DiscardHandler)
	}
	d.logger = d.logger.With("stream", d.stream, "group", d.group, "consumer", d.consumer)
	d.client = redis.NewClient(opts)
	d.readSlots = make(chan struct{}, max(1, d.client.Options().PoolSize-2))
	d.base, d.cancel = context.WithCancel(context.Background())

	octx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	switch err := d.ensureGroup(octx); {
	case err == nil:
		d.removeStaleConsumers(octx, staleConsumerAge)
	case isConfigError(err):
		d.cancel()
		_ = d.client.Close()
		return nil, intake.WrapError(intake.EINVALID, err, "redis dispatch: open %s", Redact(cfg.URL))
	case ctx.Err() != nil:
		d.cancel()
		_ = d.client.Close()
		return nil, fmt.Errorf("redis dispatch: open: %w", ctx.Err())
	default:
		d.failed(err, "redis dispatch: redis is unreachable; workers poll the store until it answers")
	}
	return d, nil
}

// Consumer returns the name of the Dispatcher in its consumer group.
func (d *Dispatcher) Consumer() string { return d.consumer }

// clientOptions parses and checks a Redis URL and sets intake's defaults
// for the options that it leaves unset.
func clientOptions(rawURL string) (*redis.Options, error) {
	if strings.TrimSpace(rawURL) == "" {
		return nil, intake.Errorf(intake.EINVALID, "redis dispatch: URL is empty; use redis://host:6379/0")
	}
	// url.Parse's error quotes the whole URL, password included: report
	// only its cause.
	u, err := url.Parse(rawURL)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, intake.Errorf(intake.EINVALID, "redis dispatch: URL %s is invalid: %v", Redact(rawURL), err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, intake.Errorf(intake.EINVALID, "redis dispatch: URL %s: scheme must be redis:// or rediss://", Redact(rawURL))
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, intake.Errorf(intake.EINVALID, "redis dispatch: URL %s is invalid: %v", Redact(rawURL), err)
	}
	// Short timeouts unless the URL sets them: a Notify must never hold up
	// the API for long. Blocking reads get BLOCK + 10 s from go-redis.
	if opts.DialTimeout == 0 {
		opts.DialTimeout = opTimeout
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = opTimeout
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = opTimeout
	}
	// One retry replaces a connection that a Redis restart broke; longer
	// outages are the Dispatcher's backoff's business, not the client's.
	if opts.MaxRetries == 0 {
		opts.MaxRetries = 1
	}
	if opts.DialerRetries == 0 {
		opts.DialerRetries = 1
	}
	opts.ContextTimeoutEnabled = true
	return opts, nil
}

// Notify appends one entry per job ID to the stream, in one round trip, and
// trims the stream to about MaxLen entries. It fails fast with an
// EUNAVAILABLE error while Redis is unreachable; callers log it, and the
// workers find the jobs when they next poll. After Close it does nothing.
func (d *Dispatcher) Notify(ctx context.Context, jobIDs ...string) error {
	if len(jobIDs) == 0 {
		return nil
	}
	d.mu.Lock()
	closed, retryAt := d.closed, d.retryAt
	d.mu.Unlock()
	if closed {
		return nil
	}
	if wait := time.Until(retryAt); wait > 0 {
		return &intake.Error{Code: intake.EUNAVAILABLE, RetryAfter: wait,
			Message: fmt.Sprintf("redis dispatch: notify %d job(s): redis is unavailable, retrying in %s", len(jobIDs), wait.Round(time.Millisecond))}
	}
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := d.add(octx, jobIDs); err != nil {
		if ctx.Err() == nil {
			d.markDown()
		}
		return intake.WrapError(intake.EUNAVAILABLE, err, "redis dispatch: notify %d job(s)", len(jobIDs))
	}
	d.succeeded()
	return nil
}

// add pipelines one XADD per job ID. XADD does not create a missing stream
// (NOMKSTREAM): when someone deleted it, add recreates it together with its
// group first, so that no reader misses these entries.
func (d *Dispatcher) add(ctx context.Context, jobIDs []string) error {
	for attempt := 0; ; attempt++ {
		_, err := d.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, id := range jobIDs {
				p.XAdd(ctx, &redis.XAddArgs{
					Stream:     d.stream,
					NoMkStream: true,
					MaxLen:     d.maxLen,
					Approx:     true,
					Values:     []string{jobField, id},
				})
			}
			return nil
		})
		if !errors.Is(err, redis.Nil) || attempt > 0 {
			return err
		}
		if err := d.ensureGroup(ctx); err != nil {
			return err
		}
		d.logger.Info("redis dispatch: recreated the deleted stream and its consumer group")
	}
}

// Wait blocks until an entry arrives for this Dispatcher's group, timeout
// elapses or ctx is done. It returns ctx's error only: when Redis fails,
// Wait sleeps out the rest of its timeout, so a worker loop never spins.
// After Close it waits out its timeout too.
func (d *Dispatcher) Wait(ctx context.Context, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	for {
		// With more waiters than read slots, the others queue here; the
		// entries wait for them in the stream.
		select {
		case d.readSlots <- struct{}{}:
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
		// BLOCK counts whole milliseconds and BLOCK 0 never ends: a wait
		// shorter than 1 ms does not read.
		var r *read
		if block := min(time.Until(deadline), maxBlock).Truncate(time.Millisecond); block >= time.Millisecond {
			r = d.startRead(block)
		}
		if r == nil {
			<-d.readSlots
			return sleep(ctx, timer)
		}
		select {
		case res := <-r.done:
			switch {
			case res.err != nil:
				return sleep(ctx, timer)
			case len(res.jobIDs) > 0:
				return nil
			}
			// BLOCK ran out: read again for what is left of the timeout.
		case <-timer.C:
			d.handBack(r.abandon())
			return nil
		case <-ctx.Done():
			d.handBack(r.abandon())
			return ctx.Err()
		}
	}
}

// sleep waits for timer or ctx, and returns ctx's error if it was first.
func sleep(ctx context.Context, timer *time.Timer) error {
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// read is one XREADGROUP running in its own goroutine, so that Wait can
// return on its timeout or ctx while Redis still blocks: go-redis does not
// interrupt a blocked read when a context is cancelled.
type read struct {
	done chan readResult // buffered: the goroutine never blocks on it

	mu        sync.Mutex
	abandoned bool
}

type readResult struct {
	jobIDs []string
	err    error
}

// startRead starts a read that blocks for block (at least 1 ms) and frees
// the caller's read slot when it ends. It returns nil when Wait must not
// touch Redis: the Dispatcher is closed, or backing off after a failure.
func (d *Dispatcher) startRead(block time.Duration) *read {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || time.Now().Before(d.retryAt) {
		return nil
	}
	r := &read{done: make(chan readResult, 1)}
	d.reads.Go(func() {
		ids, err := d.read(block)
		<-d.readSlots
		r.mu.Lock()
		abandoned := r.abandoned
		if !abandoned {
			r.done <- readResult{ids, err}
		}
		r.mu.Unlock()
		if abandoned {
			d.handBack(ids)
		}
	})
	return r
}

// abandon tells the read that its Wait has returned and returns the job IDs
// it delivered too late, if any: they must not be lost.
func (r *read) abandon() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.abandoned = true
	select {
	case res := <-r.done:
		return res.jobIDs
	default:
		return nil
	}
}

// read runs XREADGROUP for at most one new entry, blocking for block, and
// returns the job ID it carried, if any. It recreates the group when the
// stream or the group was deleted, and records the outcome for the backoff.
func (d *Dispatcher) read(block time.Duration) ([]string, error) {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(d.base, block+readSlack)
		streams, err := d.client.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group:    d.group,
			Consumer: d.consumer,
			Streams:  []string{d.stream, ">"},
			Count:    1,
			Block:    block,
			NoAck:    true,
		}).Result()
		if err != nil && attempt == 0 && isNoGroup(err) {
			err = d.ensureGroup(ctx)
			if err == nil {
				d.logger.Info("redis dispatch: recreated the stream's consumer group")
				cancel()
				continue
			}
		}
		cancel()
		switch {
		case errors.Is(err, redis.Nil): // BLOCK ran out
			d.succeeded()
			return nil, nil
		case err != nil:
			d.failed(err, "redis dispatch: read failed; workers poll the store until redis answers")
			return nil, err
		}
		d.succeeded()
		var ids []string
		for _, s := range streams {
			for _, m := range s.Messages {
				if id, ok := m.Values[jobField].(string); ok {
					ids = append(ids, id)
				}
			}
		}
		if len(ids) == 0 {
			ids = []string{""} // a foreign entry still wakes the reader
		}
		return ids, nil
	}
}

// handBack re-adds entries that a read received after its Wait had
// returned, in the background, so that another waiter gets them.
func (d *Dispatcher) handBack(jobIDs []string) {
	ids := make([]string, 0, len(jobIDs))
	for _, id := range jobIDs {
		if id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.reads.Go(func() {
		ctx, cancel := context.WithTimeout(d.base, opTimeout)
		defer cancel()
		if err := d.add(ctx, ids); err != nil {
			d.logger.Debug("redis dispatch: hand back unread entries", "jobs", len(ids), "err", err)
		}
	})
}

// ensureGroup creates the stream, when missing, and the group reading new
// entries only; a group that exists already is fine.
func (d *Dispatcher) ensureGroup(ctx context.Context) error {
	err := d.client.XGroupCreateMkStream(ctx, d.stream, d.group, "$").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

// removeStaleConsumers deletes the consumers that have nothing pending and
// have been idle for age, best effort. Deleting a live but busy consumer
// would be harmless too: its next read recreates it.
func (d *Dispatcher) removeStaleConsumers(ctx context.Context, age time.Duration) {
	consumers, err := d.client.XInfoConsumers(ctx, d.stream, d.group).Result()
	if err != nil {
		d.logger.Debug("redis dispatch: list consumers", "err", err)
		return
	}
	for _, c := range consumers {
		if c.Pending > 0 || c.Idle < age || c.Name == d.consumer {
			continue
		}
		if err := d.client.XGroupDelConsumer(ctx, d.stream, d.group, c.Name).Err(); err != nil {
			d.logger.Debug("redis dispatch: delete stale consumer", "stale", c.Name, "err", err)
			return
		}
		d.logger.Info("redis dispatch: deleted a stale consumer", "stale", c.Name, "idle", c.Idle.Round(time.Second))
	}
}

// Close removes the consumer from the group (best effort), closes the
// client and waits for the reads still running. It is idempotent.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	reachable := !time.Now().Before(d.retryAt)
	d.mu.Unlock()

	if reachable {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		if err := d.client.XGroupDelConsumer(ctx, d.stream, d.group, d.consumer).Err(); err != nil {
			d.logger.Debug("redis dispatch: delete consumer", "err", err)
		}
		cancel()
	}
	d.cancel()
	err := d.client.Close()
	d.reads.Wait()
	if err != nil {
		return intake.WrapError(intake.EINTERNAL, err, "redis dispatch: close")
	}
	return nil
}

// markDown starts or extends the backoff after a failed command, without
// logging: Notify returns its error to the caller, who logs it.
func (d *Dispatcher) markDown() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.backoffLocked()
}

// failed starts or extends the backoff and logs a warning, unless one was
// logged less than warnEvery ago, so that a flapping Redis cannot flood the
// logs.
func (d *Dispatcher) failed(err error, msg string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return // Close broke the connections on purpose
	}
	d.backoffLocked()
	now := time.Now()
	if now.Sub(d.lastWarn) < warnEvery {
		d.suppressed++
		return
	}
	d.logger.Warn(msg, "err", err, "retry_in", d.backoff, "suppressed", d.suppressed)
	d.failing, d.lastWarn, d.suppressed = true, now, 0
}

func (d *Dispatcher) backoffLocked() {
	d.backoff = min(max(2*d.backoff, minBackoff), maxBackoff)
	d.retryAt = time.Now().Add(d.backoff)
}

// succeeded ends the backoff, and logs the end of an outage it warned of.
func (d *Dispatcher) succeeded() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.backoff, d.retryAt = 0, time.Time{}
	if d.failing {
		d.failing = false
		d.logger.Info("redis dispatch: redis answers again")
	}
}

// isNoGroup reports whether err says that the group (or its stream) is
// gone. Redis 7.2 and later also unblock readers of a deleted stream with
// an UNBLOCKED error.
func isNoGroup(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "NOGROUP") || strings.HasPrefix(msg, "UNBLOCKED")
}

// isConfigError reports whether Redis refused a command for a reason that
// retrying cannot fix: bad credentials, missing permissions, or a key of
// another type.
func isConfigError(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	for _, prefix := range []string{"NOAUTH", "WRONGPASS", "NOPERM", "WRONGTYPE", "ERR AUTH", "ERR invalid password"} {
		if strings.HasPrefix(rerr.Error(), prefix) {
			return true
		}
	}
	return false
}

// defaultConsumer returns hostname-pid-random.
func defaultConsumer() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "intake"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Redact returns rawURL with its password, if any, replaced by xxxxx, for
// logs and errors.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparseable URL)"
	}
	if u.Scheme == "" || u.Opaque != "" {
		return "(not a URL)" // a password could be anywhere in it
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
