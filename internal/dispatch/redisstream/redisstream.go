// Package redisstream is intake's Redis Streams dispatcher: it carries
// "a job became pending" hints between processes, so that an idle worker in
// any process picks a new job up within milliseconds instead of at its next
// poll of the store.
//
// Notify appends one entry per job ID to a stream (XADD … MAXLEN ~ N, so the
// stream stays bounded). Every Dispatcher reads the stream through one
// consumer group, so each entry wakes exactly one Wait across all processes
// (the one-per-job fan-out rule of intake.Dispatcher): a Wait reads at most
// one entry (XREADGROUP … COUNT 1 BLOCK t … NOACK) and returns as soon as it
// has one. NOACK acknowledges the entry in the same round trip as the read,
// so nothing ever stays pending: the store is the source of truth, and a
// lost or duplicated entry costs latency, never a job.
//
// A Redis outage degrades intake to polling. Wait then sleeps out its
// timeout, Dispatchers back off before they touch Redis again, Notify fails
// fast with an EUNAVAILABLE error, and one warning is logged per outage and
// at most one every 30 seconds while it lasts.
package redisstream

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/dispatch/remote"
	"github.com/intake-dev/intake/internal/redact"
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
	// maxBackoff caps how long a Dispatcher leaves Redis alone after a
	// failed command (see remote.Outage).
	maxBackoff = 5 * time.Second
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

	// outage says when Redis may be tried again after a failure, and logs
	// the outage.
	outage *remote.Outage

	mu     sync.Mutex
	closed bool
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
	d.outage = remote.NewOutage(d.logger, maxBackoff, "redis dispatch: redis answers again")
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
		return nil, intake.WrapError(intake.EINVALID, redact.Error(err, cfg.URL), "redis dispatch: open %s", redact.String(cfg.URL))
	case ctx.Err() != nil:
		d.cancel()
		_ = d.client.Close()
		return nil, fmt.Errorf("redis dispatch: open: %w", ctx.Err())
	default:
		d.failed(err, unreachable)
	}
	return d, nil
}

// Consumer returns the name of the Dispatcher in its consumer group.
func (d *Dispatcher) Consumer() string { return d.consumer }

// clientOptions parses and checks a Redis URL and sets intake's defaults
// for the options that it leaves unset.
func clientOptions(rawURL string) (*redis.Options, error) {
	if err := remote.CheckURL("redis dispatch", rawURL, "redis://host:6379/0", "redis", "rediss"); err != nil {
		return nil, err
	}
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, intake.Errorf(intake.EINVALID, "redis dispatch: URL %s is invalid: %v", redact.String(rawURL), redact.Error(err, rawURL))
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
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return nil
	}
	if wait := time.Until(d.outage.RetryAt()); wait > 0 {
		return &intake.Error{Code: intake.EUNAVAILABLE, RetryAfter: wait,
			Message: fmt.Sprintf("redis dispatch: notify %d job(s): redis is unavailable, retrying in %s", len(jobIDs), wait.Round(time.Millisecond))}
	}
	octx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if err := d.add(octx, jobIDs); err != nil {
		if ctx.Err() == nil {
			// No warning: the caller logs the error.
			d.outage.Fail(err, "")
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

// Close removes the consumer from the group (best effort), closes the
// client and waits for the reads still running. It is idempotent.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	reachable := !time.Now().Before(d.outage.RetryAt())

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

// Warnings about outages; remote.Outage logs at most one per
// remote.WarnEvery.
const (
	unreachable = "redis dispatch: redis is unreachable; workers poll the store until it answers"
	readFailed  = "redis dispatch: read failed; workers poll the store until redis answers"
)

// failed records a failed command for the backoff and logs msg as a
// warning (see remote.Outage.Fail), unless the Dispatcher is closed: Close
// broke the connections on purpose.
func (d *Dispatcher) failed(err error, msg string) {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if !closed {
		d.outage.Fail(err, msg)
	}
}

// succeeded ends the backoff, and logs the end of an outage it warned of.
func (d *Dispatcher) succeeded() {
	d.outage.Reset()
	d.outage.Recovered()
}
