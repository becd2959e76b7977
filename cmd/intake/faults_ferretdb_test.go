package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/intake-dev/intake/internal/testenv"
)

// ferretDB is a private FerretDB (SQLite backend) that a test may stop and
// start; its data directory survives a restart.
type ferretDB struct {
	bin, dir string
	port     int
	p        *proc
	runs     int
}

// startFerretDB starts a private FerretDB on a free loopback port. It calls
// testenv.Missing when scripts/test-services.sh has not built FerretDB.
func startFerretDB(t *testing.T) *ferretDB {
	t.Helper()
	bin := testenv.Tool(t, "ferretdb-*/ferretdb", "FerretDB")
	f := &ferretDB{bin: bin, dir: t.TempDir(), port: testenv.FreePort(t)}
	if err := os.MkdirAll(filepath.Join(f.dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	f.start(t)
	return f
}

// start starts FerretDB and waits until it accepts connections.
func (f *ferretDB) start(t *testing.T) {
	t.Helper()
	f.runs++
	f.p = startProc(t, fmt.Sprintf("ferretdb (start %d)", f.runs), f.bin, append(os.Environ(), "DO_NOT_TRACK=1"),
		"--handler=sqlite", "--sqlite-url=file:"+filepath.Join(f.dir, "data")+"/",
		"--listen-addr=127.0.0.1:"+strconv.Itoa(f.port), "--state-dir="+f.dir,
		"--debug-addr=-", "--telemetry=disable", "--log-level=error")
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(f.port), time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) || !f.p.running() {
			t.Fatalf("ferretdb on port %d did not accept connections (%s): %v", f.port, f.p.exitState(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFaultRestartFerretDB stops a private FerretDB (the MongoDB wire
// protocol) for at least five seconds while serve and work process jobs on it.
// Meanwhile the API answers 503 with Retry-After, never 500; afterwards
// every job completes with all its documents intact.
func TestFaultRestartFerretDB(t *testing.T) {
	t.Parallel()
	bin := testenv.IntakeBinary(t)
	fdb := startFerretDB(t)
	dir := t.TempDir()
	env := processEnv(
		"INTAKE_DATA_DIR="+dir,
		"INTAKE_DATABASE_URL=mongodb://127.0.0.1:"+strconv.Itoa(fdb.port)+"/intake",
		"INTAKE_BLOB_URL=file://"+filepath.ToSlash(filepath.Join(dir, "blobs")),
		"INTAKE_LEASE_TTL=3s",
		"INTAKE_FILINGS_DELAY=30ms",
		"INTAKE_MAX_ATTEMPTS=20",
		"INTAKE_RETRY_BACKOFF_BASE=500ms",
		"INTAKE_RETRY_BACKOFF_MAX=3s",
	)
	st := startFaultStack(t, bin, env)
	api, ids := st.api, st.ids

	fdb.p.terminate(t)
	var probe outageProbe
	down := time.Now()
	// At least five seconds and three answers: each call may wait for the
	// store's timeout before it answers 503.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) || probe.calls < 3; {
		probe.probe(api, ids[0])
		time.Sleep(200 * time.Millisecond)
	}
	fdb.start(t)
	outage := time.Since(down)
	if probe.internal > 0 || probe.other > 0 || probe.unavailable != probe.withRetryAfter {
		t.Errorf("status with FerretDB down: %v (%d of %d 503s with Retry-After), want 503 with Retry-After (or 200), never 500",
			probe.codes, probe.withRetryAfter, probe.unavailable)
	}
	st.complete(t)
	st.stop(t)
	t.Logf("FerretDB down for %s: %d status calls answered %v; all %d jobs completed", outage.Round(time.Millisecond), probe.calls, probe.codes, len(ids))
}
