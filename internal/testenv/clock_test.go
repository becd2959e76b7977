package testenv

import (
	"sync"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	t.Parallel()
	epoch := time.Date(2030, time.January, 2, 3, 4, 5, 678_901_234, time.UTC)
	c := NewClock(epoch)
	if got := c.Now(); !got.Equal(epoch) {
		t.Fatalf("Now() = %v, want %v", got, epoch)
	}
	if got := c.Now(); !got.Equal(epoch) {
		t.Fatalf("a clock that was not advanced moved to %v", got)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			c.Advance(time.Second)
			_ = c.Now()
		})
	}
	wg.Wait()
	if got, want := c.Now(), epoch.Add(10*time.Second); !got.Equal(want) {
		t.Errorf("after ten concurrent Advance(1s): %v, want %v", got, want)
	}
}
