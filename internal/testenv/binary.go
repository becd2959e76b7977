package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// binary is the intake binary IntakeBinary builds, once per test process.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// IntakeBinary builds cmd/intake on first use and returns the path of the
// binary, for tests that run intake as a process. It is built without cgo
// and without -race, as the images are. Packages that call it remove the
// binary with Main.
func IntakeBinary(t testing.TB) string {
	t.Helper()
	goTool := LookPath(t, "go", "install Go")
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "intake-test-binary-")
		if err != nil {
			binary.err = err
			return
		}
		binary.dir = dir
		path := filepath.Join(dir, "intake")
		cmd := exec.Command(goTool, "build", "-o", path, "github.com/intake-dev/intake/cmd/intake")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build ./cmd/intake: %w\n%s", err, out)
			return
		}
		binary.path = path
		fmt.Fprintf(os.Stderr, "testenv: built %s in %s\n", path, time.Since(start).Round(time.Millisecond))
	})
	if binary.err != nil {
		t.Fatalf("build the intake binary: %v", binary.err)
	}
	return binary.path
}

// Main runs the tests and removes what IntakeBinary built; a package's
// TestMain calls os.Exit(testenv.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if binary.dir != "" {
		_ = os.RemoveAll(binary.dir)
	}
	return code
}
