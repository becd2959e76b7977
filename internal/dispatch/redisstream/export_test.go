package redisstream

import (
	"context"
	"time"
)

// ReadOne runs one read as Wait does and returns the job IDs it received.
func (d *Dispatcher) ReadOne(block time.Duration) ([]string, error) { return d.read(block) }

// RemoveStaleConsumers runs Open's clean-up of consumers idle for age.
func (d *Dispatcher) RemoveStaleConsumers(ctx context.Context, age time.Duration) {
	d.removeStaleConsumers(ctx, age)
}
