package cicd

import (
	"regexp"
	"strings"
	"testing"

	"github.com/intake-dev/intake/internal/testenv"
)

// TestSmokeTest runs scripts/smoke-test.sh against live intake processes:
// a passing run, then each failure the script promises a one-line reason
// and its own exit code for.
func TestSmokeTest(t *testing.T) {
	t.Parallel()
	testenv.LookPath(t, "curl", "apt-get install curl")
	testenv.LookPath(t, "jq", "apt-get install jq")
	const key = "smoke-key"
	full := startIntake(t, key, true)
	apiOnly := startIntake(t, key, false)   // no worker: jobs stay pending
	down := "http://" + testenv.FreeAddr(t) // nothing listens there

	t.Run("pass", func(t *testing.T) {
		t.Parallel()
		r := script(t, []string{"INTAKE_URL=" + full.URL, "INTAKE_API_KEY=" + key}, "smoke-test.sh", "--interval", "0.2")
		if r.code != 0 {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		for _, check := range []string{"health", "ready", "create", "complete", "result", "document", "metrics"} {
			if !regexp.MustCompile(`(?m)^ok +` + check + ` `).MatchString(r.stdout) {
				t.Errorf("no passing %q line in:\n%s", check, r.stdout)
			}
		}
		if !strings.Contains(r.stdout, "SHA-256 matches") || !strings.HasSuffix(r.stdout, "smoke-test: PASS "+full.URL+"\n") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
	})

	failures := []struct {
		name string
		env  []string
		args []string
		code int
		line string // a regexp the one stderr line must match
	}{
		{"wrong key", []string{"INTAKE_API_KEY=not-the-key"}, []string{"--url", full.URL},
			4, `^smoke-test: FAIL create: POST /api/v1/jobs/trigger answered 401: the API key was refused$`},
		{"no key", nil, []string{"--url", full.URL},
			4, `^smoke-test: FAIL create: .* answered 401: the API key was refused \(none was given; pass --api-key or INTAKE_API_KEY\)$`},
		{"job never completes", []string{"INTAKE_API_KEY=" + key}, []string{"--url", apiOnly.URL, "--timeout", "2", "--interval", "0.5"},
			5, `^smoke-test: FAIL status: job [0-9a-f-]{36} not completed within 2s \(status pending, 0/\? documents, 0 runs; are workers running\?\)$`},
		{"API down", []string{"INTAKE_API_KEY=" + key}, []string{"--url", down},
			3, `^smoke-test: FAIL health: ` + regexp.QuoteMeta(down) + ` unreachable: .*(refused|connect).*$`},
		{"bad timeout", nil, []string{"--url", full.URL, "--timeout", "soon"},
			2, `^smoke-test: FAIL usage: --timeout must be whole seconds, not soon$`},
		{"bad URL", nil, []string{"--url", "127.0.0.1:8000"},
			2, `^smoke-test: FAIL usage: --url must start with http:// or https://, not 127\.0\.0\.1:8000$`},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			r := script(t, f.env, "smoke-test.sh", f.args...)
			if r.code != f.code {
				t.Errorf("exit %d, want %d", r.code, f.code)
			}
			if lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n"); len(lines) != 1 || !regexp.MustCompile(f.line).MatchString(lines[0]) {
				t.Errorf("stderr is not one line matching %s:\n%s", f.line, r.stderr)
			}
			if strings.Contains(r.stdout, "PASS") {
				t.Errorf("stdout claims a pass:\n%s", r.stdout)
			}
		})
	}
}
