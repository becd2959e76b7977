package telemetry

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultStatsTimeout bounds a store read of a collector when it is given
// no timeout.
const DefaultStatsTimeout = 5 * time.Second

// cachedRead is a collector's read of the store, shared by concurrent
// scrapes: it runs at most once per ttl, with a timeout, and a failed read
// keeps the last good value.
type cachedRead[T any] struct {
	read    func(context.Context) (*T, error)
	what    string // what read reads, for the log
	timeout time.Duration
	ttl     time.Duration
	logger  *slog.Logger
	now     func() time.Time

	// mu serialises reads of the store, so that concurrent scrapes wait
	// for one call instead of making their own.
	mu      sync.Mutex
	fetched time.Time // when read last returned; zero before the first call
	last    *T        // the last successful result, nil before one
	ok      bool      // whether the last call succeeded
}

func newCachedRead[T any](what string, read func(context.Context) (*T, error), timeout, ttl time.Duration, logger *slog.Logger) cachedRead[T] {
	if timeout <= 0 {
		timeout = DefaultStatsTimeout
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return cachedRead[T]{read: read, what: what, timeout: timeout, ttl: max(0, ttl), logger: logger, now: time.Now}
}

// get returns the cached value, refreshing it when it is older than the
// TTL, and whether the last refresh succeeded.
func (c *cachedRead[T]) get() (*T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.fetched.IsZero() && c.now().Sub(c.fetched) < c.ttl {
		return c.last, c.ok
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	v, err := c.read(ctx)
	c.fetched = c.now()
	if err != nil {
		c.ok = false
		c.logger.Warn("read "+c.what, "err", err, "serving_stale", c.last != nil)
		return c.last, false
	}
	c.last, c.ok = v, true
	return v, true
}

// collectUp sends the up gauge of a read and returns the value to export,
// nil when there has never been one.
func (c *cachedRead[T]) collectUp(ch chan<- prometheus.Metric, up *prometheus.Desc) *T {
	v, ok := c.get()
	n := 0.0
	if ok {
		n = 1
	}
	ch <- prometheus.MustNewConstMetric(up, prometheus.GaugeValue, n)
	return v
}
