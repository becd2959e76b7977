package redisstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

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
