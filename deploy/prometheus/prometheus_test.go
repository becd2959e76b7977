// Package prometheus holds the tests of intake's Prometheus configuration:
// promtool checks the scrape config and the rules and runs the rule unit
// tests, the alerts are checked against their runbooks, and a live test
// runs Debian's prometheus against real intake processes and sends every
// dashboard query to it.
package prometheus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake/internal/testenv"
)

const installHow = "apt-get install prometheus (Debian ships prometheus and promtool)"

// rulesFiles returns the rule files, absolute.
func rulesFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("rules/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files in rules/: %v", err)
	}
	for i, f := range files {
		if files[i], err = filepath.Abs(f); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func TestPromtool(t *testing.T) {
	t.Parallel()
	promtool := testenv.LookPath(t, "promtool", installHow)
	tests, err := filepath.Glob("tests/*.yml")
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool tests in tests/: %v", err)
	}
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		append([]string{"check", "rules"}, rulesFiles(t)...),
		append([]string{"test", "rules"}, tests...),
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestScrapeConfigSeesEveryReplica keeps the Compose scrape config on DNS
// discovery: a static api:8000 would reach one random replica per scrape.
func TestScrapeConfigSeesEveryReplica(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, want := range []string{"names: [api]", "port: 8000", "names: [worker]", "port: 9100", "type: A"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("prometheus.yml lacks %q", want)
		}
	}
	if regexp.MustCompile(`(?m)^\s*-?\s*targets:.*\b(api|worker):\d+`).MatchString(cfg) {
		t.Error("prometheus.yml scrapes api or worker through a static target; use dns_sd_configs")
	}
}

// alertRule is what TestAlertsHaveRunbooksAndTests reads of one alert.
type alertRule struct {
	name        string
	annotations map[string]string
}

// readAlerts reads the alert names and single-line annotations of a rule
// file. It relies on the layout of rules/intake-alerts.yml, which the
// test keeps: "- alert: Name" and "key: value" or "key: >-" annotations.
func readAlerts(t *testing.T, path string) []alertRule {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rules []alertRule
	inAnnotations := false
	for line := range strings.Lines(string(b)) {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "- alert:"):
			rules = append(rules, alertRule{name: strings.TrimSpace(strings.TrimPrefix(trimmed, "- alert:")), annotations: map[string]string{}})
			inAnnotations = false
		case trimmed == "annotations:":
			inAnnotations = true
		case inAnnotations && len(rules) > 0:
			k, v, ok := strings.Cut(trimmed, ":")
			if ok && !strings.Contains(k, " ") && k != "" {
				rules[len(rules)-1].annotations[k] = strings.TrimSpace(v)
			}
		}
	}
	return rules
}

// TestAlertsHaveRunbooksAndTests checks that every alert has a summary, a
// description and a runbook_url whose anchor is a section of
// docs/RUNBOOKS.md, and promtool cases that fire and that stay quiet.
func TestAlertsHaveRunbooksAndTests(t *testing.T) {
	t.Parallel()
	alerts := readAlerts(t, "rules/intake-alerts.yml")
	if len(alerts) < 8 {
		t.Fatalf("read %d alerts from rules/intake-alerts.yml, want at least 8", len(alerts))
	}
	runbooks, err := os.ReadFile("../../docs/RUNBOOKS.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for line := range strings.Lines(string(runbooks)) {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			anchors[githubAnchor(h)] = true
		}
	}
	fires, quiet := alertTestCases(t, "tests/alerts_test.yml")
	for _, a := range alerts {
		for _, k := range []string{"summary", "description", "runbook_url"} {
			if a.annotations[k] == "" {
				t.Errorf("%s has no %s annotation", a.name, k)
			}
		}
		const prefix = "https://github.com/intake-dev/intake/blob/main/docs/RUNBOOKS.md#"
		anchor, ok := strings.CutPrefix(a.annotations["runbook_url"], prefix)
		switch {
		case !ok:
			t.Errorf("%s: runbook_url %q does not start with %s", a.name, a.annotations["runbook_url"], prefix)
		case anchor != strings.ToLower(a.name):
			t.Errorf("%s: runbook anchor %q, want %q", a.name, anchor, strings.ToLower(a.name))
		case !anchors[anchor]:
			t.Errorf("%s: docs/RUNBOOKS.md has no section %q (a line \"## %s\")", a.name, anchor, a.name)
		}
		if fires[a.name] == 0 {
			t.Errorf("%s: no promtool case in which it fires", a.name)
		}
		if quiet[a.name] == 0 {
			t.Errorf("%s: no promtool case in which it stays quiet (exp_alerts: [])", a.name)
		}
	}
}

// githubAnchor is the anchor GitHub gives a Markdown heading.
func githubAnchor(heading string) string {
	h := strings.ToLower(strings.TrimSpace(heading))
	h = regexp.MustCompile(`[^a-z0-9 _-]`).ReplaceAllString(h, "")
	return strings.ReplaceAll(h, " ", "-")
}

// alertTestCases counts, per alert name, the alert_rule_test cases of a
// promtool test file that expect alerts and those that expect none.
func alertTestCases(t *testing.T, path string) (fires, quiet map[string]int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fires, quiet = map[string]int{}, map[string]int{}
	name := ""
	for line := range strings.Lines(string(b)) {
		trimmed := strings.TrimSpace(line)
		if n, ok := strings.CutPrefix(trimmed, "alertname:"); ok {
			name = strings.TrimSpace(n)
			continue
		}
		switch trimmed {
		case "exp_alerts: []":
			quiet[name]++
		case "exp_alerts:":
			fires[name]++
		}
	}
	return fires, quiet
}

// TestRecordingRulesAreTested checks that every recording rule has a
// promql_expr_test.
func TestRecordingRulesAreTested(t *testing.T) {
	t.Parallel()
	tests, err := os.ReadFile("tests/recording_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range recordedNames(t) {
		if !regexp.MustCompile(`(?m)^\s*- expr: ` + regexp.QuoteMeta(name) + `\b`).Match(tests) {
			t.Errorf("recording rule %s has no promql_expr_test in tests/recording_test.yml", name)
		}
	}
}

// recordedNames returns the names of the recording rules.
func recordedNames(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, f := range rulesFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`(?m)^\s*- record: (\S+)`).FindAllSubmatch(b, -1) {
			names = append(names, string(m[1]))
		}
	}
	return names
}

// TestLivePrometheus runs Debian's prometheus, with the rule files, against
// a real `intake serve` and intake workers on loopback. Phase "work-once":
// only short-lived `work --once` processes do the work, as under KEDA, and
// no worker is ever scraped; every recording rule and every dashboard panel
// must still answer, and the series `serve` derives from the store (the
// queue snapshot and the run records) must count every document and every
// run. Phase "long-running": a scraped `intake work` does more jobs; every
// query, worker series included, answers.
func TestLivePrometheus(t *testing.T) {
	promBin := testenv.LookPath(t, "prometheus", installHow)
	if testing.Short() {
		t.Skip("starts intake and prometheus processes")
	}
	dir := t.TempDir()
	intake := testenv.IntakeBinary(t)

	apiAddr, workerAddr, promAddr := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	env := append(os.Environ(),
		"INTAKE_DATA_DIR="+filepath.Join(dir, "data"),
		"INTAKE_AUTH=disabled",
		"INTAKE_FILINGS_DELAY=0",
		"INTAKE_HTTP_ADDR="+apiAddr,
		"INTAKE_METRICS_ADDR="+workerAddr,
		"INTAKE_LOG_LEVEL=warn",
	)
	if out, err := command(intake, env, "migrate").CombinedOutput(); err != nil {
		t.Fatalf("intake migrate: %v\n%s", err, out)
	}
	start(t, "intake serve", command(intake, env, "serve"))
	api := "http://" + apiAddr
	waitHTTP(t, api+"/health")

	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [%s]
scrape_configs:
  - job_name: intake-api
    static_configs: [{targets: [%q]}]
  - job_name: intake-worker
    static_configs: [{targets: [%q]}]
`, quoteAll(rulesFiles(t)), apiAddr, workerAddr)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, "prometheus", exec.Command(promBin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr,
		"--log.level=warn",
	))
	prom := &promClient{base: "http://" + promAddr}
	waitHTTP(t, prom.base+"/-/ready")

	// A schedule that will not fire during the test (at midnight on
	// 1 January): the per-schedule gauges exist for the staleness panel.
	createSchedule(t, api)

	documents := 0

	t.Run("work-once", func(t *testing.T) {
		// Let Prometheus record the empty store first, so that the jobs
		// below show up as throughput.
		prom.waitValue(t, "intake:documents_stored:max", 0)
		jobs := createJobs(t, api, 3)
		processes := 0
		for ; !allCompleted(t, api, jobs); processes++ {
			if processes == 30 {
				t.Fatalf("jobs not completed after %d work --once processes", processes)
			}
			// One short-lived process per batch, as KEDA runs them, each
			// named as the chart names it: by its pod.
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			cmd := exec.CommandContext(ctx, intake, "work", "--once")
			cmd.Env = append(slices.Clip(env), fmt.Sprintf("INTAKE_WORKER_ID=intake-worker-once-%d", processes))
			out, err := cmd.CombinedOutput()
			cancel()
			if err != nil {
				t.Fatalf("intake work --once: %v\n%s", err, out)
			}
		}
		documents += collected(t, api, jobs)
		// Every process claimed a job (three were pending until the
		// last run): the run history names each of them once.
		seen := map[string]bool{}
		for _, id := range jobs {
			s := status(t, api, id)
			sum := 0
			for _, r := range s.RunHistory {
				if !strings.HasPrefix(r.Worker, "intake-worker-once-") || seen[r.Worker] || r.Outcome == "running" {
					t.Errorf("job %s: run %+v", id, r)
				}
				seen[r.Worker] = true
				sum += r.Collected
			}
			if sum != s.Progress.Collected || s.RunHistory[len(s.RunHistory)-1].Outcome != "completed" {
				t.Errorf("job %s: runs %+v collected %d of %d", id, s.RunHistory, sum, s.Progress.Collected)
			}
		}
		if len(seen) != processes {
			t.Errorf("%d work --once processes, %d in the run histories", processes, len(seen))
		}
		// A download: serve reads the blob (the blob latency panel).
		download(t, api, jobs[0])

		prom.waitValue(t, "intake:documents_stored:max", float64(documents))
		prom.waitValue(t, `intake:jobs:max{status="completed"}`, 3)
		// Nothing scraped a worker: the worker counters are absent, and
		// the series from the store still saw every document and run.
		prom.waitEmpty(t, "intake_worker_runs_total")
		prom.waitNonEmpty(t, "throughput from the store", "max_over_time(intake:documents_stored:deriv5m[5m]) > 0")
		prom.waitNonEmpty(t, "throughput from the store", "max_over_time(intake:jobs_completed:deriv5m[5m]) > 0")
		prom.waitValue(t, `sum(max by (outcome) (intake_recorded_runs_total))`, float64(processes))
		prom.waitValue(t, `max(intake_recorded_runs_total{outcome="completed"})`, 3)
		prom.waitValue(t, `max(intake_recorded_run_documents_total)`, float64(documents))
		prom.waitValue(t, `max(intake_recorded_job_completion_seconds_count)`, 3)
		prom.waitNonEmpty(t, "runs from the records", `max_over_time(intake:runs:rate5m{outcome="batch_done"}[5m]) > 0`)
		prom.waitNonEmpty(t, "run durations from the records", `max_over_time(intake:run_duration_seconds:p95_rate5m[5m]) > 0`)
		prom.waitNonEmpty(t, "completion times from the records", `max_over_time(intake:job_completion_seconds:p95_rate5m[5m]) > 0`)
		// Every recording rule answers, and every dashboard panel with at
		// least one of its queries (a panel may pair a series from the
		// store with a worker counter).
		var rules []liveQuery
		panels := map[string][]liveQuery{}
		for _, q := range queries(t) {
			if q.panel == "" {
				rules = append(rules, q)
			} else {
				panels[q.panel] = append(panels[q.panel], q)
			}
		}
		prom.waitAllNonEmpty(t, rules)
		for title, qs := range panels {
			prom.waitAnyNonEmpty(t, title, qs)
		}
	})

	t.Run("long-running", func(t *testing.T) {
		start(t, "intake work", command(intake, env, "work"))
		waitHTTP(t, "http://"+workerAddr+"/health")
		jobs := createJobs(t, api, 2)
		deadline := time.Now().Add(90 * time.Second)
		for !allCompleted(t, api, jobs) {
			if time.Now().After(deadline) {
				t.Fatal("jobs not completed by the long-running worker within 90s")
			}
			time.Sleep(200 * time.Millisecond)
		}
		phase := collected(t, api, jobs)
		documents += phase
		prom.waitValue(t, "intake:documents_stored:max", float64(documents))
		prom.waitValue(t, "sum(intake_documents_collected_total)", float64(phase))
		prom.waitAllNonEmpty(t, queries(t))
		prom.checkRules(t)
	})
}

// liveQuery is a query the live test sends, and where it comes from: a
// recording rule (panel empty) or a dashboard panel.
type liveQuery struct {
	from, expr string
	panel      string
}

// queries returns the recording rules and the dashboard's queries
// (deploy/grafana/dashboards/intake.json, Grafana variables substituted).
func queries(t *testing.T) []liveQuery {
	t.Helper()
	var qs []liveQuery
	for _, name := range recordedNames(t) {
		qs = append(qs, liveQuery{from: "recording rule", expr: name})
	}
	b, err := os.ReadFile("../grafana/dashboards/intake.json")
	if os.IsNotExist(err) {
		t.Log("../grafana/dashboards/intake.json does not exist yet: checking the recording rules only")
		return qs
	}
	if err != nil {
		t.Fatal(err)
	}
	var exprs []liveQuery
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ps, ok := v["panels"].([]any); ok {
				for _, p := range ps {
					pm, _ := p.(map[string]any)
					targets, _ := pm["targets"].([]any)
					title := fmt.Sprint(pm["title"])
					for _, tg := range targets {
						if tm, ok := tg.(map[string]any); ok {
							if e, ok := tm["expr"].(string); ok && e != "" {
								from := fmt.Sprintf("dashboard panel %q (refId %v)", title, tm["refId"])
								exprs = append(exprs, liveQuery{from: from, expr: expand(e), panel: title})
							}
						}
					}
					walk(pm)
				}
			}
		}
	}
	var d any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	walk(d)
	if len(exprs) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	return append(qs, exprs...)
}

// grafanaVars are Grafana's built-in variables, for a 1 s scrape interval.
var grafanaVars = strings.NewReplacer(
	"${__rate_interval}", "15s", "$__rate_interval", "15s",
	"${__interval}", "5s", "$__interval", "5s",
	"${__range}", "5m", "$__range", "5m",
	"$__range_s", "300", "$__interval_ms", "5000",
)

// templateVar matches a dashboard variable left after grafanaVars; it
// stands for "All" (.*) in a regex matcher.
var templateVar = regexp.MustCompile(`\$\{\w+(:\w+)?\}|\$\w+|\[\[\w+\]\]`)

func expand(expr string) string {
	return templateVar.ReplaceAllString(grafanaVars.Replace(expr), ".*")
}

// promClient asks Prometheus's HTTP API.
type promClient struct{ base string }

type queryResult struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// query runs an instant query; a parse error fails the test at once.
func (p *promClient) query(t *testing.T, q string) (samples []float64, empty bool) {
	t.Helper()
	resp, err := http.Get(p.base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	defer resp.Body.Close()
	var r queryResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("query %s: decode: %v", q, err)
	}
	if r.Status != "success" {
		t.Fatalf("query %s: %s: %s", q, r.ErrorType, r.Error)
	}
	switch r.Data.ResultType {
	case "vector":
		var v []struct {
			Value [2]any `json:"value"`
		}
		if err := json.Unmarshal(r.Data.Result, &v); err != nil {
			t.Fatal(err)
		}
		for _, s := range v {
			f, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
			samples = append(samples, f)
		}
		return samples, len(v) == 0
	case "scalar":
		var s [2]any
		if err := json.Unmarshal(r.Data.Result, &s); err != nil {
			t.Fatal(err)
		}
		f, _ := strconv.ParseFloat(fmt.Sprint(s[1]), 64)
		return []float64{f}, false
	default:
		return nil, string(r.Data.Result) == "[]"
	}
}

// liveWait bounds every wait for Prometheus: the queue snapshot refreshes
// every 5 s, scrapes and rule evaluations every second.
const liveWait = 30 * time.Second

func (p *promClient) waitNonEmpty(t *testing.T, from, q string) {
	t.Helper()
	deadline := time.Now().Add(liveWait)
	for {
		if _, empty := p.query(t, q); !empty {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s returned no data within %s: %s", from, liveWait, q)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitAllNonEmpty waits until every query returns data, and reports
// those that still return none after liveWait.
func (p *promClient) waitAllNonEmpty(t *testing.T, qs []liveQuery) {
	t.Helper()
	deadline := time.Now().Add(liveWait)
	for {
		var left []liveQuery
		for _, q := range qs {
			if _, empty := p.query(t, q.expr); empty {
				left = append(left, q)
			}
		}
		if qs = left; len(qs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	for _, q := range qs {
		t.Errorf("%s returned no data within %s: %s", q.from, liveWait, q.expr)
	}
}

// waitAnyNonEmpty waits until at least one of a panel's queries returns data.
func (p *promClient) waitAnyNonEmpty(t *testing.T, panel string, qs []liveQuery) {
	t.Helper()
	deadline := time.Now().Add(liveWait)
	for {
		for _, q := range qs {
			if _, empty := p.query(t, q.expr); !empty {
				return
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	t.Errorf("dashboard panel %q: none of its %d queries returned data within %s", panel, len(qs), liveWait)
}

func (p *promClient) waitEmpty(t *testing.T, q string) {
	t.Helper()
	if _, empty := p.query(t, q); !empty {
		t.Errorf("query returned data, want none: %s", q)
	}
}

// waitValue waits until q returns exactly one sample equal to want.
func (p *promClient) waitValue(t *testing.T, q string, want float64) {
	t.Helper()
	deadline := time.Now().Add(liveWait)
	var got []float64
	for time.Now().Before(deadline) {
		if got, _ = p.query(t, q); len(got) == 1 && got[0] == want {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s = %v after %s, want %v", q, got, liveWait, want)
}

// checkRules checks that Prometheus loaded every rule and evaluates each
// without error.
func (p *promClient) checkRules(t *testing.T) {
	t.Helper()
	resp, err := http.Get(p.base + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range r.Data.Groups {
		for _, rule := range g.Rules {
			n++
			if rule.Health != "ok" {
				t.Errorf("rule %s/%s: health %q %s", g.Name, rule.Name, rule.Health, rule.LastError)
			}
		}
	}
	if n < len(recordedNames(t))+8 {
		t.Errorf("prometheus loaded %d rules", n)
	}
}

// createJobs creates n filings jobs with POST /create-job.
func createSchedule(t *testing.T, api string) {
	t.Helper()
	body := `{"name":"yearly","source_type":"filings","cron":"0 0 1 1 *",` +
		`"config":{"cin":"L17110MH1973PLC019786","company_name":"Reliance Industries Limited"}}`
	resp, err := http.Post(api+"/api/v1/schedules", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /api/v1/schedules: %s %s", resp.Status, b)
	}
}

func createJobs(t *testing.T, api string, n int) []string {
	t.Helper()
	resp, err := http.Post(api+"/create-job", "application/json", strings.NewReader(fmt.Sprintf(`{"num_jobs": %d}`, n)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Jobs []struct {
			JobID string `json:"jobId"`
		} `json:"jobs"`
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &r) != nil || len(r.Jobs) != n {
		t.Fatalf("POST /create-job: %s %s", resp.Status, body)
	}
	ids := make([]string, n)
	for i, j := range r.Jobs {
		ids[i] = j.JobID
	}
	return ids
}

type jobStatus struct {
	Status   string `json:"status"`
	Progress struct {
		Collected int `json:"collected"`
	} `json:"progress"`
	RunHistory []struct {
		Worker    string `json:"worker"`
		Collected int    `json:"collected"`
		Outcome   string `json:"outcome"`
	} `json:"run_history"`
}

// download reads the first document of a job through the API.
func download(t *testing.T, api, id string) {
	t.Helper()
	resp, err := http.Get(api + "/api/v1/jobs/" + id + "/documents/1/content")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, _ := io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK || n == 0 {
		t.Fatalf("download document 1 of job %s: HTTP %d, %d bytes", id, resp.StatusCode, n)
	}
}

func status(t *testing.T, api, id string) jobStatus {
	t.Helper()
	resp, err := http.Get(api + "/api/v1/jobs/status/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s jobStatus
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if s.Status == "failed" || s.Status == "cancelled" {
		t.Fatalf("job %s is %s", id, s.Status)
	}
	return s
}

func allCompleted(t *testing.T, api string, ids []string) bool {
	t.Helper()
	for _, id := range ids {
		if status(t, api, id).Status != "completed" {
			return false
		}
	}
	return true
}

func collected(t *testing.T, api string, ids []string) int {
	t.Helper()
	n := 0
	for _, id := range ids {
		n += status(t, api, id).Progress.Collected
	}
	return n
}

// command builds an intake command with exactly env.
func command(path string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	return cmd
}

// start starts cmd and stops it at cleanup, printing its output when the
// test failed.
func start(t *testing.T, name string, cmd *exec.Cmd) {
	t.Helper()
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("--- output of %s:\n%s", name, out.Tail(200))
		}
	})
}

// waitHTTP waits until url answers 200.
func waitHTTP(t *testing.T, u string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 30s (last error %v)", u, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
