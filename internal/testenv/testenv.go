// Package testenv decides what a test does when something it needs from the
// machine (a browser, a server) is missing: skip with instructions on a
// developer's machine, fail in CI, where INTAKE_TEST_STRICT=1 is set, so an
// integration test can never pass by skipping.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

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
