package worker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/intake-dev/intake"
)

func TestMaintainerPromotesAndNotifies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		maxAttempts int
		// setup leaves job id in need of maintenance once the clock has
		// moved by advance.
		setup       func(t *testing.T, b *bundle, id string)
		advance     time.Duration
		wantStatus  intake.Status
		wantAction  string
		wantNotify  bool
		wantAttempt int
	}{
		{"scheduled job falls due", 5, func(t *testing.T, b *bundle, id string) {
			w, _ := b.worker(t, Config{}, nil, failAt(2, &intake.RetryAfterError{After: time.Minute, Err: errors.New("busy")})) // after progress: no attempt
			runOnce(t, w, id)
			wantStatus(t, b.job(t, id), intake.StatusScheduled)
		}, 2 * time.Minute, intake.StatusPending, "promoted", true, 0},
		{"lease expires", 5, func(t *testing.T, b *bundle, id string) {
			claim(t, b, id)
		}, 2 * time.Minute, intake.StatusPending, "lease_expired", true, 1},
		{"lease expires on the last attempt", 1, func(t *testing.T, b *bundle, id string) {
			claim(t, b, id)
		}, 2 * time.Minute, intake.StatusFailed, "lease_expired_failed", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t)
			m := b.maintainer(t, MaintainerConfig{MaxAttempts: tt.maxAttempts})
			job := b.createJob(t, "seq", seqJob(10))
			tt.setup(t, b, job.ID)
			before := b.job(t, job.ID)

			if err := m.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := b.job(t, job.ID); got.Status != before.Status || b.disp.notified(job.ID) {
				t.Fatalf("before the clock moved: %s → %s, notified %v; want no change", before.Status, got.Status, b.disp.notified(job.ID))
			}
			b.clock.Advance(tt.advance)
			if err := m.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := b.job(t, job.ID)
			wantStatus(t, got, tt.wantStatus)
			if got.Attempts != tt.wantAttempt || b.disp.notified(job.ID) != tt.wantNotify {
				t.Errorf("attempts %d, notified %v; want %d, %v", got.Attempts, b.disp.notified(job.ID), tt.wantAttempt, tt.wantNotify)
			}
			if n := testutil.ToFloat64(m.metrics.jobs.WithLabelValues(tt.wantAction)); n != 1 {
				t.Errorf("maintenance jobs{action=%s} = %v, want 1", tt.wantAction, n)
			}
			if n := testutil.ToFloat64(m.metrics.runs.WithLabelValues("maintain", "ok")); n != 2 {
				t.Errorf("maintenance runs{maintain,ok} = %v, want 2", n)
			}
		})
	}
}

// claim claims job id as a worker that then dies, with a one-minute lease.
func claim(t *testing.T, b *bundle, id string) {
	t.Helper()
	if _, err := b.store.Claim(context.Background(), intake.ClaimParams{Owner: "crashed-1", LeaseTTL: time.Minute, JobID: id}); err != nil {
		t.Fatalf("claim: %v", err)
	}
}

// TestMaintainerRunStopsOnCancel checks that Run makes passes until its
// context is done, then returns nil.
func TestMaintainerRunStopsOnCancel(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	m := b.maintainer(t, MaintainerConfig{Interval: 5 * time.Millisecond, OrphanInterval: -1})
	job := b.createJob(t, "seq", seqJob(10))
	claim(t, b, job.ID)
	b.clock.Advance(2 * time.Minute)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	for deadline := time.Now().Add(time.Minute); b.job(t, job.ID).Status != intake.StatusPending; {
		if time.Now().After(deadline) {
			t.Fatal("Run made no maintenance pass within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := await(t, done, "Run"); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}

func TestSweepOrphans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBundle(t)
	w, _ := b.worker(t, Config{BatchFraction: 10000}, nil, &seqSource{})
	job := b.createJob(t, "seq", seqJob(3))
	runOnce(t, w, job.ID)
	wantStatus(t, b.job(t, job.ID), intake.StatusCompleted)

	orphans := []string{
		intake.DocumentBlobKey(job.ID, 4, "zombie-1"),
		intake.DocumentBlobKey(job.ID, 2, "zombie-1"),
		intake.DocumentBlobKey(intake.NewID(), 1, "crashed-1"),
	}
	keep := "exports/report.csv" // outside jobs/: never swept
	for _, k := range append(slices.Clone(orphans), keep) {
		if _, err := b.blobs.Put(ctx, k, strings.NewReader("orphan"), "text/plain"); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name        string
		clock       time.Time
		wantDeleted int
	}{
		{"too fresh", time.Now(), 0},
		{"old enough", time.Now().Add(2 * time.Hour), len(orphans)},
		{"nothing left", time.Now().Add(2 * time.Hour), 0},
	}
	for _, tt := range tests { // in order: each sweep sees the last one's result
		m := b.maintainer(t, MaintainerConfig{OrphanGrace: time.Hour, OrphanBatch: 2, Clock: func() time.Time { return tt.clock }})
		deleted, err := m.SweepOrphans(ctx)
		if err != nil || deleted != tt.wantDeleted {
			t.Fatalf("%s: SweepOrphans = %d, %v; want %d", tt.name, deleted, err, tt.wantDeleted)
		}
		if n := testutil.ToFloat64(m.metrics.orphans); int(n) != tt.wantDeleted {
			t.Errorf("%s: orphans deleted metric %v, want %d", tt.name, n, tt.wantDeleted)
		}
	}
	b.checkDocuments(t, job.ID, 3, docBody)
	for _, k := range orphans {
		if _, _, err := b.blobs.Get(ctx, k); intake.ErrorCode(err) != intake.ENOTFOUND {
			t.Errorf("orphan %s: Get = %v, want ENOTFOUND", k, err)
		}
	}
	if _, _, err := b.blobs.Get(ctx, keep); err != nil {
		t.Errorf("blob outside jobs/ was touched: %v", err)
	}
}
