// Package nginx tests intake's reverse-proxy templates with a real nginx:
// the templates are rendered as the official image's entrypoint renders
// them, `nginx -t` must accept them, and then nginx runs on loopback in
// front of real `intake serve` and `intake work` processes while the test
// goes through it.
package nginx

import (
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/intake-dev/intake/internal/testenv"
)

// Variables the templates may use: the official image's entrypoint
// substitutes every defined environment variable (or those matching
// NGINX_ENVSUBST_FILTER), so a template must use no others.
var (
	plainVars = []string{"INTAKE_UPSTREAM", "NGINX_LOCAL_RESOLVERS", "NGINX_PORT"}
	tlsVars   = []string{"NGINX_TLS_PORT", "NGINX_TLS_CERT", "NGINX_TLS_KEY"}
)

// apiKey is the bearer key the serve process accepts.
const apiKey = "test-key"

// Bounds of every wait, so that no test can hang.
const (
	startTimeout    = 30 * time.Second
	stopTimeout     = 15 * time.Second
	completeTimeout = 60 * time.Second
)

// envVar matches $NAME and ${NAME} for names envsubst would consider.
var envVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// envsubst replaces $NAME and ${NAME} for the names in vars and leaves
// everything else, nginx's own $variables included, as it is: the
// semantics of `envsubst "${A} ${B}"` in the image's
// 20-envsubst-on-templates.sh.
func envsubst(text string, vars map[string]string) string {
	return envVar.ReplaceAllStringFunc(text, func(m string) string {
		name := strings.Trim(m, "${}")
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}

func TestEnvsubst(t *testing.T) {
	t.Parallel()
	got := envsubst(`listen ${NGINX_PORT}; set $u $NGINX_PORT; $request_id ${OTHER} $NGINX_PORTX`,
		map[string]string{"NGINX_PORT": "8080"})
	want := `listen 8080; set $u 8080; $request_id ${OTHER} $NGINX_PORTX`
	if got != want {
		t.Fatalf("envsubst:\n got %s\nwant %s", got, want)
	}
}

// TestTemplateVariables keeps the templates, this test and the deployment
// files in step: every upper-case variable a template names is a documented
// one, and rendering leaves no ${…} behind.
func TestTemplateVariables(t *testing.T) {
	t.Parallel()
	for path, allowed := range map[string][]string{
		"templates/default.conf.template":      plainVars,
		"templates/intake/proxy.conf.template": plainVars,
		"tls/tls.conf.template":                tlsVars,
	} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		vars := map[string]string{}
		for _, m := range envVar.FindAllStringSubmatch(string(b), -1) {
			name := m[1] + m[2]
			if strings.ToUpper(name) != name {
				continue // an nginx variable
			}
			if !slices.Contains(allowed, name) {
				t.Errorf("%s uses $%s, not one of %v", path, name, allowed)
			}
			vars[name] = "x"
		}
		if out := envsubst(string(b), vars); strings.Contains(out, "${") {
			t.Errorf("%s: ${ left after rendering", path)
		}
	}
	if _, err := os.Stat("templates/tls.conf.template"); err == nil {
		t.Error("TLS is opt-in: tls.conf.template belongs in tls/, not templates/")
	}
}

// TestProxy runs nginx with the templates in front of intake and goes
// through it.
func TestProxy(t *testing.T) {
	nginxPath := testenv.LookPath(t, "nginx", "apt-get install nginx")
	dir := t.TempDir()

	// intake: migrate, serve and a long-running worker on one SQLite store.
	bin := testenv.IntakeBinary(t)
	apiAddr := testenv.FreeAddr(t)
	env := append(testenv.CleanEnviron(),
		"INTAKE_DATA_DIR="+filepath.Join(dir, "data"),
		"INTAKE_HTTP_ADDR="+apiAddr,
		"INTAKE_API_KEYS="+apiKey,
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
	serveLog, stopServe := start(t, dir, "serve", env, bin, "serve")
	_, _ = start(t, dir, "work", env, bin, "work")
	waitHTTP(t, "http://"+apiAddr+"/health")

	// nginx: the templates rendered into conf.d as the image's entrypoint
	// does, the optional TLS server enabled, under a wrapper like the
	// image's nginx.conf.
	edgeAddr, tlsAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	certFile, keyFile := selfSigned(t, dir)
	vars := map[string]string{
		"INTAKE_UPSTREAM":       apiAddr,
		"NGINX_LOCAL_RESOLVERS": "127.0.0.1", // never asked: the upstream is an IP literal
		"NGINX_PORT":            edgeAddr,
		"NGINX_TLS_PORT":        tlsAddr,
		"NGINX_TLS_CERT":        certFile,
		"NGINX_TLS_KEY":         keyFile,
	}
	conf := filepath.Join(dir, "nginx")
	render(t, "templates", filepath.Join(conf, "conf.d"), vars)
	render(t, "tls", filepath.Join(conf, "conf.d"), vars)
	writeWrapper(t, conf)
	args := []string{"-p", conf + "/", "-c", filepath.Join(conf, "nginx.conf"), "-e", filepath.Join(conf, "error.log")}
	if out, err := exec.Command(nginxPath, append([]string{"-t"}, args...)...).CombinedOutput(); err != nil {
		b, _ := os.ReadFile(filepath.Join(conf, "error.log"))
		t.Fatalf("nginx -t: %v\n%s%s", err, out, b)
	}
	accessLog, _ := start(t, conf, "nginx", os.Environ(), nginxPath, args...)
	edge := "http://" + edgeAddr
	waitHTTP(t, edge+"/nginx-health")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(conf, "error.log"))
			t.Logf("nginx error.log:\n%s", b)
		}
	})

	c := &client{t: t, http: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DisableCompression: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // G402: the test's own self-signed certificate
	}}
	trigger := `{"source_type":"filings","config":{"cin":"L17110MH1973PLC019786","company_name":"Reliance Industries Limited"}}`

	t.Run("auth", func(t *testing.T) {
		c := c.on(t)
		r := c.do("POST", edge+"/api/v1/jobs/trigger", trigger, nil)
		r.want(http.StatusUnauthorized)
		if r.header.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate: not intake's answer")
		}
		c.do("GET", edge+"/api/v1/jobs", "", nil).want(http.StatusUnauthorized)
		c.do("GET", edge+"/api/v1/jobs", "", auth()).want(http.StatusOK)
	})

	var jobID string
	t.Run("create, status, result", func(t *testing.T) {
		c := c.on(t)
		r := c.do("POST", edge+"/api/v1/jobs/trigger", trigger, auth()).want(http.StatusAccepted)
		var trig struct {
			JobID string `json:"job_id"`
		}
		r.json(&trig)
		r = c.do("POST", edge+"/create-job", `{"num_jobs":2}`, auth()).want(http.StatusOK)
		var created struct {
			TotalJobs int `json:"totalJobs"`
			Jobs      []struct {
				JobID string `json:"jobId"`
			} `json:"jobs"`
		}
		r.json(&created)
		if created.TotalJobs != 2 || len(created.Jobs) != 2 {
			t.Fatalf("create-job: %s", r.body)
		}
		jobID = created.Jobs[0].JobID
		c.do("GET", edge+"/api/v1/jobs/status/"+trig.JobID, "", auth()).want(http.StatusOK)

		deadline := time.Now().Add(completeTimeout)
		for {
			var st struct {
				Status string `json:"status"`
			}
			c.do("GET", edge+"/api/v1/jobs/status/"+jobID, "", auth()).want(http.StatusOK).json(&st)
			if st.Status == "completed" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s still %s after %s", jobID, st.Status, completeTimeout)
			}
			time.Sleep(200 * time.Millisecond)
		}

		// The result is large JSON: gzipped at the edge when asked for.
		h := auth()
		h.Set("Accept-Encoding", "gzip")
		r = c.do("GET", edge+"/api/v1/jobs/result/"+jobID, "", h).want(http.StatusOK)
		if r.header.Get("Content-Encoding") != "gzip" || !strings.Contains(r.header.Get("Vary"), "Accept-Encoding") {
			t.Fatalf("result not gzipped: Content-Encoding %q, Vary %q", r.header.Get("Content-Encoding"), r.header.Get("Vary"))
		}
		zr, err := gzip.NewReader(bytes.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			Status    string            `json:"status"`
			Documents []json.RawMessage `json:"documents"`
		}
		if err := json.Unmarshal(plain, &res); err != nil || res.Status != "completed" || len(res.Documents) == 0 {
			t.Fatalf("result (%d bytes gzipped, %d plain): %v %s", len(r.body), len(plain), err, plain)
		}
		t.Logf("result: %d bytes gzipped, %d plain", len(r.body), len(plain))
		// Without Accept-Encoding, plain.
		r = c.do("GET", edge+"/api/v1/jobs/result/"+jobID, "", auth()).want(http.StatusOK)
		if r.header.Get("Content-Encoding") != "" {
			t.Errorf("gzip sent to a client that did not ask for it")
		}
	})

	t.Run("request id", func(t *testing.T) {
		c := c.on(t)
		h := auth()
		h.Set("X-Request-ID", "req-abc.123")
		r := c.do("GET", edge+"/api/v1/jobs", "", h).want(http.StatusOK)
		if got := r.header.Values("X-Request-ID"); len(got) != 1 || got[0] != "req-abc.123" {
			t.Errorf("X-Request-ID %q, want the client's once", got)
		}
		h.Set("X-Request-ID", `evil id {"json"}`)
		r = c.do("GET", edge+"/api/v1/jobs", "", h).want(http.StatusOK)
		if got := r.header.Values("X-Request-ID"); len(got) != 1 || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got[0]) {
			t.Errorf("X-Request-ID %q for an unsafe one, want nginx's $request_id", got)
		}
		generated := r.header.Get("X-Request-ID")
		r = c.do("GET", edge+"/health", "", nil).want(http.StatusOK)
		if r.header.Get("X-Request-ID") == "" {
			t.Error("no X-Request-ID without a client one")
		}
		// intake saw the same ids: its access log names them.
		waitFor(t, func() bool {
			b, _ := os.ReadFile(serveLog)
			return bytes.Contains(b, []byte(`"request_id":"req-abc.123"`)) && bytes.Contains(b, []byte(`"request_id":"`+generated+`"`))
		}, "intake's log to carry the request ids nginx sent")
	})

	t.Run("security headers", func(t *testing.T) {
		c := c.on(t)
		for _, u := range []string{edge + "/api/v1/jobs", edge + "/", edge + "/metrics", edge + "/api/v1/jobs/status/nope"} {
			r := c.do("GET", u, "", auth())
			for name, want := range map[string]string{
				"X-Content-Type-Options": "nosniff",
				"X-Frame-Options":        "DENY",
				"Referrer-Policy":        "no-referrer",
			} {
				if got := r.header.Values(name); len(got) != 1 || got[0] != want {
					t.Errorf("GET %s (%d): %s %q, want %q once", u, r.status, name, got, want)
				}
			}
			if !slices.Contains(r.header.Values("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("GET %s: Content-Security-Policy %q lacks the edge's frame-ancestors", u, r.header.Values("Content-Security-Policy"))
			}
			if r.header.Get("Strict-Transport-Security") != "" {
				t.Errorf("GET %s: HSTS over plain HTTP", u)
			}
			if r.header.Get("Server") != "nginx" && r.header.Get("Server") != "" {
				t.Errorf("GET %s: Server %q shows the version", u, r.header.Get("Server"))
			}
		}
	})

	t.Run("metrics refused at the edge", func(t *testing.T) {
		c := c.on(t)
		c.do("GET", "http://"+apiAddr+"/metrics", "", nil).want(http.StatusOK)
		for _, p := range []string{"/metrics", "/metrics/", "//metrics", "/./metrics", "/%6Detrics", "/metrics?x=1", "/api/../metrics"} {
			r := c.do("GET", edge+p, "", auth())
			if r.status != http.StatusNotFound || bytes.Contains(r.body, []byte("# HELP")) {
				t.Errorf("GET %s at the edge: %d %.100s", p, r.status, r.body)
			}
		}
	})

	t.Run("body limit", func(t *testing.T) {
		c := c.on(t)
		big := `{"num_jobs":1,"pad":"` + strings.Repeat("x", 2<<20) + `"}`
		r := c.do("POST", edge+"/api/v1/jobs/x/cancel", big, auth()).want(http.StatusRequestEntityTooLarge)
		if r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("413 Content-Type %q", r.header.Get("Content-Type"))
		}
		r = c.do("POST", edge+"/create-job", big, auth()).want(http.StatusRequestEntityTooLarge)
		var legacy struct{ Error string }
		r.json(&legacy)
		if legacy.Error == "" {
			t.Errorf("/create-job 413 not in its {\"error\"} shape: %s", r.body)
		}
	})

	t.Run("rate limit", func(t *testing.T) {
		c := c.on(t)
		// Both paths share one budget per client: a burst of 10, then 5 a
		// second. Each burst starts with a full bucket.
		for _, ep := range []struct{ path, body string }{
			{"/api/v1/jobs/trigger", trigger},
			{"/create-job", `{"num_jobs":1}`},
		} {
			time.Sleep(2500 * time.Millisecond)
			codes := map[int]int{}
			var limited *response
			start := time.Now()
			for range 40 {
				r := c.do("POST", edge+ep.path, ep.body, auth())
				codes[r.status]++
				if r.status == http.StatusTooManyRequests && limited == nil {
					limited = r
				}
			}
			elapsed := time.Since(start)
			t.Logf("POST %s ×40 in %v: %v", ep.path, elapsed.Round(time.Millisecond), codes)
			// nginx admits at most the burst plus the rate times the time
			// the requests took (plus the one in flight), whatever the
			// machine's speed; 40 requests in under 6 s must meet a 429.
			admitted := codes[http.StatusAccepted] + codes[http.StatusOK]
			if most := 10 + int(math.Ceil(5*elapsed.Seconds())) + 1; admitted > most {
				t.Fatalf("POST %s ×40 in %v: %v, want at most %d let through", ep.path, elapsed, codes, most)
			}
			if limited == nil && elapsed < 6*time.Second {
				t.Fatalf("POST %s ×40 in %v: %v, want some refused with 429", ep.path, elapsed, codes)
			}
			if limited == nil {
				t.Fatalf("POST %s ×40 took %v: too slow to reach the limit", ep.path, elapsed)
			}
			if codes[http.StatusAccepted]+codes[http.StatusOK] == 0 {
				t.Errorf("POST %s ×40: %v, want the burst let through", ep.path, codes)
			}
			if limited.header.Get("X-Request-ID") == "" || limited.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("429 without the edge's headers: %v", limited.header)
			}
			if ep.path == "/create-job" {
				var legacy struct{ Error string }
				limited.json(&legacy)
			} else if limited.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("429 Content-Type %q", limited.header.Get("Content-Type"))
			}
		}
		// Reads are never limited.
		for range 30 {
			c.do("GET", edge+"/api/v1/jobs/status/"+jobID, "", auth()).want(http.StatusOK)
		}
	})

	t.Run("tls", func(t *testing.T) {
		c := c.on(t)
		r := c.do("GET", "https://"+tlsAddr+"/api/v1/jobs/status/"+jobID, "", auth()).want(http.StatusOK)
		if !strings.HasPrefix(r.header.Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("no HSTS over TLS: %v", r.header)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("X-Request-ID") == "" {
			t.Errorf("TLS server lacks the shared headers: %v", r.header)
		}
		c.do("GET", "https://"+tlsAddr+"/metrics", "", nil).want(http.StatusNotFound)
	})

	t.Run("json access log", func(t *testing.T) {
		b, err := os.ReadFile(accessLog)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		var seen bool
		for _, line := range lines {
			var e struct {
				RequestID    string  `json:"request_id"`
				Method       string  `json:"method"`
				URI          string  `json:"uri"`
				Status       int     `json:"status"`
				RequestTime  float64 `json:"request_time"`
				UpstreamAddr string  `json:"upstream_addr"`
			}
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("access log line is not JSON: %v\n%s", err, line)
			}
			if e.RequestID == "" || e.Status == 0 || e.Method == "" {
				t.Errorf("access log line lacks fields: %s", line)
			}
			if e.RequestID == "req-abc.123" {
				seen = e.UpstreamAddr == apiAddr && e.Status == http.StatusOK && e.URI == "/api/v1/jobs"
			}
		}
		if !seen {
			t.Errorf("no access log line for req-abc.123 proxied to %s", apiAddr)
		}
		t.Logf("%d access log lines, e.g. %s", len(lines), lines[len(lines)-1])
	})

	t.Run("api down", func(t *testing.T) {
		c := c.on(t)
		stopServe()
		r := c.do("GET", edge+"/api/v1/jobs", "", auth()).want(http.StatusBadGateway)
		var p struct{ Status int }
		r.json(&p)
		if p.Status != http.StatusBadGateway || r.header.Get("Content-Type") != "application/problem+json" || r.header.Get("X-Request-ID") == "" {
			t.Errorf("502: %v %s", r.header, r.body)
		}
		c.do("GET", edge+"/nginx-health", "", nil).want(http.StatusOK)
	})
}

// client sends requests and records their answers.
type client struct {
	t    *testing.T
	http *http.Client
}

type response struct {
	t      *testing.T
	method string
	url    string
	status int
	header http.Header
	body   []byte
}

// on returns a client whose failures end t.
func (c *client) on(t *testing.T) *client { return &client{t: t, http: c.http} }

func (c *client) do(method, url, body string, h http.Header) *response {
	c.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return &response{t: c.t, method: method, url: url, status: resp.StatusCode, header: resp.Header, body: b}
}

func (r *response) want(status int) *response {
	r.t.Helper()
	if r.status != status {
		r.t.Fatalf("%s %s: %d, want %d: %.300s", r.method, r.url, r.status, status, r.body)
	}
	return r
}

func (r *response) json(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		r.t.Fatalf("%s %s: %v: %.300s", r.method, r.url, err, r.body)
	}
}

func auth() http.Header {
	return http.Header{"Authorization": {"Bearer " + apiKey}}
}

// start runs a process with its stdout in dir/name.out and stderr in
// dir/name.err, stops it with SIGTERM at cleanup, and returns the stdout
// file's path (stderr's for intake, which logs there) and a function that
// stops it early.
func start(t *testing.T, dir, name string, env []string, path string, args ...string) (string, func()) {
	t.Helper()
	outPath, errPath := filepath.Join(dir, name+".out"), filepath.Join(dir, name+".err")
	stdout, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(errPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, stdout, stderr
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // killed by SIGTERM is how it ends
		close(exited)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(stopTimeout):
				_ = cmd.Process.Kill()
				<-exited
				t.Errorf("%s did not stop within %s of SIGTERM", name, stopTimeout)
			}
		})
	}
	t.Cleanup(func() {
		stop()
		_ = stdout.Close()
		_ = stderr.Close()
		if t.Failed() {
			for _, p := range []string{outPath, errPath} {
				b, _ := os.ReadFile(p)
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("%s (tail):\n%s", filepath.Base(p), b)
			}
		}
	})
	if name == "serve" || name == "work" {
		return errPath, stop
	}
	return outPath, stop
}

// waitHTTP waits until url answers 200.
func waitHTTP(t *testing.T, url string) {
	t.Helper()
	waitFor(t, func() bool {
		resp, err := http.Get(url) //nolint:noctx // bounded by waitFor's deadline and the default dial timeout on loopback
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, url+" to answer 200")
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// render writes every *.template below src to dst without the suffix,
// keeping subdirectories, as 20-envsubst-on-templates.sh does.
func render(t *testing.T, src, dst string, vars map[string]string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".template") {
			return err
		}
		rel, err := filepath.Rel(src, strings.TrimSuffix(path, ".template"))
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, []byte(envsubst(string(b), vars)), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeWrapper writes dir/nginx.conf: what the official images'
// /etc/nginx/nginx.conf provides (the unprivileged image's temp paths,
// its default log format, the include of conf.d inside http {}), with every
// path in dir and nginx in the foreground.
func writeWrapper(t *testing.T, dir string) {
	t.Helper()
	user := ""
	if os.Geteuid() == 0 {
		// Workers would run as nobody and could not use dir's temp paths.
		user = "user root;"
	}
	conf := fmt.Sprintf(`%[2]s
worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log notice;

events {
  worker_connections 256;
}

http {
  client_body_temp_path %[1]s/tmp/client_temp;
  proxy_temp_path       %[1]s/tmp/proxy_temp;
  fastcgi_temp_path     %[1]s/tmp/fastcgi_temp;
  uwsgi_temp_path       %[1]s/tmp/uwsgi_temp;
  scgi_temp_path        %[1]s/tmp/scgi_temp;

  default_type application/octet-stream;
  log_format main '$remote_addr - $remote_user [$time_local] "$request" '
                  '$status $body_bytes_sent "$http_referer" '
                  '"$http_user_agent" "$http_x_forwarded_for"';
  access_log %[1]s/access.log main;
  sendfile on;
  keepalive_timeout 65;

  include conf.d/*.conf;
}
`, dir, user)
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
