package cicd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"go.yaml.in/yaml/v3"

	"github.com/intake-dev/intake/internal/testenv"
)

const (
	fleetDir = "../fleet"
	chartDir = "../helm/intake"
)

// tool finds a command on PATH or in the cache of scripts/install-tools.sh.
func tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	dir := os.Getenv("TOOLS")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "intake-tools")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		testenv.Missing(t, name, "scripts/install-tools.sh "+name)
	}
	return p
}

// yamlFile decodes one YAML document into a map.
func yamlFile(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

var semverRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)

// TestFleetApplicationSet generates the Applications as Argo CD's matrix of
// git file generators would (rings × the clients under each ring, with
// the ring file's path parameters under pathParamPrefix) and executes the
// template with missingkey=error, so that every parameter the template
// uses exists and every client gets one well-formed Application.
func TestFleetApplicationSet(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(fleetDir, "applicationset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var appSet struct {
		Kind string `yaml:"kind"`
		Spec struct {
			GoTemplate bool `yaml:"goTemplate"`
			Generators []struct {
				Matrix struct {
					Generators []struct {
						Git struct {
							Files           []struct{ Path string } `yaml:"files"`
							PathParamPrefix string                  `yaml:"pathParamPrefix"`
						} `yaml:"git"`
					} `yaml:"generators"`
				} `yaml:"matrix"`
			} `yaml:"generators"`
			Template yaml.Node `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&appSet); err != nil {
		t.Fatal(err)
	}
	if appSet.Kind != "ApplicationSet" || !appSet.Spec.GoTemplate || len(appSet.Spec.Generators) != 1 {
		t.Fatalf("want one goTemplate ApplicationSet with one matrix generator, got %+v", appSet.Spec.Generators)
	}
	gens := appSet.Spec.Generators[0].Matrix.Generators
	if len(gens) != 2 || gens[0].Git.Files[0].Path != "rings/*.yaml" || gens[0].Git.PathParamPrefix == "" ||
		gens[1].Git.Files[0].Path != "clients/{{ .ring }}/*/client.yaml" {
		t.Fatalf("generators %+v: want rings/*.yaml (with a pathParamPrefix) × clients/{{ .ring }}/*/client.yaml", gens)
	}
	tmplYAML, err := yaml.Marshal(&appSet.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := template.Must(template.New("app").Option("missingkey=error").Parse(string(tmplYAML)))

	rings, _ := filepath.Glob(filepath.Join(fleetDir, "rings", "*.yaml"))
	if len(rings) < 3 {
		t.Fatalf("%d rings, want internal, canary and all at least", len(rings))
	}
	names := map[string]bool{}
	var apps int
	for _, ringFile := range rings {
		ring := yamlFile(t, ringFile)
		name, _ := ring["ring"].(string)
		if !strings.HasSuffix(strings.TrimSuffix(filepath.Base(ringFile), ".yaml"), "-"+name) {
			t.Errorf("%s: ring %q does not match the file name", ringFile, name)
		}
		if v, _ := ring["chartVersion"].(string); !semverRE.MatchString(v) {
			t.Errorf("%s: chartVersion %q is not a release version", ringFile, v)
		}
		clients, _ := filepath.Glob(filepath.Join(fleetDir, "clients", name, "*", "client.yaml"))
		if len(clients) == 0 {
			t.Errorf("ring %s has no clients", name)
		}
		for _, clientFile := range clients {
			params := map[string]any{}
			for k, v := range ring {
				params[k] = v
			}
			params[gens[0].Git.PathParamPrefix] = map[string]any{"path": map[string]any{"path": "rings"}}
			for k, v := range yamlFile(t, clientFile) {
				params[k] = v
			}
			dir, _ := filepath.Rel(fleetDir, filepath.Dir(clientFile))
			params["path"] = map[string]any{"path": filepath.ToSlash(dir), "basename": filepath.Base(dir)}
			var out bytes.Buffer
			if err := tmpl.Execute(&out, params); err != nil {
				t.Errorf("%s: %v", clientFile, err)
				continue
			}
			var app struct {
				Metadata struct {
					Name   string            `yaml:"name"`
					Labels map[string]string `yaml:"labels"`
				} `yaml:"metadata"`
				Spec struct {
					Sources []struct {
						Chart          string `yaml:"chart"`
						TargetRevision string `yaml:"targetRevision"`
						Helm           struct {
							ValueFiles []string `yaml:"valueFiles"`
						} `yaml:"helm"`
					} `yaml:"sources"`
					Destination struct {
						Server    string `yaml:"server"`
						Namespace string `yaml:"namespace"`
					} `yaml:"destination"`
				} `yaml:"spec"`
			}
			if err := yaml.Unmarshal(out.Bytes(), &app); err != nil {
				t.Errorf("%s: generated Application: %v\n%s", clientFile, err, out.String())
				continue
			}
			apps++
			if names[app.Metadata.Name] {
				t.Errorf("two clients generate the Application %s", app.Metadata.Name)
			}
			names[app.Metadata.Name] = true
			src := app.Spec.Sources[0]
			if src.Chart != "intake" || src.TargetRevision != ring["chartVersion"] || app.Metadata.Labels["intake.dev/ring"] != name {
				t.Errorf("%s: chart %s %s ring %s, want intake %s ring %s", app.Metadata.Name, src.Chart, src.TargetRevision,
					app.Metadata.Labels["intake.dev/ring"], ring["chartVersion"], name)
			}
			for _, vf := range src.Helm.ValueFiles {
				if _, err := os.Stat(filepath.Join(fleetDir, strings.TrimPrefix(vf, "$fleet/"))); err != nil {
					t.Errorf("%s: value file %s: %v", app.Metadata.Name, vf, err)
				}
			}
			if app.Spec.Destination.Server == "" || app.Spec.Destination.Namespace == "" {
				t.Errorf("%s: destination %+v", app.Metadata.Name, app.Spec.Destination)
			}
		}
	}
	if apps < 3 {
		t.Errorf("%d Applications generated, want one per client (at least 3)", apps)
	}
}

// TestFleetValuesRender renders the chart with the fleet's common values
// and each client's (air-gapped ones too), so that a client's values that
// the chart's schema refuses fail here rather than in Argo CD.
func TestFleetValuesRender(t *testing.T) {
	t.Parallel()
	helm := tool(t, "helm")
	dirs, _ := filepath.Glob(filepath.Join(fleetDir, "clients", "*", "*"))
	airgap, _ := filepath.Glob(filepath.Join(fleetDir, "airgap", "*"))
	dirs = append(dirs, airgap...)
	slices.Sort(dirs)
	if len(dirs) < 4 {
		t.Fatalf("%d clients", len(dirs))
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(helm, "template", "intake", chartDir, "--namespace", "intake",
				"-f", filepath.Join(fleetDir, "values", "common.yaml"), "-f", filepath.Join(dir, "values.yaml"))
			cmd.Env = append(testenv.CleanEnviron("BG_", "SMOKE_"), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helm template: %v\n%s", err, out)
			}
			if !bytes.Contains(out, []byte("kind: Deployment")) {
				t.Errorf("no Deployment rendered:\n%.2000s", out)
			}
		})
	}
}
