// Package testenv holds what intake's tests share: the rule for a missing
// dependency (a browser, a server, a tool), the URLs of the test servers,
// a buffer that a logger or a process writes to from several goroutines,
// and loopback ports for tests of failure.
//
// A test that needs something from the machine skips with instructions on
// a developer's machine and fails in CI, where INTAKE_TEST_STRICT=1 is set,
// so that an integration test can never pass by skipping.
//
// The package is imported by tests only.
package testenv

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// ServicesHow tells the reader how to provide the test servers.
const ServicesHow = `run: scripts/test-services.sh up && eval "$(scripts/test-services.sh env)"`

// Strict reports whether missing test dependencies are failures.
func Strict() bool { return os.Getenv("INTAKE_TEST_STRICT") == "1" }

// Missing skips the test (or fails it under Strict) because what is missing;
// how tells the reader how to provide it.
func Missing(t testing.TB, what, how string) {
	t.Helper()
	if Strict() {
		t.Fatalf("%s is missing and INTAKE_TEST_STRICT=1: %s", what, how)
	}
	t.Skipf("%s is missing: %s", what, how)
}

// LookPath returns the path of an executable, or calls Missing.
func LookPath(t testing.TB, name, how string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, how)
	}
	return p
}

// intakeAliases are the variables intake reads besides INTAKE_*.
var intakeAliases = []string{"MONGO_URI", "AZURE_BLOB_CONN", "AZURE_CONTAINER", "JOB_ID"}

// CleanEnviron returns the test process's environment without intake's
// variables (and without those starting with any of prefixes), for a
// process the test starts: a developer's or CI's settings cannot point it
// elsewhere.
func CleanEnviron(prefixes ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "INTAKE_") || slices.Contains(intakeAliases, name) ||
			slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		env = append(env, kv)
	}
	return env
}
