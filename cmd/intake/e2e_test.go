package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake/internal/testenv"
)

// started is a run() in the background.
type started struct {
	base   string
	stdout *testenv.Buffer
	stderr *testenv.Buffer
	stop   context.CancelFunc
	done   chan error
}

var uiURL = regexp.MustCompile(`web UI:\s+(http://\S+)/`)

// startDev calls run() with `dev` on a fresh data directory and waits until
// it prints its URLs and /health answers.
func startDev(t *testing.T, extraEnv ...string) *started {
	t.Helper()
	environ := append([]string{
		"INTAKE_DATA_DIR=" + t.TempDir(),
		"INTAKE_HTTP_ADDR=127.0.0.1:0",
		"INTAKE_FILINGS_DELAY=0",
		"INTAKE_WORKER_POLL_INTERVAL=50ms",
		"INTAKE_MAINTENANCE_INTERVAL=200ms",
		"INTAKE_LOG_LEVEL=warn",
	}, extraEnv...)
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{stdout: &testenv.Buffer{}, stderr: &testenv.Buffer{}, stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, []string{"dev"}, environ, s.stdout, s.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("run(dev) returned %v; stderr:\n%s", err, s.stderr)
			}
		case <-time.After(30 * time.Second):
			t.Error("run(dev) did not stop within 30s of cancellation")
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			t.Fatalf("run(dev) exited early: %v; stderr:\n%s", err, s.stderr)
		default:
		}
		if m := uiURL.FindStringSubmatch(s.stdout.String()); m != nil {
			s.base = m[1]
			if resp, err := http.Get(s.base + "/health"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return s
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("dev did not become healthy; stdout:\n%s\nstderr:\n%s", s.stdout, s.stderr)
	return nil
}

func getJSON(t *testing.T, url string, out any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("GET %s: decode: %v", url, err)
		}
	}
	return resp.StatusCode
}

func postJSON(t *testing.T, url, body string, out any) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("POST %s: decode: %v", url, err)
		}
	}
	return resp.StatusCode
}

type statusBody struct {
	JobID    string `json:"job_id"`
	Status   string `json:"status"`
	Runs     int    `json:"runs"`
	Progress struct {
		Total     int `json:"total"`
		Collected int `json:"collected"`
	} `json:"progress"`
	LastError string `json:"last_error"`
}

type resultBody struct {
	Documents []struct {
		Seq    int    `json:"seq"`
		Name   string `json:"name"`
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size_bytes"`
	} `json:"documents"`
	NextCursor string `json:"next_cursor"`
}

// TestDevEndToEnd runs the whole system in one process as a newcomer does:
// create jobs over HTTP, wait for them to complete in 3 or 4 runs, and check
// every document through the content endpoint.
func TestDevEndToEnd(t *testing.T) {
	t.Parallel()
	s := startDev(t)

	var created struct {
		Message string `json:"message"`
		Jobs    []struct {
			JobID       string `json:"jobId"`
			CIN         string `json:"cin"`
			CompanyName string `json:"companyName"`
		} `json:"jobs"`
		TotalJobs int `json:"totalJobs"`
	}
	if code := postJSON(t, s.base+"/create-job", `{"num_jobs": 3}`, &created); code != http.StatusOK {
		t.Fatalf("create-job: HTTP %d", code)
	}
	if created.TotalJobs != 3 || len(created.Jobs) != 3 {
		t.Fatalf("create-job returned %+v", created)
	}
	var trig struct {
		JobID  string `json:"job_id"`
		Status string `json:"status"`
	}
	body := `{"source_type":"filings","config":{"cin":"U72200KA2009PTC049889","company_name":"Example Analytics Private Limited"}}`
	if code := postJSON(t, s.base+"/api/v1/jobs/trigger", body, &trig); code != http.StatusAccepted {
		t.Fatalf("trigger: HTTP %d", code)
	}

	ids := []string{trig.JobID}
	for _, j := range created.Jobs {
		ids = append(ids, j.JobID)
	}
	api := newAPIClient(s.base)
	states := api.waitAll(t, ids, 60*time.Second)
	for _, id := range ids {
		st := states[id]
		if st.Progress.Total < 30 || st.Progress.Total > 50 || st.Progress.Collected != st.Progress.Total {
			t.Errorf("job %s progress %+v", id, st.Progress)
		}
		if st.Runs < 3 || st.Runs > 4 {
			t.Errorf("job %s took %d runs, want 3 or 4", id, st.Runs)
		}
		api.verifyDocuments(t, id, st.Progress.Total)
	}

	// Bad input gets a problem, and loses nothing.
	resp, err := http.Post(s.base+"/api/v1/jobs/trigger", "application/json", strings.NewReader(`{"source_type":"nope","config":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		t.Errorf("unknown source_type: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestServeAndWorkOnce is the KEDA flow: serve takes jobs, and short-lived
// `work --once` processes (here, calls of run()) each run one batch until
// the job completes.
func TestServeAndWorkOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	environ := []string{
		"INTAKE_DATA_DIR=" + dir,
		"INTAKE_FILINGS_DELAY=0",
		"INTAKE_LOG_LEVEL=warn",
		"INTAKE_HTTP_ADDR=127.0.0.1:0",
		"INTAKE_API_KEYS=test-key-1",
	}
	var out, errb testenv.Buffer
	ctx := context.Background()

	// serve refuses an unmigrated store with exit code 2.
	err := run(ctx, []string{"serve"}, environ, &out, &errb)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitUsage || !strings.Contains(err.Error(), "intake migrate") {
		t.Fatalf("serve on an unmigrated store: %v", err)
	}
	if err := run(ctx, []string{"migrate"}, environ, &out, &errb); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	// Migrating twice is a no-op.
	if err := run(ctx, []string{"migrate"}, environ, &out, &errb); err != nil {
		t.Fatalf("second migrate: %v", err)
	}

	// Nothing to claim is a success.
	if err := run(ctx, []string{"work", "--once"}, environ, &out, &errb); err != nil {
		t.Fatalf("work --once on an empty queue: %v", err)
	}

	srvCtx, stop := context.WithCancel(ctx)
	defer stop()
	stdout := &testenv.Buffer{}
	serveErr := make(chan error, 1)
	srvEnv := append(environ[:len(environ):len(environ)], "INTAKE_LOG_LEVEL=info", "INTAKE_LOG_FORMAT=json")
	go func() { serveErr <- run(srvCtx, []string{"serve"}, srvEnv, stdout, stdout) }()
	addr := waitForLog(t, stdout, `"msg":"serving"`, `"addr":"([^"]+)"`)
	base := "http://" + addr

	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/jobs/trigger",
		strings.NewReader(`{"source_type":"filings","config":{"cin":"L17110MH1973PLC019786","company_name":"Reliance Industries Limited"}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer test-key-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var trig struct {
		JobID string `json:"job_id"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&trig)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || trig.JobID == "" {
		t.Fatalf("trigger: HTTP %d", resp.StatusCode)
	}

	runs := 0
	for ; runs < 10; runs++ {
		// KEDA passes the job id through JOB_ID.
		if err := run(ctx, []string{"work", "--once"}, append(environ[:len(environ):len(environ)], "JOB_ID="+trig.JobID), &out, &errb); err != nil {
			t.Fatalf("work --once run %d: %v", runs+1, err)
		}
		var st statusBody
		authGet(t, base+"/api/v1/jobs/status/"+trig.JobID, "test-key-1", &st)
		if st.Status == "completed" {
			runs++
			if st.Runs != runs || st.Progress.Collected != st.Progress.Total {
				t.Errorf("completed after %d processes but status says %+v", runs, st)
			}
			break
		}
		if st.Status != "pending" {
			t.Fatalf("after run %d: status %s (%s)", runs+1, st.Status, st.LastError)
		}
	}
	if runs < 3 || runs > 4 {
		t.Errorf("job completed in %d runs, want 3 or 4", runs)
	}
	stop()
	if err := <-serveErr; err != nil {
		t.Errorf("serve: %v", err)
	}
}

func authGet(t *testing.T, url, key string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// waitForLog waits for a log line containing marker and returns the first
// submatch of pattern in it.
func waitForLog(t *testing.T, buf *testenv.Buffer, marker, pattern string) string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(buf.String(), "\n") {
			if strings.Contains(line, marker) {
				if m := re.FindStringSubmatch(line); m != nil {
					return m[1]
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no log line with %s; output:\n%s", marker, buf)
	return ""
}

// TestCLIErrors checks that bad input is one line and exit code 2.
func TestCLIErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    string
	}{
		{"no command", nil, nil, "no command"},
		{"unknown command", []string{"frobnicate"}, nil, "unknown command"},
		{"bad duration", []string{"serve"}, []string{"INTAKE_LEASE_TTL=soon"}, "INTAKE_LEASE_TTL"},
		{"bad fraction", []string{"work"}, []string{"INTAKE_BATCH_FRACTION=2"}, "INTAKE_BATCH_FRACTION"},
		{"serve without keys", []string{"serve"}, []string{"INTAKE_DATA_DIR=" + dir}, "INTAKE_API_KEYS"},
		{"dev exposed without auth", []string{"dev"}, []string{"INTAKE_DATA_DIR=" + dir, "INTAKE_HTTP_ADDR=0.0.0.0:0"}, "INTAKE_HTTP_ADDR"},
		{"dev disabled auth exposed", []string{"dev"}, []string{"INTAKE_DATA_DIR=" + dir, "INTAKE_AUTH=disabled", "INTAKE_HTTP_ADDR=0.0.0.0:0"}, "INTAKE_HTTP_ADDR"},
		{"dev with auth, no keys", []string{"dev"}, []string{"INTAKE_DATA_DIR=" + dir, "INTAKE_AUTH=enabled"}, "INTAKE_API_KEYS"},
		{"unknown store scheme", []string{"migrate"}, []string{"INTAKE_DATABASE_URL=oracle://x"}, "INTAKE_DATABASE_URL"},
		{"stray argument", []string{"serve", "extra"}, nil, "unexpected arguments"},
		{"bad log format", []string{"migrate"}, []string{"INTAKE_DATA_DIR=" + dir, "INTAKE_LOG_FORMAT=xml"}, "xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errb testenv.Buffer
			err := run(context.Background(), tt.args, tt.environ, &out, &errb)
			var ee *exitError
			if !errors.As(err, &ee) || ee.code != exitUsage {
				t.Fatalf("run(%v) = %v, want exit code %d", tt.args, err, exitUsage)
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line mentioning %q", err, tt.want)
			}
		})
	}
}

func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	s := startDev(t)
	var out, errb testenv.Buffer
	if err := run(context.Background(), []string{"healthcheck", s.base + "/health"}, nil, &out, &errb); err != nil {
		t.Errorf("healthcheck of a healthy server: %v", err)
	}
	if err := run(context.Background(), []string{"healthcheck", s.base + "/nope"}, nil, &out, &errb); err == nil {
		t.Error("healthcheck of a 404 succeeded")
	}
	if err := run(context.Background(), []string{"version"}, nil, &out, &errb); err != nil || !strings.Contains(out.String(), "intake ") {
		t.Errorf("version: %v %q", err, out.String())
	}
}
