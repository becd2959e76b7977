package cicd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/intake-dev/intake/internal/kubetest"
	"github.com/intake-dev/intake/internal/testenv"
)

// TestBlueGreenArgs checks the script's refusals, which need no cluster.
func TestBlueGreenArgs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		line string
	}{
		{nil, ""},
		{[]string{"promote"}, "blue-green: FAIL unknown command promote (deploy, rollback or status)"},
		{[]string{"deploy"}, "blue-green: FAIL deploy needs --chart (a chart directory, repo/name or oci:// reference)"},
		{[]string{"deploy", "--chart", "x", "--watch", "5m"}, "blue-green: FAIL --watch must be whole seconds, not 5m"},
		{[]string{"deploy", "--chart", "x", "--max-error-rate", "5%"}, "blue-green: FAIL --max-error-rate must be a ratio between 0 and 1, not 5%"},
		{[]string{"status", "--name", "Intake"}, "blue-green: FAIL --name must be a DNS label, not Intake"},
		{[]string{"status", "--bogus"}, "blue-green: FAIL unknown argument --bogus (see --help)"},
	} {
		r := script(t, nil, "blue-green.sh", tt.args...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2", tt.args, r.code)
		}
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if tt.line == "" {
			if !strings.HasPrefix(lines[0], "Blue-green deployment of intake") {
				t.Errorf("no usage: %s", r.stderr)
			}
		} else if lines[len(lines)-1] != tt.line {
			t.Errorf("%v: stderr %q, want %q", tt.args, r.stderr, tt.line)
		}
	}
}

// cluster is a namespace on a real API server for one test, with the
// tools and the environment the script needs.
type cluster struct {
	t          *testing.T
	kubeconfig string
	namespace  string
	kubectl    string
	helm       string
	env        []string
}

// newCluster connects to the API server of INTAKE_TEST_KUBECONFIG
// (scripts/kube-local.sh: a real kube-apiserver, controller-manager, KEDA
// and kwok on loopback), creates a namespace and runs a stand-in kubelet
// there that hands every pod to kwok, which reports it running and ready
// (Jobs' pods complete), so that `helm --wait` and the migration hook
// finish. Nothing in the pods runs: the smoke test and the post-switch
// checks are pointed at local intake processes by the script's URL flags.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	kubeconfig := os.Getenv("INTAKE_TEST_KUBECONFIG")
	if kubeconfig == "" {
		testenv.Missing(t, "a Kubernetes API server (INTAKE_TEST_KUBECONFIG)",
			`scripts/kube-local.sh up && eval "$(scripts/kube-local.sh env)"`)
	}
	c := &cluster{t: t, kubeconfig: kubeconfig,
		kubectl: testenv.LookPath(t, "kubectl", "install kubectl"), helm: tool(t, "helm")}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	// The network rule of the tests: loopback only.
	u, err := url.Parse(rc.Host)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		t.Fatalf("INTAKE_TEST_KUBECONFIG points at %s; the test talks to loopback API servers only", rc.Host)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := client.CoreV1().Nodes().Get(ctx, kubetest.KwokNode, metav1.GetOptions{}); err != nil {
		t.Fatalf("no node %s: is this scripts/kube-local.sh's API server? %v", kubetest.KwokNode, err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	c.namespace = "bluegreen-" + hex.EncodeToString(b)
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: c.namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = client.CoreV1().Namespaces().Delete(ctx, c.namespace, metav1.DeleteOptions{})
	})

	kctx, stop := context.WithCancel(context.Background())
	node := "bluegreen-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = client.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{})
	})
	kubelet := kubetest.New(kubetest.Config{
		Client:    client,
		Namespace: c.namespace,
		Node:      node,
		Binary:    testenv.IntakeBinary(t),
		Images:    func(string) bool { return false }, // every pod goes to kwok
		Dir:       t.TempDir(),
		Logger:    slog.New(slog.DiscardHandler),
	})
	done := make(chan error, 1)
	go func() { done <- kubelet.Run(kctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("kubelet: %v", err)
		}
	})

	home := t.TempDir()
	c.env = []string{
		"KUBECONFIG=" + kubeconfig,
		"PATH=" + filepath.Dir(c.helm) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HELM_CACHE_HOME=" + filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data"),
		"BG_NAMESPACE=" + c.namespace,
		"BG_TIMEOUT=2m",
		"BG_WATCH_SECONDS=2",
		"BG_WATCH_INTERVAL=1",
		"BG_MIN_REQUESTS=1",
		"SMOKE_INTERVAL=0.2",
		"SMOKE_TIMEOUT=60",
	}
	return c
}

// selector returns the public Service's selector and annotations.
func (c *cluster) service() (selector, annotations map[string]string) {
	c.t.Helper()
	var svc corev1.Service
	c.getJSON(&svc, c.kubectl, "--namespace", c.namespace, "get", "service", "intake", "-o", "json")
	return svc.Spec.Selector, svc.Annotations
}

// release describes a Helm release: its current revision and status, and
// the worker and migration switches of its values.
type release struct {
	Revision   int
	Status     string
	Workers    bool
	Migrations bool
	Color      string
}

func (c *cluster) release(name string) release {
	c.t.Helper()
	var status struct {
		Version int `json:"version"`
		Info    struct {
			Status string `json:"status"`
		} `json:"info"`
	}
	c.getJSON(&status, c.helm, "status", name, "--namespace", c.namespace, "-o", "json")
	var values struct {
		Color  string `json:"color"`
		Worker struct {
			Enabled bool `json:"enabled"`
		} `json:"worker"`
		Migrations struct {
			Enabled bool `json:"enabled"`
		} `json:"migrations"`
	}
	c.getJSON(&values, c.helm, "get", "values", name, "--all", "--namespace", c.namespace, "-o", "json")
	return release{Revision: status.Version, Status: status.Info.Status, Workers: values.Worker.Enabled,
		Migrations: values.Migrations.Enabled, Color: values.Color}
}

func (c *cluster) getJSON(v any, name string, args ...string) {
	c.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(testenv.CleanEnviron("BG_", "SMOKE_"), c.env...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = string(ee.Stderr)
		}
		c.t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, stderr)
	}
	if err := json.Unmarshal(out, v); err != nil {
		c.t.Fatalf("%s %v: %v", filepath.Base(name), args, err)
	}
}

// run runs blue-green.sh with the cluster's environment plus env.
func (c *cluster) run(env []string, args ...string) result {
	c.t.Helper()
	return script(c.t, append(append([]string{}, c.env...), env...), "blue-green.sh", args...)
}

// TestBlueGreenCluster drives scripts/blue-green.sh against a real API
// server with Helm: two colours installed, the public Service's selector
// switched, post-switch failures (/ready, error rate) and a failed smoke
// test rolled back automatically, and a manual rollback; each step is
// checked on the Service's selector and on the Helm releases.
func TestBlueGreenCluster(t *testing.T) {
	c := newCluster(t)
	const key = "bluegreen-key"
	local := startIntake(t, key, true)      // what the smoke test and the checks reach
	dead := "http://" + testenv.FreeAddr(t) // a public URL where nothing answers

	// Request counters whose 5xx share is 40 % between any two reads.
	var scrapes atomic.Int64
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := scrapes.Add(1)
		fmt.Fprintf(w, "intake_http_requests_total{code=\"200\",method=\"GET\",route=\"/ready\"} %d\n", 60*n)
		fmt.Fprintf(w, "intake_http_requests_total{code=\"503\",method=\"POST\",route=\"/api/v1/jobs/trigger\"} %d\n", 40*n)
	}))
	t.Cleanup(failing.Close)

	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte(`# Both colours; the pods are kwok's, so the addresses are never dialled.
image:
  api: {repository: intake-api, tag: test}
  worker: {repository: intake-worker, tag: test}
mongodb: {enabled: false}
azurite: {enabled: false}
database:
  type: postgresql
  url: postgres://intake@127.0.0.1:5432/intake
secrets:
  apiKeys: `+key+`
  blobURL: azblob://127.0.0.1:10000/devstoreaccount1/documents
api: {replicaCount: 1}
networkPolicy: {enabled: false}
tests: {enabled: false}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	healthy := []string{"INTAKE_API_KEY=" + key, "BG_CANDIDATE_URL=" + local.URL,
		"BG_PUBLIC_URL=" + local.URL, "BG_METRICS_URL=" + local.URL + "/metrics"}
	start := time.Now()
	deploy := func(env []string, sets ...string) result {
		t.Helper()
		args := []string{"deploy", "--chart", chartDir, "--", "-f", values}
		for _, s := range sets {
			args = append(args, "--set", s)
		}
		r := c.run(env, args...)
		t.Logf("deploy %v: exit %d at %s", sets, r.code, time.Since(start).Round(time.Second))
		return r
	}
	// The rollback scenarios leave the migration hook out: steps 1 and 2
	// run it, and here its Job (a minute under kwok) would only add time.
	const noHook = "migrations.enabled=false"
	lastLine := func(r result) string {
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		return lines[len(lines)-1]
	}
	wantLive := func(color, previous string) {
		t.Helper()
		sel, ann := c.service()
		want := map[string]string{"app.kubernetes.io/name": "intake", "app.kubernetes.io/component": "api", "color": color}
		if fmt.Sprint(sel) != fmt.Sprint(want) {
			t.Fatalf("public Service selector %v, want %v", sel, want)
		}
		if ann["intake.dev/color"] != color || ann["intake.dev/previous-color"] != previous {
			t.Errorf("annotations %v, want color %s, previous %q", ann, color, previous)
		}
	}
	wantRelease := func(name string, want release) {
		t.Helper()
		if got := c.release(name); got != want {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}

	// 1. First deploy: blue, and the public Service created for it.
	if r := deploy(healthy, "config.logLevel=info"); r.code != 0 {
		t.Fatalf("first deploy: exit %d\n%s", r.code, r.stderr)
	}
	wantLive("blue", "")
	wantRelease("intake-blue", release{Revision: 1, Status: "deployed", Workers: true, Migrations: true, Color: "blue"})

	// 2. Second deploy: green goes live; blue stays, its workers off.
	if r := deploy(healthy, "config.logLevel=debug"); r.code != 0 {
		t.Fatalf("second deploy: exit %d\n%s", r.code, r.stderr)
	}
	wantLive("green", "blue")
	wantRelease("intake-green", release{Revision: 1, Status: "deployed", Workers: true, Migrations: true, Color: "green"})
	wantRelease("intake-blue", release{Revision: 2, Status: "deployed", Workers: false, Migrations: false, Color: "blue"})

	// 3. /ready fails through the public URL after the switch: back to
	// green, and blue rolled back to the revision it had (2).
	r := deploy(append(healthy, "BG_PUBLIC_URL="+dead), "config.logLevel=warn", noHook)
	if r.code != 1 || !strings.HasPrefix(lastLine(r), "blue-green: FAIL rolled back to green: "+dead+"/ready failed 1 time(s)") {
		t.Fatalf("deploy with a failing /ready: exit %d, last line %q\n%s", r.code, lastLine(r), r.stderr)
	}
	wantLive("green", "blue")
	wantRelease("intake-blue", release{Revision: 4, Status: "deployed", Workers: false, Migrations: false, Color: "blue"})
	wantRelease("intake-green", release{Revision: 1, Status: "deployed", Workers: true, Migrations: true, Color: "green"})

	// 4. The new colour's error rate is above the limit: rolled back too.
	r = deploy(append(healthy, "BG_METRICS_URL="+failing.URL), "config.logLevel=warn", noHook)
	if r.code != 1 || lastLine(r) != "blue-green: FAIL rolled back to green: error rate 40/100 requests above 0.05 within 2s of the switch" {
		t.Fatalf("deploy with 5xx: exit %d, last line %q\n%s", r.code, lastLine(r), r.stderr)
	}
	wantLive("green", "blue")
	wantRelease("intake-blue", release{Revision: 6, Status: "deployed", Workers: false, Migrations: false, Color: "blue"})

	// 5. The smoke test of the new colour fails: no switch at all.
	r = deploy(append(healthy, "INTAKE_API_KEY=wrong"), "config.logLevel=warn", noHook)
	if r.code != 1 || lastLine(r) != "blue-green: FAIL smoke test of blue failed; green still serves, intake-blue restored" {
		t.Fatalf("deploy failing its smoke test: exit %d, last line %q\n%s", r.code, lastLine(r), r.stderr)
	}
	if !strings.Contains(r.stderr, "smoke-test: FAIL create: POST /api/v1/jobs/trigger answered 401") {
		t.Errorf("the smoke test's reason is not shown:\n%s", r.stderr)
	}
	sel, _ := c.service()
	if sel["color"] != "green" {
		t.Fatalf("selector %v after a failed smoke test", sel)
	}
	wantRelease("intake-blue", release{Revision: 8, Status: "deployed", Workers: false, Migrations: false, Color: "blue"})

	// 6. Manual rollback: blue (idle) is live again, green idle.
	if r := c.run(healthy, "rollback", "--chart", chartDir); r.code != 0 {
		t.Fatalf("rollback: exit %d\n%s", r.code, r.stderr)
	}
	wantLive("blue", "green")
	wantRelease("intake-blue", release{Revision: 9, Status: "deployed", Workers: true, Migrations: false, Color: "blue"})
	wantRelease("intake-green", release{Revision: 2, Status: "deployed", Workers: false, Migrations: false, Color: "green"})

	r = c.run(nil, "status")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "live: blue\nblue: intake-blue revision 9 deployed") ||
		!strings.Contains(r.stdout, "green: intake-green revision 2 deployed") {
		t.Errorf("status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
