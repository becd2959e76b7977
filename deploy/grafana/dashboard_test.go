package grafana

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/intake-dev/intake/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite "+DashboardFile)

func generated(t *testing.T) []byte {
	t.Helper()
	b, err := Dashboard()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDashboardUpToDate(t *testing.T) {
	got := generated(t)
	if *update {
		if err := os.WriteFile(DashboardFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(DashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go test ./deploy/grafana -run TestDashboardUpToDate -update", DashboardFile)
	}
}

func TestDashboardIsDeterministic(t *testing.T) {
	t.Parallel()
	if a, b := generated(t), generated(t); !bytes.Equal(a, b) {
		t.Error("two generations differ")
	}
}

// rawPanel is a panel read back generically, so that the test checks the
// JSON Grafana will see rather than this package's structs.
type rawPanel map[string]any

func (p rawPanel) str(key string) string { s, _ := p[key].(string); return s }

func TestDashboardStructure(t *testing.T) {
	t.Parallel()
	var d map[string]any
	if err := json.Unmarshal(generated(t), &d); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"uid", "title", "schemaVersion", "panels", "templating", "time"} {
		if _, ok := d[key]; !ok {
			t.Errorf("dashboard has no %q", key)
		}
	}
	if v, _ := d["schemaVersion"].(float64); v < 36 {
		t.Errorf("schemaVersion %v: want 36 or later", d["schemaVersion"])
	}
	vars, _ := d["templating"].(map[string]any)["list"].([]any)
	if len(vars) != 1 || vars[0].(map[string]any)["name"] != "datasource" || vars[0].(map[string]any)["type"] != "datasource" {
		t.Errorf("templating: want exactly the datasource variable, got %v", vars)
	}

	ids := map[float64]bool{}
	type cell struct{ x, y int }
	used := map[cell]string{}
	var check func(ps []any, nested bool)
	check = func(ps []any, nested bool) {
		for _, raw := range ps {
			p := rawPanel(raw.(map[string]any))
			title := p.str("title")
			id, _ := p["id"].(float64)
			if id == 0 || ids[id] {
				t.Errorf("panel %q: id %v missing or repeated", title, p["id"])
			}
			ids[id] = true
			g, ok := p["gridPos"].(map[string]any)
			if !ok {
				t.Errorf("panel %q has no gridPos", title)
				continue
			}
			x, y, w, h := int(g["x"].(float64)), int(g["y"].(float64)), int(g["w"].(float64)), int(g["h"].(float64))
			if w <= 0 || h <= 0 || x < 0 || x+w > 24 {
				t.Errorf("panel %q: gridPos %v outside the 24-column grid", title, g)
			}
			for i := x; i < x+w; i++ {
				for j := y; j < y+h; j++ {
					if other, ok := used[cell{i, j}]; ok {
						t.Errorf("panel %q overlaps %q at (%d,%d)", title, other, i, j)
					}
					used[cell{i, j}] = title
				}
			}
			if p.str("type") == "row" {
				if nested {
					t.Errorf("row %q nested in a row", title)
				}
				children, _ := p["panels"].([]any)
				if collapsed, _ := p["collapsed"].(bool); !collapsed && len(children) > 0 {
					t.Errorf("expanded row %q holds panels", title)
				}
				check(children, true)
				continue
			}
			if title == "" || p.str("description") == "" {
				t.Errorf("panel %d: title %q and a description are required", int(id), title)
			}
			ds, _ := p["datasource"].(map[string]any)
			if ds["uid"] != "${datasource}" || ds["type"] != "prometheus" {
				t.Errorf("panel %q: datasource %v, want the datasource variable", title, ds)
			}
			targets, _ := p["targets"].([]any)
			if len(targets) == 0 {
				t.Errorf("panel %q has no targets", title)
			}
			refs := map[string]bool{}
			for _, rt := range targets {
				tg := rt.(map[string]any)
				ref, _ := tg["refId"].(string)
				expr, _ := tg["expr"].(string)
				if ref == "" || refs[ref] || strings.TrimSpace(expr) == "" {
					t.Errorf("panel %q: target %v needs a unique refId and an expr", title, tg)
				}
				refs[ref] = true
				if tds, _ := tg["datasource"].(map[string]any); tds["uid"] != "${datasource}" {
					t.Errorf("panel %q %s: target datasource %v", title, ref, tds)
				}
			}
		}
	}
	panels, _ := d["panels"].([]any)
	check(panels, false)
}

// docMetrics returns the metrics docs/METRICS.md's table lists.
func docMetrics(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "METRICS.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, all, ok := strings.Cut(string(b), "## All metrics")
	if !ok {
		t.Fatal("docs/METRICS.md has no All metrics section")
	}
	all, _, _ = strings.Cut(all, "\n## ")
	re := regexp.MustCompile("(?m)^\\| `(intake_[a-z0-9_]+)` \\|")
	m := map[string]bool{}
	for _, s := range re.FindAllStringSubmatch(all, -1) {
		m[s[1]] = true
	}
	if len(m) < 20 {
		t.Fatalf("found only %d metrics in docs/METRICS.md", len(m))
	}
	return m
}

func queries(t *testing.T) []Query {
	t.Helper()
	qs, err := Queries(generated(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 40 {
		t.Fatalf("only %d queries", len(qs))
	}
	return qs
}

var (
	metricRE = regexp.MustCompile(`\bintake_[a-z0-9_]+`)
	// snapshot gauges are read from the shared store and exported alike by
	// every replica.
	snapshotRE = regexp.MustCompile(`\b(intake_jobs|intake_queue_oldest_pending_age_seconds|intake_documents_stored|intake_documents_stored_bytes)\b`)
	// maxPrefixRE is what must come right before a snapshot gauge.
	maxPrefixRE    = regexp.MustCompile(`max(?: by \([a-z_, ]*\))? ?\($`)
	rangeRE        = regexp.MustCompile(`\b(rate|irate|increase)\([^()]*\[([^\]]*)\]\)`)
	rangeFuncRE    = regexp.MustCompile(`\b(rate|irate|increase)\(`)
	variableRE     = regexp.MustCompile(`\$\{?[A-Za-z_]+\}?`)
	histogramSufRE = regexp.MustCompile(`_(bucket|sum|count)$`)
)

// TestQueriesFollowMetricsDoc checks every query against docs/METRICS.md:
// the metrics exist, every documented metric is on the dashboard, the
// store snapshot is aggregated with max, rates use $__rate_interval, and
// no Grafana variable other than $__rate_interval appears.
func TestQueriesFollowMetricsDoc(t *testing.T) {
	t.Parallel()
	documented := docMetrics(t)
	seen := map[string]bool{}
	for _, q := range queries(t) {
		where := fmt.Sprintf("%s/%s %q", q.Panel, q.RefID, q.Expr)
		for _, loc := range metricRE.FindAllStringIndex(q.Expr, -1) {
			name := q.Expr[loc[0]:loc[1]]
			if !documented[name] {
				if base := histogramSufRE.ReplaceAllString(name, ""); documented[base] && base != name {
					name = base
				} else {
					t.Errorf("%s: %s is not in docs/METRICS.md", where, name)
				}
			}
			seen[name] = true
		}
		for _, loc := range snapshotRE.FindAllStringIndex(q.Expr, -1) {
			if !maxPrefixRE.MatchString(q.Expr[:loc[0]]) {
				t.Errorf("%s: the store snapshot %s must be aggregated with max( … ) directly", where, q.Expr[loc[0]:loc[1]])
			}
		}
		if snapshotRE.MatchString(q.Expr) && strings.Contains(q.Expr, "sum") {
			t.Errorf("%s: never sum the store snapshot", where)
		}
		if n, m := len(rangeFuncRE.FindAllString(q.Expr, -1)), rangeRE.FindAllStringSubmatch(q.Expr, -1); n != len(m) {
			t.Errorf("%s: a rate()/increase() the test cannot read", where)
		} else {
			for _, s := range m {
				if s[2] != "$__rate_interval" {
					t.Errorf("%s: %s over [%s], want [$__rate_interval]", where, s[1], s[2])
				}
			}
		}
		for _, v := range variableRE.FindAllString(q.Expr, -1) {
			if v != "$__rate_interval" {
				t.Errorf("%s: variable %s: Expand substitutes only $__rate_interval", where, v)
			}
		}
		if strings.Count(q.Expr, "(") != strings.Count(q.Expr, ")") || strings.Count(q.Expr, "{") != strings.Count(q.Expr, "}") {
			t.Errorf("%s: unbalanced brackets", where)
		}
	}
	var missing []string
	for m := range documented {
		if !seen[m] {
			missing = append(missing, m)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("metrics in docs/METRICS.md on no panel: %v", missing)
	}
}

// TestRequiredPanels checks that the panels the requirement lists, plus
// API traffic and latency and worker runs, are on the dashboard.
func TestRequiredPanels(t *testing.T) {
	t.Parallel()
	titles := map[string]bool{}
	for _, q := range queries(t) {
		titles[q.Panel] = true
	}
	for _, want := range []string{
		"Job creation rate",              // job creation rates
		"Job throughput (store-derived)", // job processing rates
		"Job completion time",            // completion times
		"Document uploads", "Blob bytes", // document upload metrics to blob storage
		"Processing", "Pending", "Completed", // active/pending/completed counts
		"Job failure ratio", "Document errors", // error rates and failure analysis
		"Blob operations", "Blob latency", // blob storage operation metrics
		"Requests by route", "Latency", "5xx ratio", // API traffic and latency
		"Worker runs by outcome", "Run duration", // worker runs
		"Documents per second", "Lease expiries and maintenance",
	} {
		if !titles[want] {
			t.Errorf("no panel %q", want)
		}
	}
}

// TestQueriesFromFile reads the committed file the way the Prometheus
// test does, nested rows included.
func TestQueriesFromFile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(DashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := Queries(b)
	if err != nil {
		t.Fatal(err)
	}
	nested := false
	for _, q := range qs {
		if q.Panel == "Store latency p95" {
			nested = true
		}
	}
	if !nested {
		t.Error("queries of the collapsed Job store row are missing")
	}
	if got := Expand(`rate(x[$__rate_interval]) + rate(y[${__rate_interval}])`, "1m"); got != `rate(x[1m]) + rate(y[1m])` {
		t.Errorf("Expand = %q", got)
	}
}

// TestBinaryDoesNotLinkSDK keeps grafana-foundation-sdk out of the intake
// binary: only this generator imports it.
func TestBinaryDoesNotLinkSDK(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "../../cmd/intake").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "grafana-foundation-sdk") {
		t.Error("cmd/intake imports grafana-foundation-sdk; only deploy/grafana may")
	}
}

// TestQueriesParse has promtool parse every query (as recording rules),
// with $__rate_interval expanded. It needs promtool (Debian: apt-get
// install prometheus); without it the test skips, or fails when
// INTAKE_TEST_STRICT=1.
func TestQueriesParse(t *testing.T) {
	t.Parallel()
	promtool := testenv.LookPath(t, "promtool", "apt-get install prometheus")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, q := range queries(t) {
		expr, err := json.Marshal(Expand(q.Expr, "1m")) // a JSON string is a YAML string
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&rules, "      - record: dashboard:query_%d\n        expr: %s\n", i, expr)
	}
	file := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}
