// Package alertmanager holds the tests of the Compose stack's Alertmanager
// configuration: amtool checks it and its routes, and a live test runs
// Debian's Alertmanager on loopback with the template rendered as the
// container renders it, posts alerts and asserts which reach the webhook
// receivers and which are inhibited.
package alertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake/internal/testenv"
)

const installHow = "apt-get install prometheus-alertmanager (Debian ships alertmanager and amtool)"

// placeholders are the variables docker-compose.yml substitutes into the
// template; render fails the test on any other ${...} left in the file.
var placeholders = []string{"ALERTMANAGER_WEBHOOK_URL", "ALERTMANAGER_CRITICAL_WEBHOOK_URL", "ALERTMANAGER_WATCHDOG_URL"}

// render writes the template with the placeholders replaced by base+"/NAME"
// (as the container's sed does) and returns the file's path.
func render(t *testing.T, base string) string {
	t.Helper()
	b, err := os.ReadFile("alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, p := range placeholders {
		s = strings.ReplaceAll(s, "${"+p+"}", base+"/"+strings.ToLower(p))
	}
	if i := strings.Index(s, "${"); i >= 0 {
		t.Fatalf("alertmanager.yml uses a placeholder docker-compose.yml does not set: %q", s[i:min(len(s), i+40)])
	}
	path := filepath.Join(t.TempDir(), "alertmanager.yml")
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRoutes checks the configuration with amtool and that each severity
// reaches its receiver.
func TestRoutes(t *testing.T) {
	t.Parallel()
	amtool := testenv.LookPath(t, "amtool", installHow)
	cfg := render(t, "http://127.0.0.1:5001")
	if out, err := exec.Command(amtool, "check-config", cfg).CombinedOutput(); err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	tests := []struct {
		labels   []string
		receiver string
	}{
		{[]string{"alertname=IntakeTargetDown", "severity=critical", "job=intake-api"}, "intake-critical"},
		{[]string{"alertname=IntakeAPILatencyHigh", "severity=warning", "job=intake-api"}, "intake-warning"},
		{[]string{"alertname=IntakeAlertingWatchdog", "severity=none"}, "intake-watchdog"},
		{[]string{"alertname=Unlabelled"}, "intake-warning"},
	}
	for _, tt := range tests {
		t.Run(tt.receiver+"/"+tt.labels[0], func(t *testing.T) {
			t.Parallel()
			args := append([]string{"config", "routes", "test", "--config.file=" + cfg, "--verify.receivers=" + tt.receiver}, tt.labels...)
			out, err := exec.Command(amtool, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("amtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
	// The check can fail: a wrong receiver is refused.
	args := []string{"config", "routes", "test", "--config.file=" + cfg, "--verify.receivers=intake-warning", "severity=critical"}
	if err := exec.Command(amtool, args...).Run(); err == nil {
		t.Fatal("amtool accepted intake-warning for a critical alert")
	}
}

// notification is the part of Alertmanager's webhook payload the test reads.
type notification struct {
	Receiver string `json:"receiver"`
	Status   string `json:"status"`
	Alerts   []struct {
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

// TestLiveInhibitionAndDelivery runs Alertmanager against a loopback
// webhook receiver: a critical and a warning alert of the same job are
// posted, and only the critical one (and the watchdog) is delivered; a
// warning of another job is delivered too.
func TestLiveInhibitionAndDelivery(t *testing.T) {
	t.Parallel()
	bin := testenv.LookPath(t, "prometheus-alertmanager", installHow)

	var mu sync.Mutex
	got := map[string][]string{} // path -> alertnames/job
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n notification
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, a := range n.Alerts {
			got[r.URL.Path] = append(got[r.URL.Path], a.Labels["alertname"]+"/"+a.Labels["job"])
		}
		mu.Unlock()
	}))
	t.Cleanup(sink.Close)

	cfg := render(t, sink.URL)
	port := strconv.Itoa(testenv.FreePort(t))
	ctx, cancel := context.WithCancel(t.Context())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+cfg,
		"--storage.path="+t.TempDir(),
		"--web.listen-address=127.0.0.1:"+port,
		"--cluster.listen-address=",
		"--log.level=warn")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("alertmanager log:\n%s", logs.String())
		}
	})
	base := "http://127.0.0.1:" + port
	waitReady(t, base+"/-/ready")

	now := time.Now().UTC()
	alerts := []map[string]any{}
	for _, l := range []map[string]string{
		{"alertname": "IntakeTargetDown", "severity": "critical", "job": "intake-worker"},
		{"alertname": "IntakeLeaseExpiries", "severity": "warning", "job": "intake-worker"},
		{"alertname": "IntakeAPILatencyHigh", "severity": "warning", "job": "intake-api"},
		{"alertname": "IntakeAlertingWatchdog", "severity": "none", "job": "prometheus"},
	} {
		alerts = append(alerts, map[string]any{"labels": l, "startsAt": now.Format(time.RFC3339)})
	}
	body, err := json.Marshal(alerts)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v2/alerts: %s", resp.Status)
	}

	// group_wait is 0 s (watchdog), 10 s (critical) and 30 s (warning).
	want := map[string]string{
		"/alertmanager_critical_webhook_url": "IntakeTargetDown/intake-worker",
		"/alertmanager_webhook_url":          "IntakeAPILatencyHigh/intake-api",
		"/alertmanager_watchdog_url":         "IntakeAlertingWatchdog/prometheus",
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		done := true
		for path, a := range want {
			if !contains(got[path], a) {
				done = false
			}
		}
		snapshot := fmt.Sprint(got)
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s the receivers got %s, want %v", snapshot, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for path, names := range got {
		if contains(names, "IntakeLeaseExpiries/intake-worker") {
			t.Errorf("%s received the warning the critical alert of the same job inhibits: %v", path, names)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// waitReady polls url until it answers 200, for at most 20 s.
func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 20 s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
