package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/intake-dev/intake/internal/testenv"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/intake-dev/intake"
)

// seqSource is a deterministic Source for tests. A job's config
// {"total": n} asks for n documents (-1: unknown, until the source is
// exhausted); document seq's body is docBody(seq); the checkpoint after
// document seq is seq itself, and Next fails the job permanently when it is
// handed any other checkpoint, so a lost or stale checkpoint cannot go
// unnoticed. Hooks turn it into the flaky, throttled, exhausting or
// blocking sources the tests need.
type seqSource struct {
	// exhaustAfter, when positive, makes Next return ErrExhausted for every
	// seq above it.
	exhaustAfter int
	// before, when set, runs before document seq is produced; a non-nil
	// error is what Next returns.
	before func(ctx context.Context, seq int) error
}

type seqConfig struct {
	Total *int `json:"total"`
}

// Type implements intake.Source.
func (s *seqSource) Type() string { return "seq" }

// Validate implements intake.Source.
func (s *seqSource) Validate(_ context.Context, raw json.RawMessage) error {
	var c seqConfig
	if err := json.Unmarshal(raw, &c); err != nil || c.Total == nil || *c.Total < intake.TotalUnknown {
		return &intake.Error{Code: intake.EINVALID, Message: "invalid seq config", Fields: []intake.FieldError{{
			Location: "total", Message: "must be a number of documents, or -1 for unknown",
		}}}
	}
	return nil
}

// Plan implements intake.Source.
func (s *seqSource) Plan(_ context.Context, raw json.RawMessage) (int, []byte, error) {
	var c seqConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return 0, nil, intake.Permanent(err)
	}
	return *c.Total, []byte("0"), nil
}

// Close implements intake.Source.
func (s *seqSource) Close() error { return nil }

// Next implements intake.Source.
func (s *seqSource) Next(ctx context.Context, _ json.RawMessage, seq int, checkpoint []byte) (*intake.Item, error) {
	if got := string(checkpoint); got != strconv.Itoa(seq-1) {
		return nil, intake.Permanent(fmt.Errorf("document %d handed checkpoint %q", seq, got))
	}
	if s.exhaustAfter > 0 && seq > s.exhaustAfter {
		return nil, intake.ErrExhausted
	}
	if s.before != nil {
		if err := s.before(ctx, seq); err != nil {
			return nil, err
		}
	}
	return &intake.Item{
		Name:         fmt.Sprintf("doc-%03d.txt", seq),
		DocumentType: "test",
		ContentType:  "text/plain; charset=utf-8",
		Body:         io.NopCloser(bytes.NewReader(docBody(seq))),
		Checkpoint:   []byte(strconv.Itoa(seq)),
	}, nil
}

// docBody is the content of document seq of every seq job.
func docBody(seq int) []byte {
	return []byte(strings.Repeat(fmt.Sprintf("document %d\n", seq), 64))
}

// flakySource fails its first n calls of Next with a transient error.
func flakySource(n int) *seqSource {
	var calls atomic.Int64
	return &seqSource{before: func(_ context.Context, seq int) error {
		if calls.Add(1) <= int64(n) {
			return fmt.Errorf("transient failure collecting document %d", seq)
		}
		return nil
	}}
}

// failAt returns err from Next for document seq at.
func failAt(at int, err error) *seqSource {
	return &seqSource{before: func(_ context.Context, seq int) error {
		if seq == at {
			return err
		}
		return nil
	}}
}

// gate makes Next block at document at, the first time it is asked for it:
// it closes reached, then waits for release (or for the run's context,
// whose error it returns). Later calls for the same document pass.
type gate struct {
	at      int
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGate(at int) *gate {
	return &gate{at: at, reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) source() *seqSource {
	return &seqSource{before: func(ctx context.Context, seq int) error {
		if seq != g.at {
			return nil
		}
		first := false
		g.once.Do(func() { first = true })
		if !first {
			return nil
		}
		close(g.reached)
		select {
		case <-g.release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
}

// faultyBlobs wraps a real BlobStore. failPuts makes the first n Puts fail
// before writing; afterPut, when set, runs after a successful Put and its
// error replaces the result.
type faultyBlobs struct {
	intake.BlobStore
	failPuts atomic.Int64
	afterPut func(ctx context.Context, key string) error
}

// Put implements intake.BlobStore.
func (b *faultyBlobs) Put(ctx context.Context, key string, r io.Reader, contentType string) (*intake.BlobInfo, error) {
	if b.failPuts.Add(-1) >= 0 {
		return nil, intake.Errorf(intake.EUNAVAILABLE, "blob backend unreachable")
	}
	info, err := b.BlobStore.Put(ctx, key, r, contentType)
	if err == nil && b.afterPut != nil {
		if err := b.afterPut(ctx, key); err != nil {
			return nil, err
		}
	}
	return info, err
}

// recordingDispatcher wraps a real Dispatcher and remembers every job ID
// it was notified of.
type recordingDispatcher struct {
	intake.Dispatcher
	mu  sync.Mutex
	ids []string
}

// Notify implements intake.Dispatcher.
func (d *recordingDispatcher) Notify(ctx context.Context, ids ...string) error {
	d.mu.Lock()
	d.ids = append(d.ids, ids...)
	d.mu.Unlock()
	return d.Dispatcher.Notify(ctx, ids...)
}

func (d *recordingDispatcher) notified(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Contains(d.ids, id)
}

func newTestClock() *testenv.Clock {
	return testenv.NewClock(time.Now().UTC().Truncate(time.Second))
}
