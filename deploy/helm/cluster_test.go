package helm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/intake-dev/intake/internal/testenv"
)

const clusterHow = `run: scripts/kube-local.sh up && eval "$(scripts/kube-local.sh env)" (a real kube-apiserver, controller-manager, KEDA and kwok on loopback)`

// cluster is a connection to the kube-apiserver of scripts/kube-local.sh.
type cluster struct {
	kubeconfig string
	config     *rest.Config
	client     kubernetes.Interface
	dynamic    dynamic.Interface
	mapper     *restmapper.DeferredDiscoveryRESTMapper

	mu       sync.Mutex
	warnings []string
}

// HandleWarningHeader implements rest.WarningHandler: the API server's
// warnings (PodSecurity's among them) are collected for the tests.
func (c *cluster) HandleWarningHeader(_ int, _ string, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.warnings = append(c.warnings, text)
}

func (c *cluster) takeWarnings() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.warnings
	c.warnings = nil
	return w
}

// connect returns the test cluster, or skips (fails under
// INTAKE_TEST_STRICT=1) when none is configured.
func connect(t *testing.T) *cluster {
	t.Helper()
	path := os.Getenv("INTAKE_TEST_KUBECONFIG")
	if path == "" {
		testenv.Missing(t, "a kube-apiserver (INTAKE_TEST_KUBECONFIG)", clusterHow)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("kubeconfig %s: %v", path, err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	c := &cluster{kubeconfig: path, config: cfg}
	cfg.WarningHandler = c
	if c.client, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if c.dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return c
}

// namespace creates a namespace of the test's own that enforces the
// PodSecurity "restricted" profile, and deletes it at the end.
func (c *cluster) namespace(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := prefix + "-" + hex.EncodeToString(b)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
		"pod-security.kubernetes.io/warn":            "restricted",
	}}}
	if _, err := c.client.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
	})
	return name
}

// apply applies an object with server-side apply and strict field
// validation; dryRun keeps it from being persisted.
func (c *cluster) apply(ctx context.Context, o *unstructured.Unstructured, ns string, dryRun bool) error {
	gvk := o.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		c.mapper.Reset()
		if m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			return fmt.Errorf("%s: %w", gvk, err)
		}
	}
	var ri dynamic.ResourceInterface = c.dynamic.Resource(m.Resource)
	if m.Scope.Name() == "namespace" {
		o.SetNamespace(ns)
		ri = c.dynamic.Resource(m.Resource).Namespace(ns)
	}
	opts := metav1.ApplyOptions{FieldManager: "intake-tests", Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	b, err := json.Marshal(o.Object)
	if err != nil {
		return err
	}
	_, err = ri.Patch(ctx, o.GetName(), "application/apply-patch+yaml", b, metav1.PatchOptions{
		FieldManager: opts.FieldManager, Force: &opts.Force, DryRun: opts.DryRun, FieldValidation: "Strict",
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
	}
	return nil
}

// TestServerSideValidation applies every object of every value set to the
// real API server (dry run) with strict field validation, in a namespace
// that enforces PodSecurity "restricted", with KEDA's and the Prometheus
// Operator's CRDs installed: unknown or misspelt fields, wrong types and
// pods that are not "restricted" fail.
func TestServerSideValidation(t *testing.T) {
	c := connect(t)
	for _, set := range append([]string{""}, valueSets(t)...) {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(set), "values-"), ".yaml")
		if set == "" {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) {
			ns := c.namespace(t, "validate")
			objs := render(t, set, "--namespace", ns)
			c.takeWarnings()
			for _, o := range objs {
				if err := c.apply(t.Context(), o, ns, true); err != nil {
					t.Errorf("server-side apply: %v", err)
				}
			}
			for _, w := range c.takeWarnings() {
				t.Errorf("API server warning: %s", w)
			}
			if len(objs) < 10 {
				t.Errorf("only %d objects rendered", len(objs))
			}
		})
	}
}

// TestKubeconform validates the rendered manifests of every value set with
// kubeconform, against JSON schemas taken from the test API server's
// OpenAPI v3 documents (its CRDs included), with additional properties
// refused.
func TestKubeconform(t *testing.T) {
	c := connect(t)
	kubeconform := tool(t, "kubeconform")
	dir := t.TempDir()
	writeSchemas(t, c, dir)
	for _, set := range append([]string{""}, valueSets(t)...) {
		args := []string{"template", releaseName, chartDir, "--namespace", namespace, "--kube-version", "1.36.3"}
		if set != "" {
			args = append(args, "-f", set)
		}
		manifests := helm(t, args...)
		cmd := exec.Command(kubeconform, "-strict", "-summary", "-output", "text",
			"-schema-location", filepath.Join(dir, "{{ .ResourceKind }}-{{ .Group }}-{{ .ResourceAPIVersion }}.json"))
		cmd.Stdin = bytes.NewReader(manifests)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("kubeconform with %q: %v\n%s", set, err, out)
			continue
		}
		if !strings.Contains(string(out), "Invalid: 0, Errors: 0, Skipped: 0") {
			t.Errorf("kubeconform with %q did not validate everything:\n%s", set, out)
		}
		t.Logf("kubeconform %s: %s", set, strings.TrimSpace(string(out)))
	}
}

// writeSchemas writes one JSON schema per kind the API server publishes,
// named as kubeconform's -schema-location template above expects.
func writeSchemas(t *testing.T, c *cluster, dir string) {
	t.Helper()
	paths, err := c.client.Discovery().OpenAPIV3().Paths()
	if err != nil {
		t.Fatalf("OpenAPI v3 paths: %v", err)
	}
	written := 0
	names := make([]string, 0, len(paths))
	for p := range paths {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		if p != "api/v1" && !strings.HasPrefix(p, "apis/") {
			continue
		}
		doc, err := paths[p].Schema("application/json")
		if err != nil {
			t.Fatalf("OpenAPI v3 %s: %v", p, err)
		}
		var spec struct {
			Components struct {
				Schemas map[string]map[string]any `json:"schemas"`
			} `json:"components"`
		}
		if err := json.Unmarshal(doc, &spec); err != nil {
			t.Fatal(err)
		}
		schemas := spec.Components.Schemas
		for _, s := range schemas {
			closeObjects(s)
		}
		for name, s := range schemas {
			gvks, _ := s["x-kubernetes-group-version-kind"].([]any)
			for _, g := range gvks {
				g := g.(map[string]any)
				group, version, kind := g["group"].(string), g["version"].(string), g["kind"].(string)
				gv := schema.GroupVersion{Group: group, Version: version}
				if !strings.HasSuffix(p, gv.String()) {
					continue
				}
				grp := group
				if grp == "" {
					grp = version
				}
				file := fmt.Sprintf("%s-%s-%s.json", strings.ToLower(kind), grp, version)
				out, err := json.Marshal(map[string]any{
					"$ref":       "#/components/schemas/" + name,
					"components": map[string]any{"schemas": schemas},
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, file), out, 0o644); err != nil {
					t.Fatal(err)
				}
				written++
			}
		}
	}
	if written < 50 {
		t.Fatalf("wrote %d schemas from the API server's OpenAPI; want the built-in kinds and the CRDs", written)
	}
}

// closeObjects refuses properties a schema does not name, as kubeconform's
// strict schemas do, except where Kubernetes keeps unknown fields.
func closeObjects(s map[string]any) {
	if props, ok := s["properties"].(map[string]any); ok {
		if _, set := s["additionalProperties"]; !set && s["x-kubernetes-preserve-unknown-fields"] != true {
			s["additionalProperties"] = false
		}
		for _, p := range props {
			if m, ok := p.(map[string]any); ok {
				closeObjects(m)
			}
		}
	}
	for _, key := range []string{"items", "additionalProperties"} {
		if m, ok := s[key].(map[string]any); ok {
			closeObjects(m)
		}
	}
	for _, key := range []string{"allOf", "anyOf", "oneOf"} {
		if list, ok := s[key].([]any); ok {
			for _, x := range list {
				if m, ok := x.(map[string]any); ok {
					closeObjects(m)
				}
			}
		}
	}
}
