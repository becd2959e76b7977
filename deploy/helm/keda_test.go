package helm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/kubetest"
	"github.com/intake-dev/intake/internal/store"
	"github.com/intake-dev/intake/internal/testenv"
)

// The scenario's bounds: no wait can hang the test.
const (
	installTimeout  = 4 * time.Minute
	completeTimeout = 4 * time.Minute
	scenarioJobs    = 5
	scenarioAPIKey  = "keda-scenario-key"
	// settle is how long the scenario keeps watching after the last job
	// completed, to see that KEDA creates no more Jobs: five polling
	// intervals of the value sets' 2 s.
	settle = 10 * time.Second
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// sample is one poll of the scenario's timeline.
type sample struct {
	At         time.Duration `json:"at"`
	Pending    int64         `json:"pending"`
	Processing int64         `json:"processing"`
	Completed  int64         `json:"completed"`
	KEDAJobs   int           `json:"keda_jobs"`
	Running    int           `json:"running"`
	Succeeded  int           `json:"succeeded"`
}

// TestKEDAScenario installs the chart on the real API server, with the real
// KEDA operator polling the real job store, and the stand-in kubelet running
// intake's pods as processes: five jobs created through the API are
// collected by `intake work --once` Jobs that KEDA creates from the pending
// count, in three or four runs each, and once nothing is pending KEDA
// creates no more Jobs.
func TestKEDAScenario(t *testing.T) {
	for _, trigger := range []string{"mongodb", "postgresql"} {
		t.Run(trigger, func(t *testing.T) {
			t.Parallel()
			runScenario(t, trigger)
		})
	}
}

func runScenario(t *testing.T, trigger string) {
	c := connect(t)
	bin := testenv.IntakeBinary(t)
	storeURL := scenarioStore(t, trigger)
	azurite := testenv.Azurite.URL(t)
	ns := c.namespace(t, "keda-"+trigger[:5])

	ctx, cancel := context.WithCancel(context.Background())
	logs := &testenv.Buffer{}
	kubelet := kubetest.New(kubetest.Config{
		Client: c.client, Namespace: ns, Node: "local-" + ns, Binary: bin,
		Images: isIntakeImage, Dir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	done := make(chan error, 1)
	// A kubelet that stops early fails the test at once rather than
	// leaving helm install to time out.
	installCtx, stopInstall := context.WithCancel(t.Context())
	defer stopInstall()
	go func() {
		err := kubelet.Run(ctx)
		if err != nil {
			stopInstall()
		}
		done <- err
	}()
	t.Cleanup(func() {
		uninstall := exec.Command(tool(t, "helm"), "uninstall", releaseName, "-n", ns, "--kubeconfig", c.kubeconfig, "--wait", "--timeout", "60s")
		_ = uninstall.Run()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stand-in kubelet: %v", err)
		}
		if t.Failed() {
			t.Logf("stand-in kubelet:\n%s", logs.String())
			for name, p := range kubelet.Pods() {
				b, _ := os.ReadFile(p.LogPath)
				t.Logf("pod %s (exit %d):\n%s", name, p.ExitCode, tail(string(b), 2000))
			}
		}
	})

	// helm install waits for the migration hook (run by the stand-in
	// kubelet) and for every Deployment to be ready.
	start := time.Now()
	install := exec.CommandContext(installCtx, tool(t, "helm"), "install", releaseName, chartDir,
		"--namespace", ns, "--kubeconfig", c.kubeconfig,
		"-f", "testdata/values-keda-"+trigger+".yaml",
		"--set-string", "database.url="+storeURL,
		"--set-string", "secrets.blobURL="+azurite,
		"--set-string", "config.blobContainer="+ns,
		"--wait", "--timeout", installTimeout.String())
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	t.Logf("helm install (migration hook, 2 api pods ready): %s", time.Since(start).Round(time.Second))

	api := kubelet.Endpoint(map[string]string{"app.kubernetes.io/instance": releaseName, "app.kubernetes.io/component": "api"}, 8000)
	if api == "" {
		t.Fatal("no ready api pod after helm install --wait")
	}
	st, err := store.Open(t.Context(), storeURL, store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })

	ids := createJobs(t, "http://"+api, scenarioJobs)
	created := time.Now()
	var timeline []sample
	var doneAt time.Time
	deadline := time.Now().Add(completeTimeout)
	for {
		s := poll(t, c, st, ns)
		s.At = time.Since(created).Round(100 * time.Millisecond)
		timeline = append(timeline, s)
		if s.Completed == scenarioJobs && doneAt.IsZero() {
			doneAt = time.Now()
		}
		if !doneAt.IsZero() && time.Since(doneAt) >= settle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs not completed within %s; timeline:\n%s", completeTimeout, table(timeline))
		}
		time.Sleep(time.Second)
	}
	t.Logf("timeline (%s trigger):\n%s", trigger, table(timeline))

	// Every job completed in three or four runs (35 % of 30–50 documents
	// per run), each run one KEDA Job.
	// Each run's record names the KEDA worker pod that collected it, and the
	// runs' documents add up to the job's.
	workerPods := map[string]bool{}
	for name, p := range kubelet.Pods() {
		if p.Labels["scaledjob.keda.sh/name"] == releaseName+"-worker" {
			workerPods[name] = true
		}
	}
	runs := 0
	for _, id := range ids {
		j, err := st.GetJob(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != intake.StatusCompleted || j.Runs < 3 || j.Runs > 4 || j.Collected != j.Total {
			t.Errorf("job %s: %s after %d runs, %d/%d documents; want completed in 3–4 runs", id, j.Status, j.Runs, j.Collected, j.Total)
		}
		runs += j.Runs
		history, err := st.ListRuns(t.Context(), id, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		collected := 0
		for _, r := range history {
			collected += r.Collected
			if !workerPods[r.Worker] {
				t.Errorf("job %s run %d: worker %q is not a KEDA worker pod", id, r.Number, r.Worker)
			}
			if want := map[bool]intake.RunOutcome{true: intake.RunCompleted, false: intake.RunBatchDone}[r.Number == j.Runs]; r.Outcome != want {
				t.Errorf("job %s run %d: outcome %s, want %s", id, r.Number, r.Outcome, want)
			}
		}
		if len(history) != j.Runs || collected != j.Total {
			t.Errorf("job %s: %d run records collecting %d documents; the job ran %d times for %d", id, len(history), collected, j.Runs, j.Total)
		}
	}
	last := timeline[len(timeline)-1]
	if last.KEDAJobs < runs {
		t.Errorf("KEDA created %d Jobs for %d runs", last.KEDAJobs, runs)
	}
	// Scale to zero: after the last completion, nothing pending, nothing
	// running, and no new Job in five polling intervals.
	settled := timeline[len(timeline)-1]
	for _, s := range timeline {
		if s.At >= doneAt.Sub(created)-time.Second && s.Completed == scenarioJobs {
			settled = s
			break
		}
	}
	if last.Pending != 0 || last.Running != 0 || last.KEDAJobs != settled.KEDAJobs {
		t.Errorf("not scaled to zero: at completion %+v, %s later %+v", settled, settle, last)
	}
	t.Logf("%d jobs, %d runs, %d KEDA Jobs (%d found nothing to claim)", scenarioJobs, runs, last.KEDAJobs, last.KEDAJobs-runs)

	// helm test: the test pod reaches the api Service by its name (the
	// stand-in kubelet rewrites it to a ready api pod's loopback address).
	if out, err := exec.Command(tool(t, "helm"), "test", releaseName, "-n", ns, "--kubeconfig", c.kubeconfig, "--timeout", "2m").CombinedOutput(); err != nil {
		t.Errorf("helm test: %v\n%s", err, out)
	}
	if *update {
		writeTimeline(t, trigger, timeline, runs)
	}
}

// scenarioStore returns the URL of a fresh database for one scenario on the
// test servers, dropped at the end.
func scenarioStore(t *testing.T, trigger string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	db := "intake_keda_" + hex.EncodeToString(b)
	switch trigger {
	case "mongodb":
		base := testenv.Mongo.URL(t)
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + db
		return u.String()
	default:
		base := testenv.Postgres.URL(t)
		conn, err := pgx.Connect(t.Context(), base)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(t.Context(), "CREATE DATABASE "+db); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if conn, err := pgx.Connect(ctx, base); err == nil {
				_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
				_ = conn.Close(ctx)
			}
		})
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + db
		return u.String()
	}
}

// poll reads the store's counts and the KEDA Jobs' states.
func poll(t *testing.T, c *cluster, st intake.Store, ns string) sample {
	t.Helper()
	stats, err := st.Stats(t.Context())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	jobs, err := c.client.BatchV1().Jobs(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "scaledjob.keda.sh/name=" + releaseName + "-worker"})
	if err != nil {
		t.Fatalf("list Jobs: %v", err)
	}
	s := sample{
		Pending:    stats.Jobs[intake.StatusPending],
		Processing: stats.Jobs[intake.StatusProcessing],
		Completed:  stats.Jobs[intake.StatusCompleted],
		KEDAJobs:   len(jobs.Items),
	}
	for _, j := range jobs.Items {
		if finished(&j) {
			s.Succeeded += int(j.Status.Succeeded)
			continue
		}
		s.Running++
	}
	return s
}

func finished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// createJobs creates n filings jobs through the API and returns their ids.
func createJobs(t *testing.T, api string, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for i := range n {
		body := fmt.Sprintf(`{"source_type":"filings","config":{"cin":"L27100MH1998PLC1122%02d","company_name":"Scenario Company %d"}}`, i, i)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, api+"/api/v1/jobs/trigger", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+scenarioAPIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("trigger: %s %s", resp.Status, b)
		}
		var out struct {
			JobID string `json:"job_id"`
		}
		if err := json.Unmarshal(b, &out); err != nil || out.JobID == "" {
			t.Fatalf("trigger answer %s: %v", b, err)
		}
		ids = append(ids, out.JobID)
	}
	return ids
}

// table renders a timeline as a Markdown table.
func table(timeline []sample) string {
	var b strings.Builder
	b.WriteString("| t (s) | pending | processing | completed | KEDA Jobs | running | succeeded |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range timeline {
		fmt.Fprintf(&b, "| %.1f | %d | %d | %d | %d | %d | %d |\n", s.At.Seconds(), s.Pending, s.Processing, s.Completed, s.KEDAJobs, s.Running, s.Succeeded)
	}
	return b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
