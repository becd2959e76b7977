package cicd

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/intake-dev/intake/internal/testenv"
)

// The parts of a GitHub Actions workflow the rules below look at.
type (
	workflow struct {
		Name        string              `yaml:"name"`
		On          map[string]*trigger `yaml:"on"`
		Permissions *map[string]string  `yaml:"permissions"`
		Concurrency *concurrency        `yaml:"concurrency"`
		Env         map[string]string   `yaml:"env"`
		Jobs        map[string]*job     `yaml:"jobs"`
	}
	trigger struct {
		Branches []string         `yaml:"branches"`
		Tags     []string         `yaml:"tags"`
		Inputs   map[string]input `yaml:"inputs"`
	}
	input struct {
		Type    string   `yaml:"type"`
		Options []string `yaml:"options"`
		Default string   `yaml:"default"`
	}
	job struct {
		If             string             `yaml:"if"`
		Needs          stringList         `yaml:"needs"`
		Uses           string             `yaml:"uses"`
		RunsOn         string             `yaml:"runs-on"`
		TimeoutMinutes int                `yaml:"timeout-minutes"`
		Permissions    *map[string]string `yaml:"permissions"`
		Environment    *environment       `yaml:"environment"`
		Concurrency    *concurrency       `yaml:"concurrency"`
		Services       map[string]struct {
			Image string `yaml:"image"`
		} `yaml:"services"`
		Outputs map[string]string `yaml:"outputs"`
		Env     map[string]string `yaml:"env"`
		Steps   []step            `yaml:"steps"`
	}
	step struct {
		Name string            `yaml:"name"`
		ID   string            `yaml:"id"`
		If   string            `yaml:"if"`
		Uses string            `yaml:"uses"`
		Run  string            `yaml:"run"`
		With map[string]any    `yaml:"with"`
		Env  map[string]string `yaml:"env"`
	}
	// environment is `environment: NAME` or `environment: {name, url}`.
	environment struct {
		Name string `yaml:"name"`
		URL  string `yaml:"url"`
	}
	// concurrency is `concurrency: GROUP` or `{group, cancel-in-progress}`;
	// cancel-in-progress may be an expression, so it is kept as text.
	concurrency struct {
		Group            string `yaml:"group"`
		CancelInProgress string `yaml:"cancel-in-progress"`
	}
	// stringList is a string or a list of strings (needs:).
	stringList []string
)

func (e *environment) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		e.Name = n.Value
		return nil
	}
	type plain environment
	return n.Decode((*plain)(e))
}

func (c *concurrency) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		c.Group = n.Value
		return nil
	}
	type plain concurrency
	return n.Decode((*plain)(c))
}

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = stringList{n.Value}
		return nil
	}
	return n.Decode((*[]string)(l))
}

// run is every run: block of the job, joined.
func (j *job) run() string {
	var b strings.Builder
	for _, s := range j.Steps {
		b.WriteString(s.Run)
		b.WriteByte('\n')
	}
	return b.String()
}

const workflowDir = "../../.github/workflows"

// loadWorkflows parses every workflow file; unknown keys are allowed (the
// structs name only what the rules check), but a file that does not parse,
// or a key of the wrong shape, fails the test.
func loadWorkflows(t *testing.T) map[string]*workflow {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(workflowDir, "*.y*ml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows in %s (%v)", workflowDir, err)
	}
	out := map[string]*workflow{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var w workflow
		if err := yaml.Unmarshal(b, &w); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = &w
	}
	return out
}

// TestWorkflowTriggers: CI is the stage deploy.yml calls; deploy.yml runs
// on pull requests, pushes to main, v* tags and a dispatch with an
// environment, a version and an action.
func TestWorkflowTriggers(t *testing.T) {
	t.Parallel()
	wfs := loadWorkflows(t)
	if got := slices.Sorted(maps.Keys(wfs)); !slices.Equal(got, []string{"ci.yml", "deploy.yml"}) {
		t.Fatalf("workflows %v, want ci.yml and deploy.yml", got)
	}
	ci, deploy := wfs["ci.yml"], wfs["deploy.yml"]
	if got := slices.Sorted(maps.Keys(ci.On)); !slices.Equal(got, []string{"workflow_call", "workflow_dispatch"}) {
		t.Errorf("ci.yml triggers %v, want workflow_call (from deploy.yml) and workflow_dispatch", got)
	}
	if got := slices.Sorted(maps.Keys(deploy.On)); !slices.Equal(got, []string{"pull_request", "push", "workflow_dispatch"}) {
		t.Errorf("deploy.yml triggers %v", got)
	}
	if push := deploy.On["push"]; push == nil || !slices.Equal(push.Branches, []string{"main"}) || !slices.Equal(push.Tags, []string{"v*"}) {
		t.Errorf("deploy.yml push trigger %+v, want branches [main] and tags [v*]", push)
	}
	if pr := deploy.On["pull_request"]; pr != nil && (len(pr.Branches) > 0 || len(pr.Tags) > 0) {
		t.Errorf("deploy.yml pull_request trigger is filtered: %+v", pr)
	}
	d := deploy.On["workflow_dispatch"]
	if d == nil {
		t.Fatal("deploy.yml has no workflow_dispatch inputs")
	}
	wantInputs := map[string]input{
		"environment": {Type: "choice", Options: []string{"staging", "production"}, Default: "staging"},
		"version":     {Type: "string", Default: ""},
		"action":      {Type: "choice", Options: []string{"deploy", "rollback"}, Default: "deploy"},
	}
	for name, want := range wantInputs {
		got, ok := d.Inputs[name]
		if !ok || got.Type != want.Type || !slices.Equal(got.Options, want.Options) || got.Default != want.Default {
			t.Errorf("dispatch input %s = %+v, want %+v", name, got, want)
		}
	}
	if len(d.Inputs) != len(wantInputs) {
		t.Errorf("dispatch inputs %v, want %v", slices.Sorted(maps.Keys(d.Inputs)), slices.Sorted(maps.Keys(wantInputs)))
	}
}

// TestWorkflowJobGraph: the jobs and their needs, exactly; CI gates the
// build, staging gates production, and notify hears from every stage.
func TestWorkflowJobGraph(t *testing.T) {
	t.Parallel()
	wfs := loadWorkflows(t)
	want := map[string]map[string][]string{
		"ci.yml": {
			"lint": nil, "test": nil, "images": nil,
			"e2e": {"images"},
		},
		"deploy.yml": {
			"ci":         nil,
			"build":      {"ci"},
			"chart":      {"build"},
			"release":    {"build", "chart"},
			"staging":    {"release"},
			"production": {"release", "staging"},
			"rollback":   nil,
			"notify":     {"build", "chart", "ci", "release", "rollback", "production", "staging"},
		},
	}
	for file, jobs := range want {
		w := wfs[file]
		if got := slices.Sorted(maps.Keys(w.Jobs)); !slices.Equal(got, slices.Sorted(maps.Keys(jobs))) {
			t.Errorf("%s jobs %v, want %v", file, got, slices.Sorted(maps.Keys(jobs)))
			continue
		}
		for name, needs := range jobs {
			got := slices.Sorted(slices.Values(w.Jobs[name].Needs))
			if !slices.Equal(got, slices.Sorted(slices.Values(needs))) {
				t.Errorf("%s: %s needs %v, want %v", file, name, got, needs)
			}
			for _, n := range got {
				if _, ok := w.Jobs[n]; !ok {
					t.Errorf("%s: %s needs the unknown job %s", file, name, n)
				}
			}
		}
	}
	deploy := wfs["deploy.yml"]
	if got := deploy.Jobs["ci"].Uses; got != "./.github/workflows/ci.yml" {
		t.Errorf("deploy.yml ci job uses %q, want ./.github/workflows/ci.yml", got)
	}
	// Pull requests build and test, never deploy: release (which every
	// deploy job needs) excludes them, and each deploy job requires its
	// predecessor's success.
	if !strings.Contains(deploy.Jobs["release"].If, "github.event_name != 'pull_request'") {
		t.Errorf("release runs on pull requests: if %q", deploy.Jobs["release"].If)
	}
	for name, cond := range map[string]string{
		"staging":    "needs.release.result == 'success'",
		"production": "needs.staging.result == 'success'",
		"rollback":   "github.event_name == 'workflow_dispatch' && inputs.action == 'rollback'",
	} {
		if !strings.Contains(deploy.Jobs[name].If, cond) {
			t.Errorf("%s: if %q lacks %q", name, deploy.Jobs[name].If, cond)
		}
	}
	if !strings.Contains(deploy.Jobs["production"].If, "startsWith(github.ref, 'refs/tags/v')") {
		t.Errorf("production does not run on release tags: if %q", deploy.Jobs["production"].If)
	}
	if !strings.Contains(deploy.Jobs["notify"].If, "always()") {
		t.Errorf("notify does not always run: if %q", deploy.Jobs["notify"].If)
	}
}

// TestWorkflowEnvironments: the jobs that touch a cluster, and only those,
// run in a GitHub environment (its protection rules and secrets), one at a
// time per environment, never cancelled half-way.
func TestWorkflowEnvironments(t *testing.T) {
	t.Parallel()
	wfs := loadWorkflows(t)
	want := map[string]string{
		"staging":    "staging",
		"production": "production",
		"rollback":   "${{ inputs.environment }}",
	}
	for file, w := range wfs {
		for name, j := range w.Jobs {
			env := ""
			if j.Environment != nil {
				env = j.Environment.Name
			}
			if file != "deploy.yml" {
				if env != "" {
					t.Errorf("%s: %s runs in environment %s", file, name, env)
				}
				continue
			}
			if env != want[name] {
				t.Errorf("%s: %s environment %q, want %q", file, name, env, want[name])
			}
			if want[name] == "" {
				if strings.Contains(j.run(), "KUBECONFIG") || strings.Contains(j.run(), "helm upgrade") {
					t.Errorf("%s: %s touches a cluster outside an environment", file, name)
				}
				continue
			}
			if j.Concurrency == nil || !strings.HasPrefix(j.Concurrency.Group, "environment-") || j.Concurrency.CancelInProgress != "false" {
				t.Errorf("%s: %s concurrency %+v, want group environment-… without cancel-in-progress", file, name, j.Concurrency)
			}
			if j.Environment.URL == "" {
				t.Errorf("%s: %s environment has no url", file, name)
			}
		}
	}
}

// TestWorkflowPermissions: nothing by default; each job its own least
// privilege, exactly as listed; a called workflow gets no more than its
// caller grants.
func TestWorkflowPermissions(t *testing.T) {
	t.Parallel()
	wfs := loadWorkflows(t)
	read := map[string]string{"contents": "read"}
	want := map[string]map[string]map[string]string{
		"ci.yml": {
			"lint":   read,
			"test":   read,
			"images": {"contents": "read", "security-events": "write"},
			"e2e":    read,
		},
		"deploy.yml": {
			"ci":         {"contents": "read", "security-events": "write"},
			"build":      {"contents": "read", "packages": "write", "id-token": "write"},
			"chart":      {"contents": "read", "packages": "write", "id-token": "write"},
			"release":    {"contents": "read", "packages": "read"},
			"staging":    {"contents": "read", "packages": "read"},
			"production": {"contents": "read", "packages": "read"},
			"rollback":   {"contents": "read", "packages": "read"},
			"notify":     {},
		},
	}
	for file, w := range wfs {
		if w.Permissions == nil || len(*w.Permissions) != 0 {
			t.Errorf("%s: top-level permissions %v, want {}", file, w.Permissions)
		}
		for name, j := range w.Jobs {
			if j.Permissions == nil {
				t.Errorf("%s: %s declares no permissions", file, name)
				continue
			}
			if !maps.Equal(*j.Permissions, want[file][name]) {
				t.Errorf("%s: %s permissions %v, want %v", file, name, *j.Permissions, want[file][name])
			}
		}
	}
	caller := *wfs["deploy.yml"].Jobs["ci"].Permissions
	for name, j := range wfs["ci.yml"].Jobs {
		for scope, level := range *j.Permissions {
			if got := caller[scope]; got != level && got != "write" {
				t.Errorf("ci.yml: %s needs %s: %s, which deploy.yml's ci job does not grant", name, scope, level)
			}
		}
	}
}

// TestWorkflowTimeoutsAndConcurrency: every job that runs on a runner has
// a timeout; each workflow has a concurrency group; pull request runs are
// cancelled when superseded, deploys never.
func TestWorkflowTimeoutsAndConcurrency(t *testing.T) {
	t.Parallel()
	for file, w := range loadWorkflows(t) {
		for name, j := range w.Jobs {
			if j.Uses != "" { // a called workflow's jobs have their own
				continue
			}
			if j.TimeoutMinutes < 1 || j.TimeoutMinutes > 60 {
				t.Errorf("%s: %s timeout-minutes %d, want 1–60", file, name, j.TimeoutMinutes)
			}
			if !strings.HasPrefix(j.RunsOn, "ubuntu-") || strings.HasSuffix(j.RunsOn, "latest") {
				t.Errorf("%s: %s runs-on %q, want a pinned ubuntu-NN.NN", file, name, j.RunsOn)
			}
		}
		if w.Concurrency == nil || w.Concurrency.Group == "" {
			t.Errorf("%s: no concurrency group", file)
		}
	}
	wfs := loadWorkflows(t)
	if c := wfs["ci.yml"].Concurrency; c.CancelInProgress != "true" || !strings.HasPrefix(c.Group, "ci-") {
		t.Errorf("ci.yml concurrency %+v", c)
	}
	if c := wfs["deploy.yml"].Concurrency; c.CancelInProgress != "${{ github.event_name == 'pull_request' }}" || !strings.HasPrefix(c.Group, "deploy-") {
		t.Errorf("deploy.yml concurrency %+v: only pull request runs may be cancelled", c)
	}
}

var (
	pinned     = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_./-]+)?@[0-9a-f]{40}$`)
	usesLine   = regexp.MustCompile(`^\s*(?:-\s+)?uses:\s*(\S+)(.*)$`)
	versionTag = regexp.MustCompile(`^\s+# v\d+\.\d+\.\d+$`)
)

// TestWorkflowActionsPinned: every action is pinned by a full commit SHA
// with its version in a comment, and one SHA always carries one version.
func TestWorkflowActionsPinned(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join(workflowDir, "*.yml"))
	versions := map[string]string{} // action@sha → version comment
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			m := usesLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			ref, comment := m[1], m[2]
			if strings.HasPrefix(ref, "./") {
				continue // this repository's own workflow
			}
			n++
			where := fmt.Sprintf("%s:%d", filepath.Base(f), i+1)
			if !pinned.MatchString(ref) {
				t.Errorf("%s: %s is not pinned by a full commit SHA", where, ref)
				continue
			}
			if !versionTag.MatchString(comment) {
				t.Errorf("%s: %s has no version comment (# vX.Y.Z), got %q", where, ref, comment)
				continue
			}
			if v, ok := versions[ref]; ok && v != strings.TrimSpace(comment) {
				t.Errorf("%s: %s is %s here and %s elsewhere", where, ref, strings.TrimSpace(comment), v)
			}
			versions[ref] = strings.TrimSpace(comment)
		}
	}
	// The structural view agrees with the line scan: no step escapes it.
	steps := 0
	for _, w := range loadWorkflows(t) {
		for _, j := range w.Jobs {
			for _, s := range j.Steps {
				if s.Uses != "" {
					steps++
				}
			}
		}
	}
	if steps != n || n == 0 {
		t.Errorf("%d step uses: parsed, %d found by line", steps, n)
	}
}

// TestWorkflowDeploysByDigest: images are built once and every deploy
// takes the digests the release job resolved and verified, never a tag.
func TestWorkflowDeploysByDigest(t *testing.T) {
	t.Parallel()
	deploy := loadWorkflows(t)["deploy.yml"]
	build := deploy.Jobs["build"]
	for _, target := range []string{"api", "worker"} {
		if got := build.Outputs[target+"-digest"]; got != "${{ steps."+target+".outputs.digest }}" {
			t.Errorf("build output %s-digest = %q, want the build step's digest", target, got)
		}
		var found bool
		for _, s := range build.Steps {
			if s.ID == target {
				found = strings.HasPrefix(s.Uses, "docker/build-push-action@") && s.With["target"] == target
			}
		}
		if !found {
			t.Errorf("build has no docker/build-push-action step %q with target %s", target, target)
		}
		if got := deploy.Jobs["release"].Outputs[target+"-digest"]; got != "${{ steps.resolve.outputs."+target+"-digest }}" {
			t.Errorf("release output %s-digest = %q", target, got)
		}
	}
	for _, want := range []string{"cosign sign --yes \"$API\"", "cosign sign --yes \"$WORKER\"", "cosign attest --yes --type spdxjson"} {
		if !strings.Contains(build.run(), want) {
			t.Errorf("build does not run %s", want)
		}
	}
	if !strings.Contains(deploy.Jobs["release"].run(), "cosign verify-attestation") || !strings.Contains(deploy.Jobs["release"].run(), "cosign verify ") {
		t.Error("release does not verify signatures and attestations before a deploy")
	}
	if !strings.Contains(deploy.Jobs["chart"].run(), "helm push") || !strings.Contains(deploy.Jobs["chart"].run(), `--version "$VERSION" --app-version "$VERSION"`) {
		t.Error("chart is not pushed with the images' version")
	}
	for _, name := range []string{"staging", "production"} {
		j := deploy.Jobs[name]
		for _, target := range []string{"api", "worker"} {
			key := strings.ToUpper(target) + "_DIGEST"
			if got := j.Env[key]; got != "${{ needs.release.outputs."+target+"-digest }}" {
				t.Errorf("%s: %s = %q, want the release job's digest output", name, key, got)
			}
			if !strings.Contains(j.run(), "--set image."+target+".digest=\"$"+key+"\"") {
				t.Errorf("%s does not set image.%s.digest from %s", name, target, key)
			}
		}
		if strings.Contains(j.run(), ".tag=") || strings.Contains(j.run(), ":latest") {
			t.Errorf("%s deploys by tag", name)
		}
	}
	staging := deploy.Jobs["staging"].run()
	for _, want := range []string{"helm upgrade --install", "--atomic", "--wait", "scripts/smoke-test.sh"} {
		if !strings.Contains(staging, want) {
			t.Errorf("staging does not run %s", want)
		}
	}
	if !strings.Contains(deploy.Jobs["production"].run(), "scripts/blue-green.sh deploy") {
		t.Error("production does not deploy through scripts/blue-green.sh")
	}
	if !strings.Contains(deploy.Jobs["rollback"].run(), "scripts/blue-green.sh rollback") {
		t.Error("the rollback dispatch does not run scripts/blue-green.sh rollback")
	}
}

// TestWorkflowCI: the test job runs the race detector with a coverage
// profile against the real servers and enforces a floor; the images are
// scanned and the chart goes through kind.
func TestWorkflowCI(t *testing.T) {
	t.Parallel()
	ci := loadWorkflows(t)["ci.yml"]
	test := ci.Jobs["test"]
	for svc, image := range map[string]string{"postgres": "postgres:", "redis": "redis:", "mongo": "mongo:7."} {
		if !strings.Contains(test.Services[svc].Image, image) {
			t.Errorf("test service %s image %q, want %s…", svc, test.Services[svc].Image, image)
		}
	}
	if test.Env["INTAKE_TEST_STRICT"] != "1" {
		t.Error("test job does not set INTAKE_TEST_STRICT=1")
	}
	for _, want := range []string{"go test -race", "-coverprofile=coverage.out", "$COVERAGE_FLOOR", "$GITHUB_STEP_SUMMARY"} {
		if !strings.Contains(test.run(), want) {
			t.Errorf("test job does not run %s", want)
		}
	}
	if floor := ci.Env["COVERAGE_FLOOR"]; !regexp.MustCompile(`^[1-9][0-9]$`).MatchString(floor) {
		t.Errorf("COVERAGE_FLOOR %q is not a percentage", floor)
	}
	lint := ci.Jobs["lint"].run()
	for _, want := range []string{"gofmt", "go vet", "shellcheck", "actionlint", "yamllint", "helm lint", "promtool check rules", "promtool test rules"} {
		if !strings.Contains(lint, want) {
			t.Errorf("lint job does not run %s", want)
		}
	}
	var trivyGate, sarif, sbom bool
	for _, s := range ci.Jobs["images"].Steps {
		switch {
		case strings.HasPrefix(s.Uses, "aquasecurity/trivy-action@") && s.With["exit-code"] == "1":
			trivyGate = s.With["ignore-unfixed"] == true && s.With["severity"] == "HIGH,CRITICAL"
		case strings.HasPrefix(s.Uses, "github/codeql-action/upload-sarif@"):
			sarif = true
		case strings.HasPrefix(s.Uses, "anchore/sbom-action@"):
			sbom = true
		}
	}
	if !trivyGate || !sarif || !sbom {
		t.Errorf("images: Trivy gate on fixable HIGH/CRITICAL %v, SARIF upload %v, SBOM %v", trivyGate, sarif, sbom)
	}
	e2e := ci.Jobs["e2e"].run()
	for _, want := range []string{"kedacore/keda", "scripts/blue-green.sh deploy", "scripts/blue-green.sh rollback", "--public-url http://127.0.0.1:9"} {
		if !strings.Contains(e2e, want) {
			t.Errorf("e2e job does not run %s", want)
		}
	}
}

// scriptRef finds the repository files run: blocks name.
var scriptRef = regexp.MustCompile(`(?:scripts|deploy/ci)/[A-Za-z0-9_.-]+\.(?:sh|yaml)`)

// TestWorkflowFilesExist: every script and file a run: block names is in
// the repository, and scripts are executable.
func TestWorkflowFilesExist(t *testing.T) {
	t.Parallel()
	for file, w := range loadWorkflows(t) {
		for name, j := range w.Jobs {
			for _, ref := range scriptRef.FindAllString(j.run(), -1) {
				fi, err := os.Stat(filepath.Join(repoRoot, ref))
				switch {
				case err != nil:
					t.Errorf("%s: %s: %v", file, name, err)
				case strings.HasSuffix(ref, ".sh") && fi.Mode()&0o111 == 0:
					t.Errorf("%s: %s: %s is not executable", file, name, ref)
				}
			}
		}
	}
}

// TestActionlint runs actionlint (which runs shellcheck on every run:
// block) over the workflows.
func TestActionlint(t *testing.T) {
	t.Parallel()
	bin := os.Getenv("ACTIONLINT")
	if bin == "" {
		tools := os.Getenv("TOOLS")
		if tools == "" {
			home, _ := os.UserHomeDir()
			tools = filepath.Join(home, ".cache", "intake-tools")
		}
		bin = filepath.Join(tools, "actionlint")
	}
	if _, err := os.Stat(bin); err != nil {
		if p, err := exec.LookPath("actionlint"); err == nil {
			bin = p
		} else {
			testenv.Missing(t, "actionlint", "scripts/install-tools.sh actionlint")
		}
	}
	testenv.LookPath(t, "shellcheck", "apt-get install shellcheck")
	cmd := exec.Command(bin, "-no-color")
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) || len(out) > 0 {
		t.Fatalf("actionlint: %v\n%s", err, out)
	} else if err != nil {
		t.Fatal(err)
	}
}
