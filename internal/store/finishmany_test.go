package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store/sqlitestore"
)

// splitDriver is a SQLite driver that records the size of each FinishRuns
// call and fails the call numbered failAt (from 1) after finishing half of
// its runs, as a driver that ends runs one after another would.
type splitDriver struct {
	*sqlitestore.Driver
	calls  []int
	failAt int
}

func (d *splitDriver) FinishRuns(ctx context.Context, now time.Time, runs []intake.FinishParams) ([]bool, error) {
	d.calls = append(d.calls, len(runs))
	if len(d.calls) == d.failAt {
		held, err := d.Driver.FinishRuns(ctx, now, runs[:len(runs)/2])
		if err != nil {
			return nil, err
		}
		return held, errors.New("connection reset")
	}
	return d.Driver.FinishRuns(ctx, now, runs)
}

// TestFinishRunsSplits checks that the store hands a driver at most
// intake.MaxPageSize runs a call, and maps what a driver reports back to
// each run: finished, lease lost, or the driver's error (classified) for
// the runs it did not report.
func TestFinishRunsSplits(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	sd, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: filepath.Join(t.TempDir(), "intake.db")})
	if err != nil {
		t.Fatal(err)
	}
	d := &splitDriver{Driver: sd, failAt: 3}
	s := New(d, Options{})
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 2*intake.MaxPageSize + 10
	in := make([]*intake.Job, n)
	for i := range in {
		in[i] = &intake.Job{SourceType: "filings", Config: []byte(`{}`)}
	}
	if _, err := s.CreateJobs(ctx, in); err != nil {
		t.Fatal(err)
	}
	var runs []intake.FinishParams
	for call := 0; len(runs) < n; call++ {
		owner := fmt.Sprintf("w%d", call)
		jobs, err := s.ClaimMany(ctx, intake.ClaimParams{Owner: owner, LeaseTTL: time.Minute}, intake.MaxPageSize)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			runs = append(runs, intake.FinishParams{JobID: j.ID, Owner: owner, Done: true})
		}
	}
	runs[1].Owner = "another" // not its owner: lease lost

	errs := s.FinishRuns(ctx, runs)
	if want := []int{intake.MaxPageSize, intake.MaxPageSize, 10}; !slices.Equal(d.calls, want) {
		t.Errorf("driver calls of %v runs, want %v", d.calls, want)
	}
	for i, err := range errs {
		switch {
		case i == 1:
			if !errors.Is(err, intake.ErrLeaseLost) {
				t.Errorf("run 1 (another owner): %v, want ErrLeaseLost", err)
			}
		case i >= 2*intake.MaxPageSize+5: // the half of the last call that the driver did not report
			if intake.ErrorCode(err) != intake.EINTERNAL || err.Error() == "" {
				t.Errorf("run %d after the driver failed: %v, want its error", i, err)
			}
		case err != nil:
			t.Errorf("run %d: %v", i, err)
		}
	}
	stats, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stats.Jobs[intake.StatusCompleted], int64(n-1-5); got != want {
		t.Errorf("%d jobs completed, want %d", got, want)
	}
}
