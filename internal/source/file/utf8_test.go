//go:build unix

package file

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestNonUTF8Names plants files and a directory whose names are not valid
// UTF-8 beside valid ones: the job collects the valid files and lists the
// others, escaped, in the report, instead of failing on a name the JSON
// checkpoint cannot carry.
func TestNonUTF8Names(t *testing.T) {
	t.Parallel()
	root := tree(t, map[string]string{"a.txt": "a", "z.txt": "z", "caf\u00e9.txt": "utf8"})
	for _, name := range []string{"caf\xe9.txt", "bad\xff\xfedir/inner.txt"} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("latin1"), 0o644); err != nil {
			t.Skipf("this file system refuses non-UTF-8 names: %v", err)
		}
	}
	s := newSource(t, Options{Root: root})
	got := runJob(t, s, json.RawMessage(`{"pattern": "**"}`))
	want := []string{"a.txt", "caf\u00e9.txt", "z.txt", ReportName}
	if !slices.Equal(got.names, want) {
		t.Fatalf("documents = %q, want %q", got.names, want)
	}
	skips := report(t, got)
	for _, name := range []string{`caf\xe9.txt`, `bad\xff\xfedir/`} {
		if !strings.Contains(skips[name], "not valid UTF-8") {
			t.Errorf("skipped[%q] = %q, want it to say the name is not valid UTF-8 (report %q)", name, skips[name], skips)
		}
	}
	if !utf8.ValidString(got.contents[ReportName]) {
		t.Errorf("the report is not valid UTF-8: %q", got.contents[ReportName])
	}
}
