package postgresstore_test

import (
	"testing"

	"github.com/intake-dev/intake/internal/store/postgresstore"
	"github.com/intake-dev/intake/internal/store/storetest"
	"github.com/intake-dev/intake/internal/testenv"
)

// TestPendingCountQueryCountsClaimable checks that the autoscaler's query
// (the Helm chart's KEDA postgresql trigger) counts exactly the jobs a
// worker can claim, whatever the other jobs' states.
func TestPendingCountQueryCountsClaimable(t *testing.T) {
	t.Parallel()
	clock := testenv.NewClock(storetest.Epoch)
	s, d := openStore(t, clock.Now)
	ctx := t.Context()
	storetest.PendingCount(t, s, clock, func() int64 {
		t.Helper()
		conn, err := d.Pool().Acquire(ctx)
		if err != nil {
			t.Fatalf("acquire: %v", err)
		}
		defer conn.Release()
		// KEDA runs the query on a plain connection; the test's schema
		// stands in for the database's default one.
		if _, err := conn.Exec(ctx, "SET search_path TO "+d.Schema()); err != nil {
			t.Fatalf("search_path: %v", err)
		}
		var n int64
		if err := conn.QueryRow(ctx, postgresstore.PendingCountQuery).Scan(&n); err != nil {
			t.Fatalf("PendingCountQuery: %v", err)
		}
		return n
	}, nil)
}
