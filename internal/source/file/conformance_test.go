package file_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/source/file"
	"github.com/intake-dev/intake/internal/source/sourcetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	sourcetest.Run(t, harness)
}

// harness collects from a temporary directory; one file is over the
// second config's max_file_size, so that its job ends with the skipped
// report. A local disk cannot stall, so Stall stays nil.
func harness(t *testing.T) sourcetest.Bundle {
	root := t.TempDir()
	for name, content := range map[string]string{
		"a.txt":               "alpha\n",
		"reports/b.txt":       "bravo\n",
		"reports/2024/c.txt":  "charlie\n",
		"reports/2024/d.csv":  "id,name\n1,delta\n",
		"reports/2024/e.json": `{"echo":true}`,
		"big.bin":             strings.Repeat("x", 2000),
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return sourcetest.Bundle{
		Open: func(t *testing.T) intake.Source {
			s, err := file.New(file.Options{Root: root})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Configs: map[string]json.RawMessage{
			"text files":     json.RawMessage(`{"pattern":"**/*.txt"}`),
			"skipped report": json.RawMessage(`{"pattern":"**","max_file_size":1000}`),
		},
	}
}
