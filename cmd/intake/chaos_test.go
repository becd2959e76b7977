package main

// The chaos test behind docs/RELIABILITY.md: rounds of SIGKILL of a `work`
// process in the middle of a batch, on each store, then a check that no
// document was lost or duplicated, that every blob matches its sha256, and
// that the orphan sweep leaves no unreferenced blob. It runs only when
// INTAKE_CHAOS_ROUNDS is set (scripts/chaos.sh sets it):
//
//	INTAKE_CHAOS_ROUNDS=100 INTAKE_CHAOS_STORES=sqlite,postgres,mongo \
//	  go test -run TestChaosKillWorker -timeout 3h -v ./cmd/intake

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob"
	"github.com/intake-dev/intake/internal/dispatch/poll"
	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/testenv"
	"github.com/intake-dev/intake/internal/worker"
)

func TestChaosKillWorker(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("INTAKE_CHAOS_ROUNDS"))
	if rounds <= 0 {
		t.Skip("set INTAKE_CHAOS_ROUNDS (scripts/chaos.sh) to run the chaos test")
	}
	stores := strings.Split(cmp.Or(os.Getenv("INTAKE_CHAOS_STORES"), "sqlite,postgres,mongo"), ",")
	bin := testenv.IntakeBinary(t)
	for _, name := range stores {
		t.Run(name, func(t *testing.T) {
			var b backend
			switch name {
			case "sqlite":
				b = sqliteFile(t)
			case "postgres":
				b = postgresDatabase(t)
			case "mongo":
				b = mongoDatabase(t)
			default:
				t.Fatalf("INTAKE_CHAOS_STORES: unknown store %q", name)
			}
			chaosRounds(t, bin, name, b, rounds)
		})
	}
}

// chaosRounds runs serve and, round after round, a worker that is killed
// with SIGKILL while it has runs in flight; jobs are added whenever all
// are complete. Then one worker finishes everything and the results are
// verified.
func chaosRounds(t *testing.T, bin, name string, b backend, rounds int) {
	dir := t.TempDir()
	blobDir := filepath.Join(dir, "chaos-blobs")
	env := processEnv(append(b.env,
		"INTAKE_DATA_DIR="+dir,
		"INTAKE_BLOB_URL=file://"+filepath.ToSlash(blobDir),
		"INTAKE_LEASE_TTL=2s",
		"INTAKE_MAINTENANCE_INTERVAL=200ms",
		"INTAKE_FILINGS_DELAY=15ms",
		"INTAKE_WORKER_CONCURRENCY=4",
		// Attempts are not what this test is about: a job whose workers
		// are killed many times in a row must not fail for it.
		"INTAKE_MAX_ATTEMPTS=100000",
		"INTAKE_RETRY_BACKOFF_BASE=100ms",
		"INTAKE_RETRY_BACKOFF_MAX=1s",
	)...)
	migrateProc(t, bin, env, 1)
	serve, api := startServe(t, bin, env)

	var ids []string
	open := func() int { // jobs not yet completed
		n := 0
		for _, id := range ids {
			if st, code, _, err := api.status(id); err != nil || code != http.StatusOK || st.Status != "completed" {
				n++
			}
		}
		return n
	}
	start := time.Now()
	midBatch := 0
	for round := 1; round <= rounds; round++ {
		if open() == 0 {
			ids = append(ids, api.createJobs(t)...)
		}
		w, metricsURL := startWork(t, fmt.Sprintf("work (round %d)", round), bin, env)
		deadline := time.Now().Add(20 * time.Second)
		for metric(t, metricsURL+"/metrics", "intake_worker_active_runs") < 1 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the worker started no run within 20s", round)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.N(400)) * time.Millisecond) //nolint:gosec // test jitter
		if metric(t, metricsURL+"/metrics", "intake_worker_active_runs") >= 1 {
			midBatch++
		}
		w.kill(t)
	}
	killed := time.Since(start)

	final, _ := startWork(t, "work (final)", bin, env)
	states := api.waitAll(t, ids, 10*time.Minute)
	var docs, lost, dup, badSum int
	for _, id := range ids {
		d, l, du, bs := chaosVerify(t, api, id, states[id].Progress.Total)
		docs, lost, dup, badSum = docs+d, lost+l, dup+du, badSum+bs
	}
	final.terminate(t)
	serve.terminate(t)

	swept, left, blobs := chaosSweep(t, env, blobDir)
	if lost != 0 || dup != 0 || badSum != 0 || left != 0 || blobs != docs {
		t.Errorf("lost %d, duplicated %d, sha256 mismatches %d, unreferenced blobs left %d, blobs %d for %d documents",
			lost, dup, badSum, left, blobs, docs)
	}
	if b.check != nil {
		b.check(t, docs)
	}
	t.Logf("CHAOS store=%s rounds=%d kills_mid_batch=%d jobs=%d documents=%d lost=%d duplicated=%d sha256_mismatch=%d orphans_swept=%d orphans_left=%d blobs=%d kill_phase=%s",
		name, rounds, midBatch, len(ids), docs, lost, dup, badSum, swept, left, blobs, killed.Round(time.Second))
}

// chaosVerify lists a completed job's documents through the API and
// downloads each: it returns the documents seen, how many of 1..total are
// missing, how many were listed more than once, and how many do not match
// their sha256 and size.
func chaosVerify(t *testing.T, api *apiClient, id string, total int) (docs, lost, dup, badSum int) {
	t.Helper()
	seen := map[int]bool{}
	cursor := ""
	for page := 0; page < 100; page++ {
		var res resultBody
		path := "/api/v1/jobs/result/" + id + "?limit=50"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		if _, _, err := api.do(http.MethodGet, path, "", &res); err != nil {
			t.Fatal(err)
		}
		for _, d := range res.Documents {
			if seen[d.Seq] {
				dup++
				continue
			}
			seen[d.Seq] = true
			docs++
			b, err := api.content(id, d.Seq)
			sum := sha256.Sum256(b)
			if err != nil || hex.EncodeToString(sum[:]) != d.SHA256 || int64(len(b)) != d.Size {
				badSum++
			}
		}
		if res.NextCursor == "" {
			break
		}
		cursor = res.NextCursor
	}
	for seq := 1; seq <= total; seq++ {
		if !seen[seq] {
			lost++
		}
	}
	if len(seen) > total {
		dup += len(seen) - total
	}
	return docs, lost, dup, badSum
}

// chaosSweep runs the orphan sweep in-process on the stack's store and
// blobs (with no grace: every process is stopped) and returns the blobs it
// deleted, the unreferenced blobs left after it and the blobs left.
func chaosSweep(t *testing.T, env []string, blobDir string) (swept, left, blobs int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var dbURL string
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "INTAKE_DATABASE_URL="); ok {
			dbURL = v
		}
	}
	st, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bucket, err := blob.Open(ctx, "file://"+blobDir, blob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bucket.Close()
	m, err := worker.NewMaintainer(worker.MaintainerConfig{OrphanGrace: time.Millisecond}, st, bucket, poll.New(),
		slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if swept, err = m.SweepOrphans(ctx); err != nil {
		t.Fatalf("orphan sweep: %v", err)
	}
	var keys []string
	if err := bucket.List(ctx, "jobs/", func(b *intake.BlobInfo) error {
		keys = append(keys, b.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(keys); i += intake.MaxPageSize {
		batch := keys[i:min(len(keys), i+intake.MaxPageSize)]
		refs, err := st.ReferencedBlobKeys(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range batch {
			if !refs[k] {
				left++
			}
		}
	}
	return swept, left, len(keys)
}
