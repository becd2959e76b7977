package azureblob_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/intake-dev/intake/internal/blob/azureblob"
)

// BenchmarkPut measures Put into the test Azurite, one object at a time
// and with 8 at once, for a small document (64 KiB: one Put Blob request)
// and for 4 MiB (one block at the default block size: Put Block, then Put
// Block List).
//
//	go test -run '^$' -bench Put -benchtime 200x ./internal/blob/azureblob/
func BenchmarkPut(b *testing.B) {
	for _, size := range []int{64 << 10, 4 << 20} {
		content := make([]byte, size)
		_, _ = rand.Read(content)
		for _, writers := range []int{1, 8} {
			b.Run(fmt.Sprintf("%dKiB/writers=%d", size>>10, writers), func(b *testing.B) {
				bucket := open(b, azureblob.Config{})
				var seq atomic.Int64
				put := func() bool {
					key := fmt.Sprintf("bench/%08d", seq.Add(1))
					if _, err := bucket.Put(b.Context(), key, bytes.NewReader(content), "application/pdf"); err != nil {
						b.Error(err)
						return false
					}
					return true
				}
				b.SetBytes(int64(size))
				b.ResetTimer()
				if writers == 1 {
					for b.Loop() {
						if !put() {
							return
						}
					}
				} else {
					// RunParallel starts parallelism × GOMAXPROCS goroutines.
					b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if !put() {
								return
							}
						}
					})
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
			})
		}
	}
}
