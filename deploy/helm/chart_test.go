// Package helm tests the Helm chart in deploy/helm/intake: rendered with
// Helm for every value set in testdata/, checked object by object, kept in
// step with the files it is generated from, validated strictly by a real
// kube-apiserver, and installed there with the real KEDA operator scaling
// `intake work --once` from the real job store (keda_test.go).
package helm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/intake-dev/intake/internal/store/mongostore"
	"github.com/intake-dev/intake/internal/store/postgresstore"
	"github.com/intake-dev/intake/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the generated files (chart files/, README.md, deploy/k8s/, docs/KUBERNETES.md)")

const (
	chartDir    = "intake"
	releaseName = "intake"
	namespace   = "intake"
	toolsHow    = "run: scripts/install-tools.sh helm kubeconform (builds them into ~/.cache/intake-tools)"
)

// tool returns the path of a tool built by scripts/install-tools.sh.
func tool(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("TOOLS")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "intake-tools")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		testenv.Missing(t, name, toolsHow)
	}
	return p
}

// valueSets are the files in testdata/ each test renders the chart with.
func valueSets(t testing.TB) []string {
	t.Helper()
	sets, err := filepath.Glob("testdata/values-*.yaml")
	if err != nil || len(sets) < 4 {
		t.Fatalf("want at least four value sets in testdata/, got %v (%v)", sets, err)
	}
	return sets
}

// helm runs the helm binary and returns its standard output.
func helm(t testing.TB, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(tool(t, "helm"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// render runs helm template for one value set (empty: the defaults).
func render(t testing.TB, valuesFile string, extra ...string) []*unstructured.Unstructured {
	t.Helper()
	args := []string{"template", releaseName, chartDir, "--namespace", namespace, "--kube-version", "1.36.3"}
	if valuesFile != "" {
		args = append(args, "-f", valuesFile)
	}
	args = append(args, extra...)
	return decode(t, helm(t, args...))
}

// decode splits a multi-document YAML stream into objects.
func decode(t testing.TB, b []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read YAML: %v", err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatalf("parse YAML: %v\n%s", err, doc)
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs
}

// podSpec returns the pod spec an object makes, if any.
func podSpec(o *unstructured.Unstructured) (map[string]any, bool) {
	paths := map[string][]string{
		"Deployment":  {"spec", "template", "spec"},
		"StatefulSet": {"spec", "template", "spec"},
		"Job":         {"spec", "template", "spec"},
		"CronJob":     {"spec", "jobTemplate", "spec", "template", "spec"},
		"ScaledJob":   {"spec", "jobTargetRef", "template", "spec"},
		"Pod":         {"spec"},
	}
	p, ok := paths[o.GetKind()]
	if !ok {
		return nil, false
	}
	spec, found, _ := unstructured.NestedMap(o.Object, p...)
	return spec, found
}

func containers(spec map[string]any) []map[string]any {
	var out []map[string]any
	for _, key := range []string{"initContainers", "containers"} {
		list, _, _ := unstructured.NestedSlice(spec, key)
		for _, c := range list {
			out = append(out, c.(map[string]any))
		}
	}
	return out
}

func isIntakeImage(image string) bool {
	return strings.Contains(image, "/intake-api") || strings.Contains(image, "/intake-worker")
}

// TestChartLint runs helm lint --strict with every value set.
func TestChartLint(t *testing.T) {
	t.Parallel()
	for _, set := range append([]string{""}, valueSets(t)...) {
		args := []string{"lint", "--strict", chartDir}
		if set != "" {
			args = append(args, "-f", set)
		}
		helm(t, args...)
	}
}

// TestSchemaRefusesBadValues checks that values.schema.json refuses unknown
// keys and wrong values with a message naming the value.
func TestSchemaRefusesBadValues(t *testing.T) {
	t.Parallel()
	cases := []struct{ set, want string }{
		{"api.replicas=3", "additional properties 'replicas' not allowed"},
		{"worker.mode=cron", "/worker/mode"},
		{"database.type=mysql", "/database/type"},
		{"config.leaseTTL=sixty", "/config/leaseTTL"},
		{"image.api.digest=latest", "/image/api/digest"},
		{"monitoring.alertmanager.receiver=pager", "/monitoring/alertmanager/receiver"},
		{"config.batchFraction=0.5.1", "/config/batchFraction"},
	}
	for _, c := range cases {
		cmd := exec.Command(tool(t, "helm"), "template", "x", chartDir, "--set", c.set)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("--set %s: rendered; want a schema error", c.set)
			continue
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("--set %s: error %q does not mention %q", c.set, out, c.want)
		}
	}
}

// TestRenderedObjects checks what every value set renders: restricted pod
// security everywhere, secrets only as files, the API's ports and probes,
// the worker's ScaledJob, the migration hook and the monitoring objects.
func TestRenderedObjects(t *testing.T) {
	t.Parallel()
	for _, set := range append([]string{""}, valueSets(t)...) {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(set), "values-"), ".yaml")
		if set == "" {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, set)
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.GetKind()]++
				checkPods(t, o)
			}
			api := find(t, objs, "Service", releaseName+"-api")
			port, _, _ := unstructured.NestedSlice(api.Object, "spec", "ports")
			if p := port[0].(map[string]any); p["port"] != float64(5001) && p["port"] != int64(5001) || p["targetPort"] != "http" {
				t.Errorf("api Service ports = %v, want 5001 → http", port)
			}
			dep := find(t, objs, "Deployment", releaseName+"-api")
			spec, _ := podSpec(dep)
			c := containers(spec)
			main := c[len(c)-1]
			if ports, _, _ := unstructured.NestedSlice(main, "ports"); len(ports) != 1 ||
				ports[0].(map[string]any)["containerPort"] != float64(8000) && ports[0].(map[string]any)["containerPort"] != int64(8000) {
				t.Errorf("api container ports = %v, want http 8000", ports)
			}
			for probe, path := range map[string]string{"livenessProbe": "/health", "readinessProbe": "/ready", "startupProbe": "/health"} {
				if got, _, _ := unstructured.NestedString(main, probe, "httpGet", "path"); got != path {
					t.Errorf("api %s path = %q, want %q", probe, got, path)
				}
			}
			if kinds["ScaledJob"]+kinds["ScaledObject"] != 1 || kinds["TriggerAuthentication"] != 1 {
				t.Errorf("want one ScaledJob or ScaledObject and one TriggerAuthentication, got %v", kinds)
			}
			for _, o := range objs {
				if o.GetKind() == "ScaledJob" {
					checkScaledJob(t, o)
				}
				if o.GetKind() == "Job" && o.GetName() == releaseName+"-migrate" {
					hook := o.GetAnnotations()["helm.sh/hook"]
					if hook != "pre-install,pre-upgrade" {
						t.Errorf("migrate Job hook = %q", hook)
					}
				}
			}
			if kinds["NetworkPolicy"] < 4 {
				t.Errorf("want the default-deny policy and one per component, got %d NetworkPolicies", kinds["NetworkPolicy"])
			}
		})
	}
}

// checkPods checks every intake container an object makes.
func checkPods(t *testing.T, o *unstructured.Unstructured) {
	t.Helper()
	spec, ok := podSpec(o)
	if !ok {
		return
	}
	where := o.GetKind() + "/" + o.GetName()
	intake := false
	for _, c := range containers(spec) {
		image, _ := c["image"].(string)
		if !isIntakeImage(image) {
			continue
		}
		intake = true
		sc, _ := c["securityContext"].(map[string]any)
		for key, want := range map[string]any{"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true} {
			if sc[key] != want {
				t.Errorf("%s container %s: securityContext.%s = %v, want %v", where, c["name"], key, sc[key], want)
			}
		}
		if drop, _, _ := unstructured.NestedStringSlice(sc, "capabilities", "drop"); !slices.Equal(drop, []string{"ALL"}) {
			t.Errorf("%s container %s: capabilities.drop = %v", where, c["name"], drop)
		}
		if _, ok := c["resources"].(map[string]any)["limits"]; !ok {
			t.Errorf("%s container %s has no resource limits", where, c["name"])
		}
		env, _, _ := unstructured.NestedSlice(c, "env")
		for _, e := range env {
			e := e.(map[string]any)
			n := e["name"].(string)
			if regexp.MustCompile(`(URL|URI|KEYS|PASSWORD|CONN)$`).MatchString(n) {
				t.Errorf("%s container %s: secret %s passed as a plain variable; use %s_FILE", where, c["name"], n, n)
			}
		}
	}
	if !intake {
		return
	}
	if spec["automountServiceAccountToken"] != false {
		t.Errorf("%s: automountServiceAccountToken = %v, want false", where, spec["automountServiceAccountToken"])
	}
	if v, _, _ := unstructured.NestedString(spec, "securityContext", "seccompProfile", "type"); v != "RuntimeDefault" {
		t.Errorf("%s: pod seccompProfile = %q", where, v)
	}
}

// checkScaledJob checks the worker ScaledJob and that its trigger counts
// with the very filter or query the store exports.
func checkScaledJob(t *testing.T, o *unstructured.Unstructured) {
	t.Helper()
	spec, _ := podSpec(o)
	if spec["restartPolicy"] != "Never" {
		t.Errorf("ScaledJob restartPolicy = %v", spec["restartPolicy"])
	}
	c := containers(spec)[0]
	if args, _, _ := unstructured.NestedStringSlice(c, "args"); !slices.Equal(args, []string{"work", "--once"}) {
		t.Errorf("ScaledJob args = %v, want work --once", args)
	}
	if s, _, _ := unstructured.NestedString(o.Object, "spec", "scalingStrategy", "strategy"); s != "accurate" {
		t.Errorf("scalingStrategy = %q, want accurate", s)
	}
	for _, key := range []string{"backoffLimit", "activeDeadlineSeconds"} {
		if _, ok, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "jobTargetRef", key); !ok {
			t.Errorf("ScaledJob jobTargetRef.%s is not set", key)
		}
	}
	triggers, _, _ := unstructured.NestedSlice(o.Object, "spec", "triggers")
	if len(triggers) != 1 {
		t.Fatalf("ScaledJob triggers = %v", triggers)
	}
	tr := triggers[0].(map[string]any)
	md := tr["metadata"].(map[string]any)
	switch tr["type"] {
	case "mongodb":
		want, err := bson.MarshalExtJSON(mongostore.PendingFilter(), false, false)
		if err != nil {
			t.Fatal(err)
		}
		if md["query"] != string(want) || md["collection"] != "jobs" {
			t.Errorf("mongodb trigger counts %v in %v; the store's filter is %s in jobs", md["query"], md["collection"], want)
		}
	case "postgresql":
		if md["query"] != postgresstore.PendingCountQuery {
			t.Errorf("postgresql trigger query %q; the store's is %q", md["query"], postgresstore.PendingCountQuery)
		}
	default:
		t.Errorf("trigger type %v", tr["type"])
	}
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

// TestChartFilesCurrent checks that the chart's copies of the alert rules,
// recording rules and dashboard are those of deploy/prometheus and
// deploy/grafana (Helm reads only files inside the chart).
func TestChartFilesCurrent(t *testing.T) {
	t.Parallel()
	for src, dst := range map[string]string{
		"../prometheus/rules/intake-alerts.yml":    "intake/files/intake-alerts.yml",
		"../prometheus/rules/intake-recording.yml": "intake/files/intake-recording.yml",
		"../grafana/dashboards/intake.json":        "intake/files/intake.json",
	} {
		want, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		checkGenerated(t, dst, want)
	}
}

// TestMonitoringMatchesCompose checks that the rendered Prometheus rules and
// dashboards (the chart's own and the Prometheus Operator's) carry the same
// rules and panels as the Compose stack's files.
func TestMonitoringMatchesCompose(t *testing.T) {
	t.Parallel()
	objs := render(t, "testdata/values-monitoring-operator.yaml")
	var want struct {
		Groups []map[string]any `json:"groups"`
	}
	for _, f := range []string{"../prometheus/rules/intake-recording.yml", "../prometheus/rules/intake-alerts.yml"} {
		var g struct {
			Groups []map[string]any `json:"groups"`
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &g); err != nil {
			t.Fatal(err)
		}
		want.Groups = append(want.Groups, g.Groups...)
	}
	rule := find(t, objs, "PrometheusRule", releaseName)
	got, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	if !jsonEqual(t, got, want.Groups) {
		t.Error("PrometheusRule groups differ from deploy/prometheus/rules")
	}
	cm := find(t, objs, "ConfigMap", releaseName+"-prometheus-rules")
	for _, f := range []string{"intake-recording.yml", "intake-alerts.yml"} {
		b, _ := os.ReadFile("../prometheus/rules/" + f)
		if v, _, _ := unstructured.NestedString(cm.Object, "data", f); strings.TrimSpace(v) != strings.TrimSpace(string(b)) {
			t.Errorf("ConfigMap %s data %s differs from deploy/prometheus/rules/%s", cm.GetName(), f, f)
		}
	}
	dash, _ := os.ReadFile("../grafana/dashboards/intake.json")
	for _, name := range []string{releaseName + "-dashboard", releaseName + "-grafana-dashboards"} {
		cm := find(t, objs, "ConfigMap", name)
		if v, _, _ := unstructured.NestedString(cm.Object, "data", "intake.json"); strings.TrimSpace(v) != strings.TrimSpace(string(dash)) {
			t.Errorf("ConfigMap %s differs from deploy/grafana/dashboards/intake.json", name)
		}
		if name == releaseName+"-dashboard" && cm.GetLabels()["grafana_dashboard"] != "1" {
			t.Errorf("ConfigMap %s lacks grafana_dashboard: \"1\"", name)
		}
	}
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var x, y any
	_ = json.Unmarshal(ja, &x)
	_ = json.Unmarshal(jb, &y)
	return fmt.Sprint(x) == fmt.Sprint(y)
}

// TestManifestsCurrent checks deploy/k8s/: the chart rendered with its
// default values for `kubectl apply -f deploy/k8s/`, one file per kind,
// without the Secrets (their generated passwords would be committed; the
// README there says how to create them) and without Helm's hooks and test
// pod.
func TestManifestsCurrent(t *testing.T) {
	t.Parallel()
	objs := render(t, "")
	byKind := map[string][]string{}
	for _, o := range objs {
		if o.GetKind() == "Secret" || o.GetAnnotations()["helm.sh/hook"] != "" {
			continue
		}
		b, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		byKind[o.GetKind()] = append(byKind[o.GetKind()], string(b))
	}
	dir := "../k8s"
	want := map[string]bool{}
	for kind, docs := range byKind {
		sort.Strings(docs)
		name := strings.ToLower(kind) + ".yaml"
		want[name] = true
		var buf bytes.Buffer
		buf.WriteString("# Generated from deploy/helm/intake with its default values (release \"intake\", namespace \"intake\")\n")
		buf.WriteString("# by `go test ./deploy/helm -run TestManifestsCurrent -update`. Do not edit; see README.md here.\n")
		for _, d := range docs {
			buf.WriteString("---\n")
			buf.WriteString(d)
		}
		checkGenerated(t, filepath.Join(dir, name), buf.Bytes())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") && !want[e.Name()] {
			if *update {
				_ = os.Remove(filepath.Join(dir, e.Name()))
				continue
			}
			t.Errorf("%s/%s is not rendered by the chart any more; run -update", dir, e.Name())
		}
	}
}

// checkGenerated compares a generated file with its content, or writes it
// under -update.
func checkGenerated(t *testing.T, path string, want []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s is stale; run: go test ./deploy/helm -update", path)
	}
}
