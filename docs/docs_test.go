// Package docs holds the test that keeps intake's documentation true of the
// code. It has no Go code of its own.
//
// TestDocs reads README.md, docs/*.md and every README.md under deploy/ and
// checks that:
//
//   - every relative link (and link into this repository on GitHub) points
//     at a file that exists, and every #anchor at a heading that exists,
//     with GitHub's slug rules; so does every runbook_url of the alerts;
//   - every repository path in code (`deploy/…`, `scripts/…`, …) exists;
//   - every metric (intake_…) is one docs/METRICS.md lists, which
//     TestMetricsDoc in cmd/intake checks against a running process, and
//     every recording rule (intake:…) one deploy/prometheus/rules defines;
//   - every environment variable (INTAKE_… and seed 004's starter names)
//     is one docs/CONFIG.md lists (generated from the config struct and
//     checked by TestConfigDoc), a secret's _FILE form, an operator-named
//     family, or a name some script, manifest or Go file uses;
//   - every HTTP route of intake (/api/v1/…, /health, /ready, /metrics,
//     /create-job, /docs, /openapi.*) is served: a path of
//     docs/openapi.yaml (checked by TestOpenAPIDoc) or a pattern the Go
//     code registers on a mux;
//   - every alert name (Intake…) is an alert of deploy/prometheus/rules;
//   - every `make` target named in code is a target of the Makefile;
//   - every file the two requirement documents name exists, or is mapped
//     in the README's seed table, and no row there is still "planned".
//
// Names found nowhere are reported with the document and line, so a
// renamed metric, route or package shows up here before a reader finds it.
package docs

import (
	"bufio"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// root is the repository root, relative to this package's directory.
const root = ".."

// seedFiles are the files the two requirement documents name as
// deliverables (seed 000's submission tree, seed 004's starter). Each
// must exist or appear in the first column of the README's seed table.
var seedFiles = []string{
	".github/workflows/deploy.yml",
	"app/main.py",
	"app/requirements.txt",
	"scripts/setup-environment.sh",
	"docs/ARCHITECTURE.md",
	"docs/DOCKER_SECURITY.md",
	"docs/DEPLOYMENT_STRATEGY.md",
	"docs/TROUBLESHOOTING.md",
	"Dockerfile",
	"docker-compose.yml",
	"README.md",
	"env.example",
	"api/app.py",
	"worker/downloader.py",
}

// foreignRoutes are paths the documents name that intake does not serve,
// each with the reason.
var foreignRoutes = map[string]string{
	"/api/v1/alertmanagers": "Prometheus's HTTP API (RUNBOOKS: does Prometheus see Alertmanager)",
	"/metrics/":             "a spelling nginx refuses at the edge (deploy/nginx/README.md)",
}

// generatedPaths are path prefixes that exist only once a command has
// written them, with the command.
var generatedPaths = map[string]string{
	"deploy/compose/secrets/": "deploy/compose/secrets.sh writes the secret files",
}

func TestDocs(t *testing.T) {
	t.Parallel()
	ix := loadIndex(t)
	docs := docFiles(t)
	if len(docs) < 10 {
		t.Fatalf("found only %d documents: %v", len(docs), docs)
	}
	for _, rel := range docs {
		d := ix.doc(t, rel)
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			for _, p := range ix.check(d) {
				t.Errorf("%s:%d: %s", rel, p.line, p.msg)
			}
		})
	}
	t.Run("runbook_url", func(t *testing.T) {
		t.Parallel()
		for _, p := range ix.checkRunbooks(t) {
			t.Error(p.msg)
		}
	})
	t.Run("seed files", func(t *testing.T) {
		t.Parallel()
		for _, msg := range ix.checkSeedFiles(t) {
			t.Error(msg)
		}
	})
}

// TestChecksFail runs the checks on a document with one mistake of each
// kind, so that a check which silently passes everything fails here.
func TestChecksFail(t *testing.T) {
	t.Parallel()
	ix := loadIndex(t)
	good := "# Good\n\n## A `code` heading (with: punctuation)\n\n" +
		"[ok](#a-code-heading-with-punctuation) [cfg](CONFIG.md#named-secrets-and-connections) [up](../README.md)\n\n" +
		"`intake_http_requests_total` `intake_http_request_duration_seconds_bucket` `intake:jobs:max`\n" +
		"`INTAKE_DATABASE_URL` `INTAKE_DATABASE_URL_FILE` `MONGO_URI` `INTAKE_SECRET_ACME_HOSTS` `INTAKE_SECRET_<NAME>`\n" +
		"`GET /api/v1/jobs/status/{id}` `/ready` `:9100/metrics` `/api/v1/jobs?status=failed`\n" +
		"IntakeTargetDown, `make test-short`, `scripts/setup-environment.sh`, `deploy/helm/intake`\n"
	d := ix.parse("docs/GOOD.md", good)
	if probs := ix.check(d); len(probs) > 0 {
		t.Fatalf("a correct document has findings: %v", probs)
	}
	cases := []struct{ name, line, want string }{
		{"missing file", "[x](NOPE.md)", "NOPE.md"},
		{"missing anchor", "[x](#nope)", "#nope"},
		{"anchor in other doc", "[x](CONFIG.md#nope)", "#nope"},
		{"repo link", "[x](https://github.com/intake-dev/intake/blob/main/docs/NOPE.md)", "NOPE.md"},
		{"metric", "`intake_jobs_pending_total`", "intake_jobs_pending_total"},
		{"recording rule", "`intake:jobs:min`", "intake:jobs:min"},
		{"env", "`INTAKE_NO_SUCH_SETTING`", "INTAKE_NO_SUCH_SETTING"},
		{"file form of a non-secret", "`INTAKE_LOG_LEVEL_FILE`", "INTAKE_LOG_LEVEL_FILE"},
		{"route", "`GET /healthz`", "/healthz"},
		{"api route", "`POST /api/v1/jobs/{id}/retry`", "/api/v1/jobs/{id}/retry"},
		{"alert", "IntakeEverythingOnFire", "IntakeEverythingOnFire"},
		{"make target", "`make deploy-everything`", "deploy-everything"},
		{"path", "`scripts/no-such-script.sh`", "scripts/no-such-script.sh"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := ix.parse("docs/BAD.md", good+"\n"+c.line+"\n")
			probs := ix.check(d)
			if len(probs) != 1 || !strings.Contains(probs[0].msg, c.want) {
				t.Errorf("%q: want one finding naming %q, got %v", c.line, c.want, probs)
			}
		})
	}
}

func TestSlug(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"Set up", "set-up"},
		{"Test servers (`scripts/test-services.sh`)", "test-servers-scriptstest-servicessh"},
		{"One command: `scripts/setup-environment.sh`", "one-command-scriptssetup-environmentsh"},
		{"Install on kind (needs Docker; it cannot run here)", "install-on-kind-needs-docker-it-cannot-run-here"},
		{"Rollback, step by step", "rollback-step-by-step"},
		{"Kubernetes (Helm chart, KEDA)", "kubernetes-helm-chart-keda"},
		{"Scenario 1 — Deployment failure: “manifest not found”", "scenario-1--deployment-failure-manifest-not-found"},
		{"`INTAKE_SECRET_<NAME>` and [links](x.md)", "intake_secret_name-and-links"},
		{"IntakeJobFailureRatioHigh", "intakejobfailureratiohigh"},
	} {
		if got := slug(c.in); got != c.want {
			t.Errorf("slug(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// problem is one finding: a line of a document and what is wrong there.
type problem struct {
	line int
	msg  string
}

func (p problem) String() string { return fmt.Sprintf("%d: %s", p.line, p.msg) }

// doc is a parsed Markdown document.
type doc struct {
	rel     string   // slash path from the repository root
	lines   []string // the text
	fenced  []bool   // line i is inside a fenced code block (fences included)
	anchors map[string]bool
}

// index holds what the documents are checked against.
type index struct {
	docs map[string]*doc // parsed documents by path, filled on demand

	metrics    map[string]bool // docs/METRICS.md's table
	records    map[string]bool // recording rules
	alerts     map[string]bool // alerting rules
	envs       map[string]bool // docs/CONFIG.md's variables and aliases
	secretEnvs map[string]bool // those with a _FILE form
	routes     [][]string      // served route patterns, split into segments
	targets    map[string]bool // Makefile targets
	words      map[string]bool // identifiers found in non-Markdown files
}

func loadIndex(t *testing.T) *index {
	t.Helper()
	ix := &index{
		docs:       map[string]*doc{},
		metrics:    map[string]bool{},
		records:    map[string]bool{},
		alerts:     map[string]bool{},
		envs:       map[string]bool{},
		secretEnvs: map[string]bool{},
		targets:    map[string]bool{},
		words:      map[string]bool{},
	}

	// Metrics: the rows of docs/METRICS.md's tables, the same rows
	// TestMetricsDoc compares with what a running process exports.
	row := regexp.MustCompile("(?m)^\\| `(intake_\\w+)` \\|")
	for _, m := range row.FindAllStringSubmatch(read(t, "docs/METRICS.md"), -1) {
		ix.metrics[m[1]] = true
	}
	if len(ix.metrics) < 25 {
		t.Fatalf("docs/METRICS.md: only %d metrics parsed", len(ix.metrics))
	}

	// Recording and alerting rules.
	rules, err := filepath.Glob(filepath.Join(root, "deploy/prometheus/rules/*.yml"))
	if err != nil || len(rules) == 0 {
		t.Fatalf("no rule files under deploy/prometheus/rules: %v", err)
	}
	record := regexp.MustCompile(`(?m)^\s*- record:\s*(\S+)`)
	alert := regexp.MustCompile(`(?m)^\s*- alert:\s*(\S+)`)
	for _, f := range rules {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range record.FindAllStringSubmatch(string(b), -1) {
			ix.records[m[1]] = true
		}
		for _, m := range alert.FindAllStringSubmatch(string(b), -1) {
			ix.alerts[m[1]] = true
		}
	}
	if len(ix.alerts) < 5 || len(ix.records) < 5 {
		t.Fatalf("parsed %d alerts and %d recording rules", len(ix.alerts), len(ix.records))
	}

	// Environment: docs/CONFIG.md, generated from the config struct.
	// | `NAME` | default | alias | secret | description |
	cfgRow := regexp.MustCompile("(?m)^\\| `(INTAKE_[A-Z0-9_]+)` \\| [^|]* \\| ([^|]*) \\| ([^|]*) \\|")
	for _, m := range cfgRow.FindAllStringSubmatch(read(t, "docs/CONFIG.md"), -1) {
		ix.envs[m[1]] = true
		secret := strings.TrimSpace(m[3]) == "secret"
		if secret {
			ix.secretEnvs[m[1]] = true
		}
		if a := strings.Trim(strings.TrimSpace(m[2]), "`"); a != "" && a != "—" {
			ix.envs[a] = true
			if secret {
				ix.secretEnvs[a] = true
			}
		}
	}
	if len(ix.envs) < 25 || !ix.envs["MONGO_URI"] || !ix.secretEnvs["INTAKE_DATABASE_URL"] {
		t.Fatalf("docs/CONFIG.md: parsed %d variables, aliases or secrets missing", len(ix.envs))
	}

	// Routes: the OpenAPI document's paths and the patterns Go code
	// registers on a mux ("GET /metrics"); huma serves the document itself.
	var patterns []string
	oaPath := regexp.MustCompile(`(?m)^  (/\S*):\s*$`)
	for _, m := range oaPath.FindAllStringSubmatch(read(t, "docs/openapi.yaml"), -1) {
		patterns = append(patterns, m[1])
	}
	patterns = append(patterns, "/openapi.json", "/openapi.yaml")
	muxPattern := regexp.MustCompile(`"(?:GET|HEAD|POST|PUT|PATCH|DELETE) (/[^"\s]*)"`)

	// Identifiers in every non-Markdown file (scripts, manifests, Go), and
	// the mux patterns of the Go code that is not a test.
	word := regexp.MustCompile(`\b(?:INTAKE_[A-Z0-9_]+|intake_[a-z0-9_]+|intake:[a-z0-9_:]+)`)
	self, err := filepath.Abs("docs_test.go")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			switch e.Name() {
			case ".git", "bin", "data", "logs", "node_modules", ".setup", "out":
				return filepath.SkipDir
			}
			return nil
		}
		if abs, _ := filepath.Abs(p); abs == self || !textFile(e.Name()) {
			return nil
		}
		info, err := e.Info()
		if err != nil || info.Size() > 4<<20 {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, w := range word.FindAllString(string(b), -1) {
			ix.words[w] = true
		}
		if strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			for _, m := range muxPattern.FindAllStringSubmatch(string(b), -1) {
				if !strings.HasSuffix(m[1], "{$}") { // "/{$}" is the web UI's page
					patterns = append(patterns, m[1])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range patterns {
		ix.routes = append(ix.routes, strings.Split(p, "/"))
	}
	if len(ix.routes) < 10 {
		t.Fatalf("found only %d routes", len(ix.routes))
	}

	// Compose names networks and volumes PROJECT_NAME: intake_backend, …
	topKey, subKey := regexp.MustCompile(`^([a-z]+):`), regexp.MustCompile(`^  ([a-z][a-z0-9-]*):`)
	section := ""
	for _, line := range strings.Split(read(t, "docker-compose.yml"), "\n") {
		if m := topKey.FindStringSubmatch(line); m != nil {
			section = m[1]
		} else if m := subKey.FindStringSubmatch(line); m != nil && (section == "networks" || section == "volumes") {
			ix.words["intake_"+m[1]] = true
		}
	}
	if !ix.words["intake_backend"] {
		t.Fatal("docker-compose.yml: no backend network parsed")
	}

	target := regexp.MustCompile(`(?m)^([a-z][a-z0-9-]*):`)
	for _, m := range target.FindAllStringSubmatch(read(t, "Makefile"), -1) {
		ix.targets[m[1]] = true
	}
	if !ix.targets["test"] {
		t.Fatal("Makefile: no test target parsed")
	}
	return ix
}

// textFile reports whether a file is text that may name identifiers, and
// not Markdown (the documents are what is checked, not evidence).
func textFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".md", ".png", ".jpg", ".svg", ".gz", ".tgz", ".tar", ".sum", ".csv", ".mp4", ".ico", ".woff", ".woff2":
		return false
	}
	return true
}

// docFiles lists the documents checked: README.md, docs/*.md and every
// README.md under deploy/.
func docFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	md, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range md {
		files = append(files, "docs/"+filepath.Base(f))
	}
	err = filepath.WalkDir(filepath.Join(root, "deploy"), func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() && e.Name() == "README.md" {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// doc returns the parsed document rel, parsing it on first use. It is
// called before the parallel subtests start, and by them only for
// documents already parsed (see check's links to other documents).
func (ix *index) doc(t *testing.T, rel string) *doc {
	t.Helper()
	if d, ok := ix.docs[rel]; ok {
		return d
	}
	d := ix.parse(rel, read(t, rel))
	ix.docs[rel] = d
	return d
}

var (
	fence      = regexp.MustCompile("^\\s*(```|~~~)")
	heading    = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	htmlAnchor = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	codeSpan   = regexp.MustCompile("`([^`]+)`")
)

// parse splits a document into lines, marks its fenced code and collects
// its anchors. It does not store the result in ix.docs.
func (ix *index) parse(rel, text string) *doc {
	d := &doc{rel: rel, lines: strings.Split(text, "\n"), anchors: map[string]bool{}}
	d.fenced = make([]bool, len(d.lines))
	in, marker := false, ""
	seen := map[string]int{}
	for i, line := range d.lines {
		if m := fence.FindStringSubmatch(line); m != nil {
			switch {
			case !in:
				in, marker = true, m[1]
			case m[1] == marker:
				in = false
			}
			d.fenced[i] = true
			continue
		}
		d.fenced[i] = in
		if in {
			continue
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			d.anchors[m[1]] = true
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			s := slug(m[2])
			if n := seen[s]; n > 0 {
				d.anchors[fmt.Sprintf("%s-%d", s, n)] = true
			} else {
				d.anchors[s] = true
			}
			seen[s]++
		}
	}
	return d
}

var (
	mdLink  = regexp.MustCompile(`\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+"[^"]*")?\)`)
	htmlTag = regexp.MustCompile(`<[^>]*>`)
)

// slug is GitHub's anchor for a heading: the rendered text in lower case,
// without punctuation (letters, digits, '-' and '_' stay), spaces as '-'.
func slug(h string) string {
	var text strings.Builder
	// Code spans render their content verbatim; elsewhere HTML tags vanish
	// and links leave their text.
	rest := h
	for {
		loc := codeSpan.FindStringSubmatchIndex(rest)
		if loc == nil {
			break
		}
		text.WriteString(renderInline(rest[:loc[0]]))
		text.WriteString(rest[loc[2]:loc[3]])
		rest = rest[loc[1]:]
	}
	text.WriteString(renderInline(rest))
	var b strings.Builder
	for _, r := range strings.ToLower(text.String()) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func renderInline(s string) string {
	s = mdLink.ReplaceAllStringFunc(s, func(l string) string {
		return l[1:strings.Index(l, "](")]
	})
	return htmlTag.ReplaceAllString(s, "")
}

// check returns the findings of one document.
func (ix *index) check(d *doc) []problem {
	var probs []problem
	add := func(line int, format string, args ...any) {
		probs = append(probs, problem{line + 1, fmt.Sprintf(format, args...)})
	}
	for i, line := range d.lines {
		var code []string // the code on this line: a fenced line or its spans
		var prose string  // the line without its code
		if d.fenced[i] {
			code = []string{line}
		} else {
			for _, m := range codeSpan.FindAllStringSubmatch(line, -1) {
				code = append(code, m[1])
			}
			prose = codeSpan.ReplaceAllString(line, " ")
		}
		for _, m := range mdLink.FindAllStringSubmatch(prose, -1) {
			if a, ok := strings.CutPrefix(m[1], "#"); ok {
				if !d.anchors[a] {
					add(i, "link #%s: no such heading in this document", a)
				}
			} else if msg := ix.checkLink(d.rel, m[1]); msg != "" {
				add(i, "%s", msg)
			}
		}
		for _, msg := range ix.checkNames(line) {
			add(i, "%s", msg)
		}
		for _, c := range code {
			for _, msg := range ix.checkCode(c) {
				add(i, "%s", msg)
			}
		}
	}
	return probs
}

const repoURL = "https://github.com/intake-dev/intake/"

// checkLink checks one link target of the document from; it returns why
// the target does not resolve, or "".
func (ix *index) checkLink(from, target string) string {
	switch {
	case strings.HasPrefix(target, repoURL+"blob/main/"), strings.HasPrefix(target, repoURL+"tree/main/"):
		p := target[len(repoURL+"blob/main/"):]
		return ix.checkTarget("", p, target)
	case strings.Contains(target, "://"), strings.HasPrefix(target, "mailto:"):
		return ""
	}
	return ix.checkTarget(path.Dir(from), target, target)
}

// checkTarget resolves target (a path with an optional #anchor) against
// the directory dir of the repository, or the same document when the path
// is empty and dir is a document's directory.
func (ix *index) checkTarget(dir, target, shown string) string {
	p, anchor, _ := strings.Cut(target, "#")
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	if p == "" {
		return fmt.Sprintf("link %s: no path", shown)
	}
	rel := path.Clean(path.Join(dir, p))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Sprintf("link %s leaves the repository", shown)
	}
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel))); err != nil {
		return fmt.Sprintf("link %s: %s does not exist", shown, rel)
	}
	if anchor == "" || !strings.HasSuffix(rel, ".md") || lineAnchor.MatchString(anchor) {
		return ""
	}
	d, ok := ix.docs[rel]
	if !ok {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return fmt.Sprintf("link %s: %v", shown, err)
		}
		d = ix.parse(rel, string(b))
	}
	if !d.anchors[anchor] {
		return fmt.Sprintf("link %s: %s has no heading #%s", shown, rel, anchor)
	}
	return ""
}

var (
	envName    = regexp.MustCompile(`\b(INTAKE_[A-Z0-9_]*|MONGO_URI|AZURE_BLOB_CONN|AZURE_CONTAINER)(\{[A-Z0-9_,]*\}|[<*]?)`)
	envFamily  = regexp.MustCompile(`^INTAKE_(SECRET_[A-Z0-9_]+|SOURCE_DB_[A-Z0-9_]+_URL(_FILE)?)$`)
	metricName = regexp.MustCompile(`\bintake_[a-z0-9_]*[a-z0-9](_?\*)?`)
	recordName = regexp.MustCompile(`\bintake:[a-z0-9_:]*[a-z0-9_]`)
	alertName  = regexp.MustCompile(`\bIntake[A-Z][A-Za-z0-9]*\b`)
	// A route of intake: after a space, quote, bracket or port, never
	// inside a file path.
	routeName = regexp.MustCompile(`(?:^|[^A-Za-z_.\-/])(/(?:api/v1/|healthz?\b|readyz?\b|metrics\b|create-job\b|openapi\.|docs\b)[^\s` + "`" + `"'()\[\],;|*]*)`)
	histogram = regexp.MustCompile(`_(bucket|sum|count)$`)
)

// checkNames checks the metrics, recording rules, environment variables,
// routes and alerts a line names, in prose and code alike.
func (ix *index) checkNames(line string) []string {
	var msgs []string
	for _, m := range metricName.FindAllString(line, -1) {
		if prefix, ok := strings.CutSuffix(strings.TrimSuffix(m, "*"), "_"); ok || strings.HasSuffix(m, "*") {
			if !slices.ContainsFunc(slices.Collect(maps.Keys(ix.metrics)), func(n string) bool { return strings.HasPrefix(n, prefix+"_") }) {
				msgs = append(msgs, fmt.Sprintf("no metric in docs/METRICS.md starts with %s", prefix))
			}
			continue
		}
		base := histogram.ReplaceAllString(m, "")
		if !ix.metrics[m] && !ix.metrics[base] && !ix.words[m] {
			msgs = append(msgs, fmt.Sprintf("metric %s is not in docs/METRICS.md (nor named by any file of the code)", m))
		}
	}
	for _, m := range recordName.FindAllString(line, -1) {
		if !ix.records[m] && !ix.words[m] {
			msgs = append(msgs, fmt.Sprintf("recording rule %s is not defined in deploy/prometheus/rules", m))
		}
	}
	for _, m := range envName.FindAllStringSubmatch(line, -1) {
		msgs = append(msgs, ix.checkEnv(m[1], m[2])...)
	}
	for _, m := range routeName.FindAllStringSubmatch(line, -1) {
		if msg := ix.checkRoute(m[1]); msg != "" {
			msgs = append(msgs, msg)
		}
	}
	for _, m := range alertName.FindAllString(line, -1) {
		if !ix.alerts[m] {
			msgs = append(msgs, fmt.Sprintf("alert %s is not defined in deploy/prometheus/rules", m))
		}
	}
	return msgs
}

// checkEnv checks one environment variable, or a family of them: name is
// followed by suffix, a placeholder ("<", "*") or a brace list.
func (ix *index) checkEnv(name, suffix string) []string {
	switch {
	case strings.HasPrefix(suffix, "{"):
		var msgs []string
		for _, part := range strings.Split(strings.Trim(suffix, "{}"), ",") {
			msgs = append(msgs, ix.checkEnv(name+part, "")...)
		}
		return msgs
	case suffix != "" || strings.HasSuffix(name, "_"):
		// A prefix: some variable must start with it.
		for w := range ix.words {
			if strings.HasPrefix(w, name) && w != name {
				return nil
			}
		}
		return []string{fmt.Sprintf("no variable starts with %s", name)}
	}
	if ix.envs[name] || envFamily.MatchString(name) {
		return nil
	}
	if base, ok := strings.CutSuffix(name, "_FILE"); ok {
		if ix.secretEnvs[base] || ix.words[name] {
			return nil
		}
		return []string{fmt.Sprintf("environment variable %s: %s has no _FILE form (not a secret in docs/CONFIG.md)", name, base)}
	}
	if ix.words[name] {
		return nil
	}
	return []string{fmt.Sprintf("environment variable %s is not in docs/CONFIG.md nor used by any script, manifest or Go file", name)}
}

// checkRoute checks that intake serves the route r.
func (ix *index) checkRoute(r string) string {
	r = strings.TrimRight(r, ".:")
	r, _, _ = strings.Cut(r, "?")
	r, _, _ = strings.Cut(r, "#")
	if _, ok := foreignRoutes[r]; ok {
		return ""
	}
	segs := strings.Split(r, "/")
	for _, p := range ix.routes {
		if routeMatches(p, segs) {
			return ""
		}
	}
	return fmt.Sprintf("route %s is not served by intake (not in docs/openapi.yaml nor registered on a mux)", r)
}

// routeMatches reports whether the route segments doc name the pattern p: a
// parameter in p ({job_id}) matches any segment, a placeholder in doc
// ({id}, <job_id>, …) only a parameter, and a pattern ending in '/' its
// whole subtree.
func routeMatches(p, doc []string) bool {
	subtree := len(p) > 1 && p[len(p)-1] == ""
	if subtree {
		p = p[:len(p)-1]
		if len(doc) < len(p) {
			return false
		}
	} else if len(doc) != len(p) {
		return false
	}
	for i, ps := range p {
		ds := doc[i]
		param := strings.HasPrefix(ps, "{")
		placeholder := strings.HasPrefix(ds, "{") || strings.HasPrefix(ds, "<") || ds == "…" || ds == "..."
		switch {
		case param && ds != "":
		case placeholder:
			return false
		case ps != ds:
			return false
		}
	}
	return true
}

var (
	makeTarget = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	lineAnchor = regexp.MustCompile(`^L\d+`) // GitHub's line anchors (#L18)
	makeCall   = regexp.MustCompile(`(?:^|[\s;&|(])make((?:\s+[^\s#;&|)]+)+)`)
	repoPath   = regexp.MustCompile(`(?:^|[\s"'=(:])((?:cmd|internal|deploy|scripts|docs|\.github|\.ci)/[A-Za-z0-9_./-]*)([*<{…]?)`)
)

// checkCode checks the Make targets and repository paths in one piece of
// code (a fenced line or a code span).
func (ix *index) checkCode(code string) []string {
	var msgs []string
	for _, m := range makeCall.FindAllStringSubmatch(code, -1) {
		for _, arg := range strings.Fields(m[1]) {
			if strings.HasPrefix(arg, "-") || strings.Contains(arg, "=") {
				continue
			}
			if !makeTarget.MatchString(arg) {
				break
			}
			if !ix.targets[arg] {
				msgs = append(msgs, fmt.Sprintf("make target %s is not in the Makefile", arg))
			}
		}
	}
	for _, m := range repoPath.FindAllStringSubmatch(code, -1) {
		p := strings.TrimRight(m[1], "./")
		if m[2] != "" || strings.Contains(p, "...") {
			continue // a pattern or placeholder
		}
		if strings.Contains(code, "kubectl ") && strings.Count(p, "/") == 1 && strings.HasPrefix(p, "deploy/") {
			continue // kubectl's deploy/NAME, a Deployment
		}
		generated := false
		for prefix := range generatedPaths {
			generated = generated || strings.HasPrefix(p+"/", prefix) && p+"/" != prefix
		}
		if generated {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(p))); err != nil {
			msgs = append(msgs, fmt.Sprintf("path %s does not exist", p))
		}
	}
	return msgs
}

// checkRunbooks checks that every alert's runbook_url leads to a heading.
func (ix *index) checkRunbooks(t *testing.T) []problem {
	t.Helper()
	var probs []problem
	rules, _ := filepath.Glob(filepath.Join(root, "deploy/prometheus/rules/*.yml"))
	runbook := regexp.MustCompile(`runbook_url:\s*(\S+)`)
	n := 0
	for _, f := range rules {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range runbook.FindAllStringSubmatch(string(b), -1) {
			n++
			if msg := ix.checkLink("", m[1]); msg != "" {
				probs = append(probs, problem{0, filepath.Base(f) + ": " + msg})
			}
		}
	}
	if n < len(ix.alerts) {
		probs = append(probs, problem{0, fmt.Sprintf("%d alerts but %d runbook_url annotations", len(ix.alerts), n)})
	}
	return probs
}

// checkSeedFiles checks the README's seed table and the files the seeds
// name.
func (ix *index) checkSeedFiles(t *testing.T) []string {
	t.Helper()
	var msgs []string
	var mapped []string // first cells of the seed table
	sc := bufio.NewScanner(strings.NewReader(read(t, "README.md")))
	inSection, inTable := false, false
	for sc.Scan() {
		line := sc.Text()
		if m := heading.FindStringSubmatch(line); m != nil {
			if inTable {
				break
			}
			inSection = strings.Contains(strings.ToLower(m[2]), "seeds, mapped")
			continue
		}
		if !inSection {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break // the first table of the section only
			}
			continue
		}
		inTable = true
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 2 {
			continue
		}
		here := strings.ToLower(cells[len(cells)-1])
		if strings.Contains(here, "planned") || strings.TrimSpace(here) == "" {
			msgs = append(msgs, fmt.Sprintf("README seed table: %q is not done", strings.TrimSpace(line)))
		}
		mapped = append(mapped, cells[0])
	}
	if len(mapped) < 10 {
		t.Fatalf("README: the seed table under \"The seeds, mapped to Go\" has %d rows", len(mapped))
	}
	for _, f := range seedFiles {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(f))); err == nil {
			continue
		}
		if !slices.ContainsFunc(mapped, func(c string) bool {
			return strings.Contains(c, "`"+f+"`") || strings.Contains(c, "`"+f+" ")
		}) {
			msgs = append(msgs, fmt.Sprintf("%s: named by a requirement document, missing, and not mapped in the README's seed table", f))
		}
	}
	return msgs
}
