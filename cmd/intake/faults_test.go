package main

// Fault tests with real processes: a worker killed mid-batch, a PostgreSQL
// restart and an Azurite outage while jobs run. Each fault hits a backend
// instance of the test's own (a SQLite file, a private PostgreSQL cluster,
// a private Azurite), so it never disturbs tests running in parallel.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/testenv"
)

// runsToComplete returns how many runs a job of total documents needs from
// collected on, at the default batch fraction.
func runsToComplete(total, collected int) int {
	runs := 0
	for collected < total {
		collected += intake.BatchSize(total, collected, intake.DefaultBatchFraction, 0)
		runs++
	}
	return runs
}

// TestFaultKillWorker kills a worker with SIGKILL in the middle of a batch.
// The maintenance loop of serve expires its lease, a second worker takes
// the job over at the next document, and the job completes with exactly
// total documents, each matching its sha256.
func TestFaultKillWorker(t *testing.T) {
	t.Parallel()
	bin := testenv.IntakeBinary(t)
	env := processEnv(append(sqliteFile(t).env,
		"INTAKE_LEASE_TTL=2s",
		"INTAKE_MAINTENANCE_INTERVAL=200ms",
		"INTAKE_FILINGS_DELAY=100ms",
		"INTAKE_WORKER_CONCURRENCY=4",
	)...)
	migrateProc(t, bin, env, 1)
	serve, api := startServe(t, bin, env)
	worker1, _ := startWork(t, "work (killed)", bin, env)

	ids := api.createJobs(t)
	id := ids[0]

	// Wait until the first run of the job has recorded some of its batch
	// but has at least two documents of it left, then kill the worker.
	var before jobState
	deadline := time.Now().Add(completeTimeout)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("job %s never got mid-batch: %+v", id, before)
		}
		before = api.mustStatus(t, id)
		batch := intake.BatchSize(before.Progress.Total, 0, intake.DefaultBatchFraction, 0)
		if before.Status == "processing" && before.Runs == 1 && before.Progress.Collected >= 1 && before.Progress.Collected <= batch-2 {
			break
		}
		if before.Runs > 1 || before.Status == "completed" {
			t.Fatalf("job %s passed its first batch before the test saw it mid-batch: %+v", id, before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	worker1.kill(t)

	// Only serve runs a maintenance loop now: the job comes back to pending
	// once the lease (2s) expires, with the dead run counted as an attempt.
	var expired jobState
	deadline = time.Now().Add(15 * time.Second)
	for {
		expired = api.mustStatus(t, id)
		if expired.Status == "pending" {
			break
		}
		if expired.Status != "processing" || time.Now().After(deadline) {
			t.Fatalf("job %s after SIGKILL of its worker: %+v, want processing until the lease expires, then pending", id, expired)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if expired.Attempts != 1 || expired.Runs != 1 || expired.Progress.Collected < before.Progress.Collected {
		t.Errorf("after the lease expired: %+v, want attempts 1, runs 1, collected >= %d", expired, before.Progress.Collected)
	}
	if n := metric(t, api.base+"/metrics", "intake_maintenance_jobs_total", "action", "lease_expired"); n < 1 {
		t.Errorf("serve's intake_maintenance_jobs_total{action=\"lease_expired\"} = %v, want >= 1", n)
	}

	worker2, _ := startWork(t, "work (takeover)", bin, env)
	states := api.waitAll(t, ids, completeTimeout)
	st := states[id]
	if want := 1 + runsToComplete(st.Progress.Total, expired.Progress.Collected); st.Runs != want {
		t.Errorf("job %s took %d runs, want %d: the killed run plus %d from document %d on",
			id, st.Runs, want, want-1, expired.Progress.Collected+1)
	}
	for _, id := range ids {
		api.verifyJob(t, id, states[id])
	}
	worker2.terminate(t)
	serve.terminate(t)
	t.Logf("killed the worker at %d of %d documents; the lease expired at %d; %d runs in all",
		before.Progress.Collected, before.Progress.Total, expired.Progress.Collected, st.Runs)
}

// pgCluster is a private PostgreSQL cluster that a test may stop and start.
type pgCluster struct {
	bin  string // directory of initdb and pg_ctl
	dir  string // owned by the postgres user: data/, the socket, the log
	port int
	user string // the user to run pg_ctl as, "" for the current one
}

// startPGCluster initdbs and starts a private cluster on a free loopback
// port, stopped and removed at cleanup. It calls testenv.Missing when
// PostgreSQL's server binaries (or, as root, runuser and a postgres user)
// are not installed.
func startPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	initdbs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(initdbs) == 0 {
		testenv.Missing(t, "PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb)", "apt-get install postgresql")
	}
	slices.SortFunc(initdbs, func(a, b string) int { return pgMajor(a) - pgMajor(b) })
	c := &pgCluster{bin: filepath.Dir(initdbs[len(initdbs)-1]), port: testenv.FreePort(t)}

	dir, err := os.MkdirTemp("", "intake-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir = dir
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		if _, err := exec.LookPath("runuser"); err != nil {
			testenv.Missing(t, "runuser", "apt-get install util-linux")
		}
		u, err := user.Lookup("postgres")
		if err != nil {
			testenv.Missing(t, "a postgres user", "apt-get install postgresql")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.user = "postgres"
	}
	data := filepath.Join(dir, "data")
	c.run(t, 60*time.Second, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	conf := fmt.Sprintf("\n# intake fault test: loopback only, socket in the test's directory.\n"+
		"listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"+
		"fsync = off\nshared_buffers = 16MB\nmax_connections = 50\n", c.port, dir)
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	c.start(t)
	t.Cleanup(func() {
		cmd := c.command(context.Background(), "pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "30", "stop")
		if out, err := cmd.CombinedOutput(); err != nil && c.ready() {
			t.Errorf("stop the private PostgreSQL: %v\n%s", err, out)
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			t.Logf("--- private PostgreSQL log:\n%s", tail(string(log), 16<<10))
		}
	})
	return c
}

// pgMajor returns the major version in a path /usr/lib/postgresql/N/bin/x.
func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// command returns a command running one of the cluster's binaries as the
// cluster's user.
func (c *pgCluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if c.user != "" {
		return exec.CommandContext(ctx, "runuser", append([]string{"-u", c.user, "--", path}, args...)...)
	}
	return exec.CommandContext(ctx, path, args...)
}

// run runs one of the cluster's binaries and fails the test if it fails.
func (c *pgCluster) run(t *testing.T, timeout time.Duration, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if out, err := c.command(ctx, name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// start starts the cluster and waits until it accepts connections.
func (c *pgCluster) start(t *testing.T) {
	t.Helper()
	c.run(t, 60*time.Second, "pg_ctl", "-D", filepath.Join(c.dir, "data"), "-l", filepath.Join(c.dir, "postgres.log"), "-w", "-t", "30", "start")
}

// stop stops the cluster the way an operator's restart does (fast:
// sessions are disconnected, in-flight transactions roll back).
func (c *pgCluster) stop(t *testing.T) {
	t.Helper()
	c.run(t, 60*time.Second, "pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "fast", "-w", "-t", "30", "stop")
}

// ready reports whether the cluster accepts TCP connections.
func (c *pgCluster) ready() bool {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", c.port), time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// url returns the URL of the cluster's postgres database.
func (c *pgCluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// outageProbe polls a job's status through the API while a dependency is
// down and tallies the answers.
type outageProbe struct {
	calls, unavailable, withRetryAfter, internal, other int
	codes                                               map[int]int
}

func (o *outageProbe) probe(api *apiClient, id string) {
	if o.codes == nil {
		o.codes = map[int]int{}
	}
	o.calls++
	_, code, hdr, _ := api.status(id)
	o.codes[code]++
	switch {
	case code == http.StatusServiceUnavailable:
		o.unavailable++
		if hdr.Get("Retry-After") != "" {
			o.withRetryAfter++
		}
	case code == http.StatusInternalServerError:
		o.internal++
	case code != http.StatusOK:
		o.other++
	}
}

// TestFaultRestartPostgres stops a private PostgreSQL for a few seconds
// while serve and work process jobs on it (with LISTEN/NOTIFY dispatch, so
// that its listening connection dies too). Meanwhile the API answers 503
// with Retry-After, never 500; afterwards every job completes with all its
// documents intact, and both processes still exit 0 on SIGTERM.
func TestFaultRestartPostgres(t *testing.T) {
	t.Parallel()
	bin := testenv.IntakeBinary(t)
	pg := startPGCluster(t)
	env := processEnv(
		"INTAKE_DATA_DIR="+t.TempDir(),
		"INTAKE_DATABASE_URL="+pg.url(),
		"INTAKE_BLOB_URL=file://"+filepath.ToSlash(filepath.Join(t.TempDir(), "blobs")),
		"INTAKE_DISPATCH=pgnotify",
		"INTAKE_LEASE_TTL=2s",
		"INTAKE_FILINGS_DELAY=100ms",
		"INTAKE_WORKER_CONCURRENCY=3",
		"INTAKE_MAX_ATTEMPTS=20",
		"INTAKE_RETRY_BACKOFF_BASE=500ms",
		"INTAKE_RETRY_BACKOFF_MAX=5s",
	)
	st := startFaultStack(t, bin, env)
	api, ids := st.api, st.ids
	if mode := st.work.waitLog(t, `"msg":"intake starting"`, `"dispatch":"([^"]+)"`); !strings.Contains(mode, "notify") {
		t.Errorf("work started with dispatch %q, want LISTEN/NOTIFY", mode)
	}

	stopped := time.Now()
	pg.stop(t)
	var probe outageProbe
	for time.Since(stopped) < 3*time.Second {
		probe.probe(api, ids[0])
		time.Sleep(100 * time.Millisecond)
	}
	pg.start(t)
	outage := time.Since(stopped)
	// The first calls after the restart may still meet dead pooled
	// connections; they too must be 503s, not 500s.
	for range 10 {
		probe.probe(api, ids[0])
		time.Sleep(50 * time.Millisecond)
	}
	if probe.withRetryAfter == 0 || probe.internal > 0 || probe.other > 0 {
		t.Errorf("status calls during and right after the outage, by HTTP status: %v; want at least one 503 with Retry-After and no other error", probe.codes)
	}
	if probe.unavailable != probe.withRetryAfter {
		t.Errorf("%d of %d 503 answers lacked Retry-After", probe.unavailable-probe.withRetryAfter, probe.unavailable)
	}

	recovered := time.Now()
	st.complete(t)
	st.stop(t)
	t.Logf("PostgreSQL down for %s; status calls by HTTP status %v; all jobs completed %s after the restart",
		outage.Round(time.Millisecond), probe.codes, time.Since(recovered).Round(time.Millisecond))
}

// faultStack is intake as processes for a fault test: a migrated store,
// one serve and one work process, and jobs being collected.
type faultStack struct {
	serve, work *proc
	api         *apiClient
	metrics     string // the work process's base URL for /metrics
	ids         []string
}

// startFaultStack migrates the store env names, starts serve and work,
// creates jobs and waits until they have collected three documents: the
// moment a fault test breaks a backend.
func startFaultStack(t *testing.T, bin string, env []string) *faultStack {
	t.Helper()
	migrateProc(t, bin, env, 1)
	s := &faultStack{}
	s.serve, s.api = startServe(t, bin, env)
	s.work, s.metrics = startWork(t, "work", bin, env)
	s.ids = s.api.createJobs(t)
	waitCollected(t, s.api, s.ids, 3)
	return s
}

// complete waits until every job completed and verifies each.
func (s *faultStack) complete(t *testing.T) {
	t.Helper()
	states := s.api.waitAll(t, s.ids, completeTimeout)
	for _, id := range s.ids {
		s.api.verifyJob(t, id, states[id])
	}
}

// stop stops the processes.
func (s *faultStack) stop(t *testing.T) {
	t.Helper()
	s.work.terminate(t)
	s.serve.terminate(t)
}

// waitCollected waits until the jobs have recorded at least n documents
// between them, so that a fault lands mid-run, and fails if any job has
// completed by then (the fault would prove less).
func waitCollected(t *testing.T, api *apiClient, ids []string, n int) {
	t.Helper()
	deadline := time.Now().Add(completeTimeout)
	for time.Now().Before(deadline) {
		sum, completed := 0, 0
		for _, id := range ids {
			st := api.mustStatus(t, id)
			sum += st.Progress.Collected
			if st.Status == "completed" {
				completed++
			}
		}
		if completed > 0 {
			t.Fatalf("%d jobs completed before the fault could be injected", completed)
		}
		if sum >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the jobs did not record %d documents within %s", n, completeTimeout)
}

// azurite is a private Azurite blob service that a test may stop and start.
type azurite struct {
	bin  string
	dir  string // --location: blobs survive a restart, as in a real outage
	port int
	p    *proc
	runs int
}

// startAzurite starts a private Azurite on a free loopback port. It calls
// testenv.Missing when scripts/test-services.sh has not installed Azurite
// or INTAKE_TEST_AZURITE_CONN (whose account it serves) is unset.
func startAzurite(t *testing.T) *azurite {
	t.Helper()
	testenv.Azurite.URL(t) // the account it serves
	bin := testenv.Tool(t, "azurite-*/node_modules/.bin/azurite-blob", "Azurite")
	a := &azurite{bin: bin, dir: t.TempDir(), port: testenv.FreePort(t)}
	a.start(t)
	return a
}

// start starts Azurite and waits until it answers HTTP.
func (a *azurite) start(t *testing.T) {
	t.Helper()
	a.runs++
	// Azurite is a Node.js script: it needs PATH to find node. Without
	// --disableTelemetry it sends telemetry to Application Insights; tests
	// dial loopback only.
	a.p = startProc(t, fmt.Sprintf("azurite (start %d)", a.runs), a.bin, os.Environ(),
		"--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(a.port), "--location", a.dir,
		"--skipApiVersionCheck", "--disableProductStyleUrl", "--disableTelemetry", "--silent")
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		// Any HTTP answer (403 without a signature) means it is up.
		if resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/devstoreaccount1?comp=list", a.port)); err == nil {
			_ = resp.Body.Close()
			return
		}
		if !a.p.running() {
			t.Fatalf("azurite exited (%s) before answering", a.p.exitState())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("azurite did not answer on 127.0.0.1:%d within %s", a.port, startTimeout)
}

// stop stops Azurite with SIGTERM, as an orchestrator does.
func (a *azurite) stop(t *testing.T) {
	t.Helper()
	a.p.terminate(t)
}

// connectionString returns INTAKE_TEST_AZURITE_CONN (Azurite's well-known
// account) with its blob endpoint moved to the private Azurite.
func (a *azurite) connectionString(t *testing.T) string {
	t.Helper()
	conn := testenv.Azurite.URL(t)
	parts := strings.Split(strings.TrimSuffix(conn, ";"), ";")
	found := false
	for i, p := range parts {
		if k, _, _ := strings.Cut(p, "="); strings.EqualFold(k, "BlobEndpoint") {
			parts[i] = fmt.Sprintf("BlobEndpoint=http://127.0.0.1:%d/devstoreaccount1", a.port)
			found = true
		}
	}
	if !found {
		t.Fatal("INTAKE_TEST_AZURITE_CONN has no BlobEndpoint")
	}
	return strings.Join(parts, ";") + ";"
}

// TestFaultStopAzurite stops a private Azurite while a worker stores
// documents in it, for longer than the Azure SDK's own retries last (about
// 5.5 s), so that uploads fail and batches are rescheduled. Every job
// completes and no completed job misses a blob: every document's content
// downloads from Azurite and matches its sha256.
func TestFaultStopAzurite(t *testing.T) {
	t.Parallel()
	bin := testenv.IntakeBinary(t)
	az := startAzurite(t)
	env := processEnv(append(sqliteFile(t).env,
		"INTAKE_BLOB_URL="+az.connectionString(t),
		"INTAKE_BLOB_CONTAINER=documents",
		"INTAKE_LEASE_TTL=2s",
		"INTAKE_FILINGS_DELAY=50ms",
		"INTAKE_WORKER_CONCURRENCY=3",
		"INTAKE_MAX_ATTEMPTS=20",
		"INTAKE_RETRY_BACKOFF_BASE=500ms",
		"INTAKE_RETRY_BACKOFF_MAX=5s",
	)...)
	st := startFaultStack(t, bin, env)

	stopped := time.Now()
	az.stop(t)
	time.Sleep(8 * time.Second)
	az.start(t)
	outage := time.Since(stopped)

	recovered := time.Now()
	st.complete(t)
	// The outage must have failed uploads and batches, or this test
	// proved nothing about them.
	putErrors := metric(t, st.metrics+"/metrics", "intake_blob_operations_total", "operation", "put") -
		metric(t, st.metrics+"/metrics", "intake_blob_operations_total", "operation", "put", "outcome", "ok")
	scheduled := metric(t, st.metrics+"/metrics", "intake_worker_runs_total", "outcome", "scheduled")
	if putErrors < 1 || scheduled < 1 {
		t.Errorf("the worker saw %v failed uploads and rescheduled %v runs during the outage; want both >= 1", putErrors, scheduled)
	}
	st.stop(t)
	t.Logf("Azurite down for %s; the worker saw %v failed uploads and rescheduled %v runs; all jobs completed %s after the restart",
		outage.Round(time.Millisecond), putErrors, scheduled, time.Since(recovered).Round(time.Millisecond))
}
