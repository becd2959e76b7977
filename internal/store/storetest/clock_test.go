package storetest

import (
	"sync"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	t.Parallel()
	c := NewClock(Epoch)
	if got := c.Now(); !got.Equal(Epoch) {
		t.Fatalf("Now() = %v, want %v", got, Epoch)
	}
	if got := c.Now(); !got.Equal(Epoch) {
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
	if got, want := c.Now(), Epoch.Add(10*time.Second); !got.Equal(want) {
		t.Errorf("after ten concurrent Advance(1s): %v, want %v", got, want)
	}
}
