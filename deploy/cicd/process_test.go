// Package cicd tests the delivery pipeline: the GitHub Actions workflows
// (parsed and checked against the rules the pipeline promises, and linted
// by actionlint when it is installed), scripts/smoke-test.sh against live
// intake processes, and scripts/blue-green.sh against a real Kubernetes API
// server with Helm.
package cicd

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/intake-dev/intake/internal/testenv"
)

// Bounds of every wait, so that no test can hang.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 15 * time.Second
)

// repoRoot is the repository's top directory, relative to this package.
var repoRoot = filepath.Join("..", "..")

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// intakeProcs is one intake installation: a SQLite store and file blobs in
// a temporary directory, migrated, with serve (and optionally work)
// running until the test ends.
type intakeProcs struct {
	URL string
	dir string
}

// startIntake migrates a fresh store and starts `intake serve` with key as
// its only API key and, when worker is true, `intake work`.
func startIntake(t *testing.T, key string, worker bool) *intakeProcs {
	t.Helper()
	bin := testenv.IntakeBinary(t)
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	env := append(testenv.CleanEnviron("BG_", "SMOKE_"),
		"INTAKE_DATA_DIR="+filepath.Join(dir, "data"),
		"INTAKE_HTTP_ADDR="+addr,
		"INTAKE_API_KEYS="+key,
		"INTAKE_FILINGS_DELAY=0",
		"INTAKE_METRICS_ADDR=127.0.0.1:0",
		"INTAKE_WORKER_POLL_INTERVAL=100ms",
		"INTAKE_MAINTENANCE_INTERVAL=200ms",
	)
	migrate := exec.Command(bin, "migrate")
	migrate.Env = env
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("intake migrate: %v\n%s", err, out)
	}
	start(t, dir, "serve", env, bin, "serve")
	if worker {
		start(t, dir, "work", env, bin, "work")
	}
	p := &intakeProcs{URL: "http://" + addr, dir: dir}
	waitHTTP(t, p.URL+"/ready")
	return p
}

// start runs a process with its output in dir/name.log, stops it with
// SIGTERM at cleanup and shows the log's tail when the test failed.
func start(t *testing.T, dir, name string, env []string, path string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
	// The kernel kills the process when the test binary dies, so that a
	// test killed by its timeout leaves no servers behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // SIGTERM is how it ends
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("%s did not stop within %s of SIGTERM", name, stopTimeout)
		}
		_ = logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("%s (tail):\n%s", name, b)
		}
	})
}

// waitHTTP waits until url answers 200.
func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := http.Get(url) //nolint:noctx // bounded by the deadline and loopback dial timeouts
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s to answer 200", url)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// result is how a script ended.
type result struct {
	code           int
	stdout, stderr string
}

// script runs a script of the repository with env added to the clean
// environment and returns its exit code and output.
func script(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	bash := testenv.LookPath(t, "bash", "install bash")
	cmd := exec.Command(bash, append([]string{filepath.Join(repoRoot, "scripts", name)}, args...)...)
	cmd.Env = append(testenv.CleanEnviron("BG_", "SMOKE_"), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", name, err)
	}
	return r
}
