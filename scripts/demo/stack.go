package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Worker slots of the stack: intake dev's pool and two intake work
// processes on the same SQLite file and blob directory (the store
// serialises writers from several processes; see internal/store/sqlite).
// One slot each and more jobs than slots, so that jobs wait in the queue
// and their runs pass from worker to worker.
const (
	devSlots    = 1
	workerSlots = 1
	// scrapeEvery is Prometheus's scrape and rule evaluation interval.
	scrapeEvery = 2 * time.Second
	// startTimeout bounds each process's start on a loaded machine.
	startTimeout = 2 * time.Minute
)

// workerIDs name the intake work processes in every job's run history.
var workerIDs = []string{"intake-work-1", "intake-work-2"}

// devID names intake dev's worker pool in the run history.
const devID = "intake-dev"

// stack is the live run: its processes and where they listen.
type stack struct {
	logger   *slog.Logger
	dir      string
	api      string   // intake dev, http://127.0.0.1:PORT
	prom     string   // Prometheus, http://127.0.0.1:PORT
	metrics  []string // the workers' metrics addresses
	promVer  string
	started  time.Time // when Prometheus started scraping
	procs    []*process
	stopOnce bool
}

// process is one child process and its exit.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

// startStack starts intake dev, waits until it answers, starts the
// workers and Prometheus, and waits until Prometheus scrapes every target.
// On error the caller still calls stop.
func startStack(ctx context.Context, o options, logger *slog.Logger) (*stack, error) {
	st := &stack{logger: logger, dir: o.work}
	for _, d := range []string{"data", "logs", "tsdb"} {
		if err := os.MkdirAll(filepath.Join(o.work, d), 0o750); err != nil {
			return st, err
		}
	}
	apiAddr, err := freeAddr(ctx)
	if err != nil {
		return st, err
	}
	st.api = "http://" + apiAddr

	// A clean environment: no INTAKE_* of the caller's shell.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INTAKE_") && !strings.HasPrefix(kv, "MONGO_URI=") && !strings.HasPrefix(kv, "AZURE_") && !strings.HasPrefix(kv, "JOB_ID=") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"INTAKE_DATA_DIR="+filepath.Join(o.work, "data"),
		"INTAKE_LOG_LEVEL=info",
		"INTAKE_SHUTDOWN_TIMEOUT=5s",
	)
	dev := exec.CommandContext(ctx, o.intake, "dev") //nolint:gosec // the binary scripts/demo.sh built
	dev.Env = append(env[:len(env):len(env)],
		"INTAKE_HTTP_ADDR="+apiAddr,
		"INTAKE_WORKER_ID="+devID,
		fmt.Sprintf("INTAKE_WORKER_CONCURRENCY=%d", devSlots),
	)
	if err := st.start("intake-dev", dev); err != nil {
		return st, err
	}
	if err := st.waitHTTP(ctx, st.api+"/ready"); err != nil {
		return st, err
	}
	logger.Info("intake dev is up", "url", st.api)

	for _, id := range workerIDs {
		addr, err := freeAddr(ctx)
		if err != nil {
			return st, err
		}
		w := exec.CommandContext(ctx, o.intake, "work") //nolint:gosec // the binary scripts/demo.sh built
		w.Env = append(env[:len(env):len(env)],
			"INTAKE_METRICS_ADDR="+addr,
			"INTAKE_WORKER_ID="+id,
			fmt.Sprintf("INTAKE_WORKER_CONCURRENCY=%d", workerSlots),
		)
		if err := st.start(id, w); err != nil {
			return st, err
		}
		if err := st.waitHTTP(ctx, "http://"+addr+"/health"); err != nil {
			return st, err
		}
		st.metrics = append(st.metrics, addr)
	}
	logger.Info("workers are up", "metrics", st.metrics)

	promAddr, err := freeAddr(ctx)
	if err != nil {
		return st, err
	}
	st.prom = "http://" + promAddr
	// The rule files, copied: Prometheus shows their paths.
	rules, err := filepath.Glob(filepath.Join(o.repo, "deploy", "prometheus", "rules", "*.yml"))
	if err != nil || len(rules) == 0 {
		return st, fmt.Errorf("no rule files in deploy/prometheus/rules (%w)", err)
	}
	if err := os.MkdirAll(filepath.Join(o.work, "rules"), 0o750); err != nil {
		return st, err
	}
	for _, r := range rules {
		b, err := os.ReadFile(r)
		if err != nil {
			return st, err
		}
		if err := os.WriteFile(filepath.Join(o.work, "rules", filepath.Base(r)), b, 0o600); err != nil { //nolint:gosec // a file name from this repository
			return st, err
		}
	}
	cfgPath := filepath.Join(o.work, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(prometheusConfig(apiAddr, promAddr, st.metrics)), 0o600); err != nil {
		return st, err
	}
	prom := exec.CommandContext(ctx, o.prometheus, //nolint:gosec // the operator's prometheus
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(o.work, "tsdb"),
		"--web.listen-address="+promAddr,
		"--log.level=warn",
	)
	prom.Env = env
	if err := st.start("prometheus", prom); err != nil {
		return st, err
	}
	if err := st.waitHTTP(ctx, st.prom+"/-/ready"); err != nil {
		return st, err
	}
	if err := st.waitTargetsUp(ctx, 2+len(workerIDs)); err != nil {
		return st, err
	}
	st.started = time.Now()
	var bi struct {
		Data struct {
			Version string `json:"version"`
		} `json:"data"`
	}
	if err := getJSON(ctx, st.prom+"/api/v1/status/buildinfo", &bi); err != nil {
		return st, err
	}
	st.promVer = bi.Data.Version
	logger.Info("prometheus scrapes every target", "url", st.prom, "version", st.promVer)
	return st, nil
}

// prometheusConfig is deploy/prometheus/prometheus.yml for loopback: static
// targets instead of Docker's DNS, a 2 s interval, the same rule files,
// and no Alertmanager.
func prometheusConfig(api, self string, workers []string) string {
	quoted := make([]string, len(workers))
	for i, w := range workers {
		quoted[i] = fmt.Sprintf("%q", w)
	}
	return fmt.Sprintf(`# Written by scripts/demo: deploy/prometheus/prometheus.yml on loopback.
global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  evaluation_interval: %[1]s
rule_files:
  - rules/*.yml
scrape_configs:
  - job_name: intake-api
    static_configs: [{targets: [%[2]q]}]
  - job_name: intake-worker
    static_configs: [{targets: [%[3]s]}]
  - job_name: prometheus
    static_configs: [{targets: [%[4]q]}]
`, scrapeEvery, api, strings.Join(quoted, ", "), self)
}

// freeAddr returns a free loopback address.
func freeAddr(ctx context.Context) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start starts cmd with its output in logs/NAME.log. When the demo is
// interrupted, cmd gets SIGTERM, then SIGKILL 15 s later.
func (st *stack) start(name string, cmd *exec.Cmd) error {
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	f, err := os.Create(filepath.Join(st.dir, "logs", name+".log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = f, f
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: f, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	st.procs = append(st.procs, p)
	return nil
}

// stop ends every process, the last started first: SIGTERM, then SIGKILL
// after 15 s.
func (st *stack) stop() {
	if st.stopOnce {
		return
	}
	st.stopOnce = true
	for i := len(st.procs) - 1; i >= 0; i-- {
		p := st.procs[i]
		select {
		case <-p.done:
			st.logger.Warn("process had exited", "name", p.name, "err", p.err)
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(15 * time.Second):
				st.logger.Warn("process did not stop on SIGTERM; killing it", "name", p.name)
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
		p.log.Close()
	}
	st.logger.Info("stack stopped", "processes", len(st.procs))
}

// exited returns an error naming a process that has exited, with the tail
// of its log.
func (st *stack) exited() error {
	for _, p := range st.procs {
		select {
		case <-p.done:
			err := p.err
			if err == nil {
				err = errors.New("exit status 0")
			}
			return fmt.Errorf("%s exited: %w\n%s", p.name, err, tail(p.log.Name(), 2000))
		default:
		}
	}
	return nil
}

// tail returns the last n bytes of a file.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// waitHTTP waits until GET url answers 200, or a process exits.
func (st *stack) waitHTTP(ctx context.Context, u string) error {
	deadline := time.Now().Add(startTimeout)
	for {
		if err := st.exited(); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within %s: %w", u, startTimeout, err)
		}
		if err := sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitTargetsUp waits until Prometheus has scraped n targets successfully.
func (st *stack) waitTargetsUp(ctx context.Context, n int) error {
	deadline := time.Now().Add(startTimeout)
	for {
		up, err := st.query(ctx, `count(up == 1)`)
		if err == nil && len(up) == 1 && up[0] == float64(n) {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("prometheus: targets not up within %s: %w", startTimeout, err)
			}
			return fmt.Errorf("prometheus: count(up == 1) = %v after %s, want %d", up, startTimeout, n)
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// query runs an instant PromQL query and returns the samples' values.
func (st *stack) query(ctx context.Context, q string) ([]float64, error) {
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(ctx, st.prom+"/api/v1/query?query="+url.QueryEscape(q), &r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", q, r.Error)
	}
	var out []float64
	for _, s := range r.Data.Result {
		var f float64
		if _, err := fmt.Sscan(fmt.Sprint(s.Value[1]), &f); err != nil {
			return nil, fmt.Errorf("query %s: value %v: %w", q, s.Value[1], err)
		}
		out = append(out, f)
	}
	return out, nil
}

// waitQuery waits until q returns one sample equal to want.
func (st *stack) waitQuery(ctx context.Context, q string, want float64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got, err := st.query(ctx, q)
		if err == nil && len(got) == 1 && got[0] == want {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("prometheus: %s: %w", q, err)
			}
			return fmt.Errorf("prometheus: %s = %v after %s, want %v", q, got, timeout, want)
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
}

// getJSON decodes the answer of GET u, which must be 200.
func getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
