package redisstream

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client returns the Dispatcher's client, for tests that count commands.
func (d *Dispatcher) Client() *redis.Client { return d.client }

// ReadOne runs one read as Wait does and returns the job IDs it received.
func (d *Dispatcher) ReadOne(block time.Duration) ([]string, error) { return d.read(block) }

// RemoveStaleConsumers runs Open's clean-up of consumers idle for age.
func (d *Dispatcher) RemoveStaleConsumers(ctx context.Context, age time.Duration) {
	d.removeStaleConsumers(ctx, age)
}
