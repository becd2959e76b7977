package main

// End-to-end tests with real processes: the binary is built once per test
// run, and `intake migrate`, `intake serve` and `intake work` run as
// separate processes against each supported stack, as they do in
// production. Every test gets its own database, container, stream and
// ports, so the tests run in parallel and re-runs start clean.

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/intake-dev/intake/internal/testenv"
)

// processAPIKey is the bearer key the serve processes of these tests accept.
const processAPIKey = "process-test-key"

// Bounds of every wait, so that no test can hang.
const (
	startTimeout    = 30 * time.Second // a process logs that it is listening
	stopTimeout     = 30 * time.Second // a process exits after SIGTERM
	completeTimeout = 90 * time.Second // every job of a test completes
	migrateTimeout  = 60 * time.Second
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// proc is one intake (or helper server) process started by a test.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testenv.Buffer // stdout and stderr, interleaved
	done chan struct{}
}

// startProc starts path with args and exactly the environment env. At
// cleanup it kills the process if it still runs and, when the test failed,
// prints its output.
func startProc(t *testing.T, name, path string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &testenv.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = env
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	dieWithParent(p.cmd)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.running() {
			_ = p.cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Errorf("%s (pid %d) did not exit 10s after SIGKILL", p.name, p.cmd.Process.Pid)
			}
		}
		if t.Failed() {
			t.Logf("--- output of %s (pid %d, %s):\n%s", p.name, p.cmd.Process.Pid, p.exitState(), tail(p.out.String(), 48<<10))
		}
	})
	return p
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) exitState() string {
	if p.running() {
		return "running"
	}
	return p.cmd.ProcessState.String()
}

// terminate sends SIGTERM and requires a clean exit 0 within stopTimeout.
func (p *proc) terminate(t *testing.T) {
	t.Helper()
	if !p.running() {
		t.Errorf("%s had already exited (%s) before SIGTERM", p.name, p.exitState())
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("%s exited with %s after SIGTERM, want exit 0", p.name, p.cmd.ProcessState)
		}
	case <-time.After(stopTimeout):
		t.Errorf("%s did not exit within %s of SIGTERM", p.name, stopTimeout)
	}
}

// kill sends SIGKILL and waits until the process is gone.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not exit 10s after SIGKILL", p.name)
	}
}

// waitLog waits until the process logs a line containing marker and returns
// the first submatch of pattern in that line. It fails at once when the
// process exits first.
func (p *proc) waitLog(t *testing.T, marker, pattern string) string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		for line := range strings.SplitSeq(p.out.String(), "\n") {
			if strings.Contains(line, marker) {
				if m := re.FindStringSubmatch(line); m != nil {
					return m[1]
				}
			}
		}
		if !p.running() {
			t.Fatalf("%s exited (%s) before logging %s", p.name, p.exitState(), marker)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s logged no line with %s within %s", p.name, marker, startTimeout)
	return ""
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "[…]" + s[len(s)-n:]
}

// processEnv returns the environment of an intake process: only loopback
// listeners, JSON logs, fast polling, the test key, then extra (later
// entries win). Nothing is inherited from the test's environment, so that
// neither a developer's INTAKE_* or MONGO_URI nor a proxy setting leaks in.
func processEnv(extra ...string) []string {
	env := []string{
		"INTAKE_HTTP_ADDR=127.0.0.1:0",
		"INTAKE_METRICS_ADDR=127.0.0.1:0",
		"INTAKE_API_KEYS=" + processAPIKey,
		"INTAKE_LOG_FORMAT=json",
		"INTAKE_LOG_LEVEL=info",
		"INTAKE_FILINGS_DELAY=20ms",
		"INTAKE_WORKER_POLL_INTERVAL=100ms",
		"INTAKE_MAINTENANCE_INTERVAL=200ms",
		"INTAKE_SHUTDOWN_TIMEOUT=10s",
	}
	if dir := os.Getenv("TMPDIR"); dir != "" {
		env = append(env, "TMPDIR="+dir)
	}
	return append(env, extra...)
}

// migrateProc runs `intake migrate` in n processes at once, as replicas
// starting together do, and requires each to exit 0.
func migrateProc(t *testing.T, bin string, env []string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), migrateTimeout)
	defer cancel()
	outs := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, bin, "migrate")
			cmd.Env = env
			outs[i], errs[i] = cmd.CombinedOutput()
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("intake migrate (%d of %d at once): %v\n%s", i+1, n, errs[i], outs[i])
		}
		if !strings.Contains(string(outs[i]), "schema is up to date") {
			t.Fatalf("intake migrate (%d of %d at once) printed no confirmation:\n%s", i+1, n, outs[i])
		}
	}
}

// startServe starts `intake serve` and returns its API client once it
// listens.
func startServe(t *testing.T, bin string, env []string) (*proc, *apiClient) {
	t.Helper()
	p := startProc(t, "serve", bin, env, "serve")
	addr := p.waitLog(t, `"msg":"serving"`, `"addr":"([^"]+)"`)
	return p, newAPIClient("http://" + addr)
}

// startWork starts `intake work` and returns it with the base URL of its
// /metrics and /health listener once that listens.
func startWork(t *testing.T, name, bin string, env []string) (*proc, string) {
	t.Helper()
	p := startProc(t, name, bin, env, "work")
	addr := p.waitLog(t, `"msg":"worker metrics"`, `"addr":"([^"]+)"`)
	return p, "http://" + addr
}

// jobState is a job's status as GET /api/v1/jobs/status/{id} reports it.
type jobState struct {
	statusBody
	Attempts int `json:"attempts"`
}

// apiClient calls the API of a serve process with the test key; every
// call has a timeout.
type apiClient struct {
	base string
	hc   *http.Client
}

func newAPIClient(base string) *apiClient {
	return &apiClient{base: base, hc: &http.Client{Timeout: 15 * time.Second}}
}

// do sends a request and decodes a 2xx JSON answer into out.
func (c *apiClient) do(method, path, body string, out any) (int, http.Header, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+processAPIKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, resp.Header, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, resp.Header, fmt.Errorf("%s %s: decode %q: %w", method, path, tail(string(b), 512), err)
		}
	} else if resp.StatusCode/100 != 2 {
		err = fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, tail(string(b), 512))
	}
	return resp.StatusCode, resp.Header, err
}

// createJobs creates three filings jobs through /create-job and
// one through the trigger endpoint, and returns their ids.
func (c *apiClient) createJobs(t *testing.T) []string {
	t.Helper()
	var created struct {
		Jobs []struct {
			JobID string `json:"jobId"`
		} `json:"jobs"`
		TotalJobs int `json:"totalJobs"`
	}
	if _, _, err := c.do(http.MethodPost, "/create-job", `{"num_jobs": 3}`, &created); err != nil {
		t.Fatal(err)
	}
	if created.TotalJobs != 3 || len(created.Jobs) != 3 {
		t.Fatalf("create-job returned %+v, want 3 jobs", created)
	}
	var trig struct {
		JobID  string `json:"job_id"`
		Status string `json:"status"`
	}
	body := `{"source_type":"filings","config":{"cin":"L17110MH1973PLC019786","company_name":"Reliance Industries Limited"}}`
	code, _, err := c.do(http.MethodPost, "/api/v1/jobs/trigger", body, &trig)
	if err != nil || code != http.StatusAccepted || trig.JobID == "" {
		t.Fatalf("trigger: HTTP %d %+v: %v", code, trig, err)
	}
	ids := []string{trig.JobID}
	for _, j := range created.Jobs {
		ids = append(ids, j.JobID)
	}
	return ids
}

// status returns a job's status; a non-2xx answer is an error carrying the
// HTTP status, which the caller may tolerate (fault tests).
func (c *apiClient) status(id string) (jobState, int, http.Header, error) {
	var st jobState
	code, hdr, err := c.do(http.MethodGet, "/api/v1/jobs/status/"+id, "", &st)
	return st, code, hdr, err
}

// mustStatus returns a job's status or fails the test.
func (c *apiClient) mustStatus(t *testing.T, id string) jobState {
	t.Helper()
	st, _, _, err := c.status(id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitAll polls until every job completed and returns their final states.
// A 503 with Retry-After is polled again, as a client would; a failed or
// cancelled job, any other API error or the deadline fail the test.
func (c *apiClient) waitAll(t *testing.T, ids []string, timeout time.Duration) map[string]jobState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	done := map[string]jobState{}
	last := map[string]jobState{}
	unavailable := 0
	for len(done) < len(ids) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs not completed within %s (%d answers were 503); last states: %+v",
				len(ids)-len(done), len(ids), timeout, unavailable, last)
		}
		for _, id := range ids {
			if _, ok := done[id]; ok {
				continue
			}
			st, code, hdr, err := c.status(id)
			if code == http.StatusServiceUnavailable && hdr.Get("Retry-After") != "" {
				unavailable++
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			last[id] = st
			switch st.Status {
			case "completed":
				done[id] = st
			case "failed", "cancelled":
				t.Fatalf("job %s ended %s: %s", id, st.Status, st.LastError)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if unavailable > 0 {
		t.Logf("%d status calls answered 503 while waiting for the jobs", unavailable)
	}
	return done
}

// verifyJob checks a completed job: its documents are exactly seqs
// 1..total, once each, and every one's content downloads through the API
// and matches its sha256 and size.
func (c *apiClient) verifyJob(t *testing.T, id string, st jobState) {
	t.Helper()
	total := st.Progress.Total
	if total < 30 || total > 50 || st.Progress.Collected != total {
		t.Errorf("job %s: progress %+v, want a total of 30..50, all collected", id, st.Progress)
	}
	c.verifyDocuments(t, id, total)
}

// verifyDocuments pages through a completed job's result and checks that
// its documents are seqs 1..total, once each, and that every one's content
// matches its sha256 and size.
func (c *apiClient) verifyDocuments(t *testing.T, id string, total int) {
	t.Helper()
	seen := map[int]bool{}
	cursor := ""
	for page := 0; ; page++ {
		if page > 20 {
			t.Fatalf("job %s: more than 20 result pages", id)
		}
		var res resultBody
		path := "/api/v1/jobs/result/" + id + "?limit=17"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		if _, _, err := c.do(http.MethodGet, path, "", &res); err != nil {
			t.Fatal(err)
		}
		for _, d := range res.Documents {
			if seen[d.Seq] {
				t.Errorf("job %s: document %d listed twice", id, d.Seq)
			}
			seen[d.Seq] = true
			b, err := c.content(id, d.Seq)
			if err != nil {
				t.Errorf("job %s document %d (%s): %v", id, d.Seq, d.Name, err)
				continue
			}
			sum := sha256.Sum256(b)
			if hex.EncodeToString(sum[:]) != d.SHA256 || int64(len(b)) != d.Size {
				t.Errorf("job %s document %d: content (%d bytes) does not match its sha256/size (%d bytes)", id, d.Seq, len(b), d.Size)
			}
		}
		if res.NextCursor == "" {
			break
		}
		cursor = res.NextCursor
	}
	for seq := 1; seq <= total; seq++ {
		if !seen[seq] {
			t.Errorf("job %s: document %d missing", id, seq)
		}
	}
	if len(seen) != total {
		t.Errorf("job %s: %d documents, want %d", id, len(seen), total)
	}
}

// content downloads one document.
func (c *apiClient) content(id string, seq int) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/v1/jobs/%s/documents/%d/content", c.base, id, seq), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+processAPIKey)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("content: HTTP %d: %s", resp.StatusCode, tail(string(b), 256))
	}
	return b, nil
}

// metric scrapes url (a /metrics endpoint) and returns the sum of the
// samples of family name whose labels include every pair in labels: 0 when
// there is none (a labelled counter has no series until its first event).
func metric(t *testing.T, metricsURL, name string, labels ...string) float64 {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(metricsURL)
	if err != nil {
		t.Fatalf("scrape %s: %v", metricsURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: HTTP %d", metricsURL, resp.StatusCode)
	}
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(line, fmt.Sprintf("%s=%q", labels[i], labels[i+1])) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			t.Fatalf("scrape %s: bad sample %q", metricsURL, line)
		}
		sum += v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape %s: %v", metricsURL, err)
	}
	return sum
}

// uniqueName returns prefix followed by 10 random lowercase letters and
// digits: valid for PostgreSQL and MongoDB databases, Azure containers and
// Redis keys alike.
func uniqueName(prefix string) string {
	return prefix + strings.ToLower(rand.Text()[:10])
}

// backend is the part of a stack's environment that one backend provides,
// with an optional check run after the jobs completed.
type backend struct {
	env   []string
	check func(t *testing.T, docs int)
}

// sqliteFile is the embedded stack: SQLite and files in a temp dir.
func sqliteFile(t *testing.T) backend {
	dir := t.TempDir()
	return backend{env: []string{
		"INTAKE_DATA_DIR=" + dir,
		"INTAKE_DATABASE_URL=sqlite://" + filepath.ToSlash(filepath.Join(dir, "intake.db")),
		"INTAKE_BLOB_URL=file://" + filepath.ToSlash(filepath.Join(dir, "blobs")),
	}}
}

// postgresDatabase creates a database of its own on INTAKE_TEST_POSTGRES_URL,
// dropped (WITH (FORCE)) at cleanup.
func postgresDatabase(t *testing.T) backend {
	t.Helper()
	admin := testenv.Postgres.URL(t)
	name := uniqueName("intake_e2e_")
	pgExec(t, admin, "CREATE DATABASE "+name)
	t.Cleanup(func() { pgExec(t, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("INTAKE_TEST_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + name
	return backend{env: []string{"INTAKE_DATABASE_URL=" + u.String()}}
}

// pgExec runs one statement on a fresh connection to dsn.
func pgExec(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// redisStream gives the stack a Redis stream of its own, deleted at
// cleanup; the check proves that the processes used it: entries were added
// and a consumer group reads it.
func redisStream(t *testing.T) backend {
	t.Helper()
	raw := testenv.Redis.URL(t)
	opts, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("INTAKE_TEST_REDIS_URL: %v", err)
	}
	client := redis.NewClient(opts)
	stream := uniqueName("intake-e2e-")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Del(ctx, stream).Err(); err != nil {
			t.Errorf("delete Redis stream %s: %v", stream, err)
		}
		_ = client.Close()
	})
	return backend{
		env: []string{"INTAKE_REDIS_URL=" + raw, "INTAKE_REDIS_STREAM=" + stream},
		check: func(t *testing.T, _ int) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			info, err := client.XInfoStream(ctx, stream).Result()
			if err != nil {
				t.Errorf("XINFO STREAM %s: %v (did the processes use Redis dispatch?)", stream, err)
				return
			}
			if info.EntriesAdded == 0 || info.Groups == 0 {
				t.Errorf("Redis stream %s: %d entries added, %d consumer groups; want both > 0", stream, info.EntriesAdded, info.Groups)
			}
		},
	}
}

// azureContainer gives the stack a container of its own on
// INTAKE_TEST_AZURITE_CONN (the processes create it), deleted at cleanup;
// the check proves that the documents' blobs are there.
func azureContainer(t *testing.T) backend {
	t.Helper()
	conn := testenv.Azurite.URL(t)
	container := uniqueName("intake-e2e-")
	client, err := azblob.NewClientFromConnectionString(conn, nil)
	if err != nil {
		// The error may quote the connection string; do not print it.
		t.Fatalf("INTAKE_TEST_AZURITE_CONN is not a valid connection string")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := client.DeleteContainer(ctx, container, nil); err != nil && !strings.Contains(err.Error(), "ContainerNotFound") {
			t.Errorf("delete container %s: %v", container, err)
		}
	})
	return backend{
		env: []string{"INTAKE_BLOB_URL=" + conn, "INTAKE_BLOB_CONTAINER=" + container},
		check: func(t *testing.T, docs int) {
			n := countBlobs(t, client, container)
			if n < docs {
				t.Errorf("container %s holds %d blobs, want at least the %d documents", container, n, docs)
			}
		},
	}
}

// countBlobs counts the blobs of a container.
func countBlobs(t *testing.T, client *azblob.Client, container string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	pager := client.NewListBlobsFlatPager(container, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("list blobs of %s: %v", container, err)
		}
		n += len(page.Segment.BlobItems)
	}
	return n
}

// TestStacks is the end-to-end test on each supported stack, with migrate,
// serve and work as separate processes: jobs created over HTTP complete,
// every document's content matches its sha256, no document is duplicated,
// and both processes exit 0 on SIGTERM.
func TestStacks(t *testing.T) {
	t.Parallel()
	stacks := []struct {
		name     string
		backends []func(*testing.T) backend
	}{
		{"sqlite+file", []func(*testing.T) backend{sqliteFile}},
		{"postgres+redis+azure", []func(*testing.T) backend{postgresDatabase, redisStream, azureContainer}},
		{"mongo+azure", []func(*testing.T) backend{mongoDatabase, azureContainer}},
	}
	for _, tt := range stacks {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var env []string
			var checks []func(*testing.T, int)
			for _, open := range tt.backends {
				b := open(t)
				env = append(env, b.env...)
				if b.check != nil {
					checks = append(checks, b.check)
				}
			}
			runStack(t, processEnv(append(env, "INTAKE_WORKER_CONCURRENCY=3")...), checks)
		})
	}
}

// runStack runs migrate, serve and work on env, creates four jobs over
// HTTP and verifies them.
func runStack(t *testing.T, env []string, checks []func(*testing.T, int)) {
	bin := testenv.IntakeBinary(t)
	start := time.Now()
	migrateProc(t, bin, env, 3)
	serve, api := startServe(t, bin, env)
	work, _ := startWork(t, "work", bin, env)
	ready := time.Since(start)

	ids := api.createJobs(t)
	created := time.Now()
	states := api.waitAll(t, ids, completeTimeout)
	elapsed := time.Since(created)
	docs := 0
	for _, id := range ids {
		st := states[id]
		if st.Runs < 3 || st.Runs > 4 {
			t.Errorf("job %s took %d runs, want 3 or 4", id, st.Runs)
		}
		api.verifyJob(t, id, st)
		docs += st.Progress.Total
	}
	for _, check := range checks {
		check(t, docs)
	}
	work.terminate(t)
	serve.terminate(t)
	t.Logf("%d jobs, %d documents: migrate+start %s, created to all completed %s",
		len(ids), docs, ready.Round(time.Millisecond), elapsed.Round(time.Millisecond))
}

// mongoDatabase gives the stack a database of its own on
// INTAKE_TEST_MONGO_URL (named in the URL path, as intake reads it),
// dropped at cleanup; the check proves the documents are in its
// "documents" collection, the name the requirement gives it.
func mongoDatabase(t *testing.T) backend {
	t.Helper()
	raw := testenv.Mongo.URL(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal("INTAKE_TEST_MONGO_URL is not a URL")
	}
	name := uniqueName("intake_e2e_")
	u.Path = "/" + name
	client, err := mongo.Connect(options.Client().ApplyURI(raw).SetTimeout(20 * time.Second))
	if err != nil {
		t.Fatalf("connect to INTAKE_TEST_MONGO_URL: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.Database(name).Drop(ctx); err != nil {
			t.Errorf("drop MongoDB database %s: %v", name, err)
		}
		_ = client.Disconnect(ctx)
	})
	return backend{
		env: []string{"INTAKE_DATABASE_URL=" + u.String()},
		check: func(t *testing.T, docs int) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			n, err := client.Database(name).Collection("documents").CountDocuments(ctx, bson.D{})
			if err != nil {
				t.Errorf("count %s.documents: %v", name, err)
			} else if n != int64(docs) {
				t.Errorf("%s.documents holds %d documents, want %d", name, n, docs)
			}
		},
	}
}
