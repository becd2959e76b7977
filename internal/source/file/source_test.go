//go:build unix

package file

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/intake-dev/intake"
)

// tree creates files (path → content) under a new temporary root.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func newSource(t *testing.T, opts Options) *Source {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func cfg(pattern string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"pattern": pattern})
	return b
}

// collected is what a job produced: the documents' names and contents.
type collected struct {
	names    []string
	contents map[string]string
	types    map[string]string
}

// runJob plans a job and collects every document as the worker would,
// passing each item's checkpoint on.
func runJob(t *testing.T, s *Source, config json.RawMessage) collected {
	t.Helper()
	ctx := t.Context()
	if err := s.Validate(ctx, config); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	total, cp, err := s.Plan(ctx, config)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	out := collected{contents: map[string]string{}, types: map[string]string{}}
	for seq := 1; seq <= total; seq++ {
		item, err := s.Next(ctx, config, seq, cp)
		if err != nil {
			t.Fatalf("Next(%d): %v", seq, err)
		}
		b, err := io.ReadAll(item.Body)
		if err != nil {
			t.Fatalf("read document %d: %v", seq, err)
		}
		if err := item.Body.Close(); err != nil {
			t.Fatalf("close document %d: %v", seq, err)
		}
		out.names = append(out.names, item.Name)
		out.contents[item.Name] = string(b)
		out.types[item.Name] = item.ContentType
		cp = item.Checkpoint
	}
	if _, err := s.Next(ctx, config, total+1, cp); intake.ErrorCode(err) != intake.EINVALID {
		t.Errorf("Next(total+1) = %v, want EINVALID", err)
	}
	return out
}

func fieldLocations(err error) []string {
	var e *intake.Error
	if !errors.As(err, &e) {
		return nil
	}
	var locs []string
	for _, f := range e.Fields {
		locs = append(locs, f.Location)
	}
	return locs
}

func TestValidate(t *testing.T) {
	t.Parallel()
	s := newSource(t, Options{Root: t.TempDir(), MaxFileSize: 1000})
	for _, tc := range []struct {
		name   string
		config string
		want   []string // field locations; nil = valid
	}{
		{"simple", `{"pattern": "*.pdf"}`, nil},
		{"doublestar", `{"pattern": "reports/**/*.{pdf,txt}", "max_file_size": 1000}`, nil},
		{"dots inside names", `{"pattern": "a..b/x.y..z"}`, nil},
		{"missing pattern", `{}`, []string{"pattern"}},
		{"empty pattern", `{"pattern": ""}`, []string{"pattern"}},
		{"null pattern", `{"pattern": null}`, []string{"pattern"}},
		{"absolute", `{"pattern": "/etc/passwd"}`, []string{"pattern"}},
		{"drive", `{"pattern": "C:/x/*"}`, []string{"pattern"}},
		{"leading dotdot", `{"pattern": "../*"}`, []string{"pattern"}},
		{"inner dotdot", `{"pattern": "a/../../etc/*"}`, []string{"pattern"}},
		{"trailing dotdot", `{"pattern": "a/.."}`, []string{"pattern"}},
		{"dotdot alternative", `{"pattern": "{x,..}/*"}`, []string{"pattern"}},
		{"dot segment", `{"pattern": "./*.txt"}`, []string{"pattern"}},
		{"empty segment", `{"pattern": "a//b"}`, []string{"pattern"}},
		{"bad glob", `{"pattern": "a[b"}`, []string{"pattern"}},
		{"control char", `{"pattern": "a\u0000b"}`, []string{"pattern"}},
		{"too long", `{"pattern": "` + strings.Repeat("a", 1025) + `"}`, []string{"pattern"}},
		{"size over operator max", `{"pattern": "*", "max_file_size": 1001}`, []string{"max_file_size"}},
		{"size zero", `{"pattern": "*", "max_file_size": 0}`, []string{"max_file_size"}},
		{"size fraction", `{"pattern": "*", "max_file_size": 1.5}`, []string{"max_file_size"}},
		{"size string", `{"pattern": "*", "max_file_size": "10"}`, []string{"max_file_size"}},
		{"unknown field", `{"pattern": "*", "root": "/"}`, []string{"root"}},
		{"not an object", `["*"]`, []string{""}},
		{"trailing data", `{"pattern": "*"} {}`, []string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := s.Validate(t.Context(), json.RawMessage(tc.config))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if intake.ErrorCode(err) != intake.EINVALID {
				t.Fatalf("Validate = %v, want EINVALID", err)
			}
			if got := fieldLocations(err); !slices.Equal(got, tc.want) {
				t.Errorf("field locations = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDisabled(t *testing.T) {
	t.Parallel()
	s := newSource(t, Options{})
	err := s.Validate(t.Context(), cfg("*"))
	if intake.ErrorCode(err) != intake.EINVALID || !strings.Contains(err.Error(), "INTAKE_SOURCE_FILE_ROOT") {
		t.Fatalf("Validate = %v, want EINVALID naming INTAKE_SOURCE_FILE_ROOT", err)
	}
	if _, _, err := s.Plan(t.Context(), cfg("*")); intake.ErrorCode(err) != intake.EINVALID {
		t.Errorf("Plan = %v, want EINVALID", err)
	}
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"missing root", Options{Root: filepath.Join(t.TempDir(), "absent")}},
		{"negative size", Options{Root: t.TempDir(), MaxFileSize: -1}},
		{"negative files", Options{Root: t.TempDir(), MaxFiles: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := New(tc.opts); intake.ErrorCode(err) != intake.EINVALID {
				t.Errorf("New = %v, want EINVALID", err)
			}
		})
	}
}

func TestPatterns(t *testing.T) {
	t.Parallel()
	root := tree(t, map[string]string{
		"top.txt":            "top",
		"b.pdf":              "%PDF-1.7",
		"a/one.txt":          "one",
		"a/deep/two.txt":     "two",
		"a/deep/er/three.md": "three",
		"c/x.txt":            "x",
		".hidden/h.txt":      "h",
	})
	s := newSource(t, Options{Root: root})
	for _, tc := range []struct {
		pattern string
		want    []string
	}{
		{"*.txt", []string{"top.txt"}},
		{"**/*.txt", []string{".hidden/h.txt", "a/deep/two.txt", "a/one.txt", "c/x.txt", "top.txt"}},
		{"a/**", []string{"a/deep/er/three.md", "a/deep/two.txt", "a/one.txt"}},
		{"a/**/*.md", []string{"a/deep/er/three.md"}},
		{"{c,a}/*.txt", []string{"a/one.txt", "c/x.txt"}},
		{"{a,a}/*.txt", []string{"a/one.txt"}}, // duplicates collapse
		{"a", nil},                             // a directory is not a document
		{"nothing/**", nil},
		{"b.pdf", []string{"b.pdf"}},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			t.Parallel()
			got := runJob(t, s, cfg(tc.pattern))
			if !slices.Equal(got.names, tc.want) {
				t.Errorf("documents = %q, want %q", got.names, tc.want)
			}
		})
	}
}

func TestContent(t *testing.T) {
	t.Parallel()
	pdf := "%PDF-1.7\n" + strings.Repeat("x", 2000)
	root := tree(t, map[string]string{
		"notes.txt":  "hello",
		"noext":      pdf,
		"short":      "hi",
		"Report.PDF": pdf,
		"data.json":  `{"a":1}`,
	})
	s := newSource(t, Options{Root: root})
	got := runJob(t, s, cfg("*"))
	for _, tc := range []struct {
		name, content, typePrefix string
	}{
		{"notes.txt", "hello", "text/plain"},
		{"noext", pdf, "application/pdf"}, // sniffed; the head is not lost
		{"short", "hi", "text/plain"},
		{"Report.PDF", pdf, "application/pdf"},
		{"data.json", `{"a":1}`, "application/json"},
	} {
		if got.contents[tc.name] != tc.content {
			t.Errorf("%s: content %d bytes, want %d", tc.name, len(got.contents[tc.name]), len(tc.content))
		}
		if !strings.HasPrefix(got.types[tc.name], tc.typePrefix) {
			t.Errorf("%s: content type %q, want %s", tc.name, got.types[tc.name], tc.typePrefix)
		}
	}
	item, err := s.Next(t.Context(), cfg("*"), 1, mustPlan(t, s, cfg("*")))
	if err != nil {
		t.Fatal(err)
	}
	defer item.Body.Close()
	if item.Name != "Report.PDF" || item.DocumentType != "pdf" {
		t.Errorf("document 1 = %q type %q, want Report.PDF type pdf", item.Name, item.DocumentType)
	}
}

func mustPlan(t *testing.T, s *Source, config json.RawMessage) []byte {
	t.Helper()
	_, cp, err := s.Plan(t.Context(), config)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return cp
}

// TestListFixedAtPlan checks that the checkpoint fixes the list: a file
// added after the plan is not collected, and document n stays the same
// file.
func TestListFixedAtPlan(t *testing.T) {
	t.Parallel()
	root := tree(t, map[string]string{"b.txt": "b", "d.txt": "d"})
	s := newSource(t, Options{Root: root})
	total, cp, err := s.Plan(t.Context(), cfg("*.txt"))
	if err != nil || total != 2 {
		t.Fatalf("Plan = %d, %v; want 2", total, err)
	}
	if err := os.WriteFile(filepath.Join(root, "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	for seq, want := range []string{"b.txt", "d.txt"} {
		// A fresh Source, as in another process, decodes the checkpoint.
		item, err := newSource(t, Options{Root: root}).Next(t.Context(), cfg("*.txt"), seq+1, cp)
		if err != nil {
			t.Fatalf("Next(%d): %v", seq+1, err)
		}
		_ = item.Body.Close()
		if item.Name != want {
			t.Errorf("document %d = %q, want %q", seq+1, item.Name, want)
		}
		if string(item.Checkpoint) != string(cp) {
			t.Errorf("document %d changed the checkpoint", seq+1)
		}
	}
	_, cp2, err := s.Plan(t.Context(), cfg("*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := decodePlan(cp2); len(p.Files) != 3 {
		t.Errorf("a new plan lists %q, want the added file too", p.Files)
	}
	if _, err := s.Next(t.Context(), cfg("*.txt"), 1, []byte("garbage")); !intake.IsPermanent(err) {
		t.Errorf("Next with a corrupt checkpoint = %v, want permanent", err)
	}
}

// report decodes the _skipped.json document of a job.
func report(t *testing.T, got collected) map[string]string {
	t.Helper()
	raw, ok := got.contents[ReportName]
	if !ok {
		t.Fatalf("no %s document among %q", ReportName, got.names)
	}
	var r struct {
		SkippedTotal int       `json:"skipped_total"`
		Skipped      []skipped `json:"skipped"`
	}
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatalf("decode report: %v", err)
	}
	out := map[string]string{}
	for _, s := range r.Skipped {
		out[s.Path] = s.Reason
	}
	if r.SkippedTotal != len(out) {
		t.Errorf("skipped_total %d, listed %d", r.SkippedTotal, len(out))
	}
	return out
}

func TestSymlinksAndSpecialFiles(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.txt")
	if err := os.WriteFile(secret, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := tree(t, map[string]string{"real.txt": "real", "sub/inner.txt": "inner", "big.txt": strings.Repeat("b", 101)})
	links := map[string]string{
		"escape-abs.txt": secret,                                                    // absolute, outside
		"escape-rel.txt": filepath.Join("..", filepath.Base(outside), "secret.txt"), // relative, outside
		"sub/up.txt":     "../real.txt",                                             // relative, inside
		"inside.txt":     "sub/inner.txt",                                           // inside
		"dangling.txt":   "nope.txt",
		"dirlink":        outside, // a directory outside: never walked
		"sub/loop":       "..",    // a loop: never walked
		"escape-dir.txt": "/etc",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(root, "pipe.txt"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, Options{Root: root})

	done := make(chan collected, 1)
	go func() { done <- runJob(t, s, json.RawMessage(`{"pattern": "**", "max_file_size": 100}`)) }()
	var got collected
	select {
	case got = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the job blocked (on the FIFO?)")
	}
	want := []string{"inside.txt", "real.txt", "sub/inner.txt", "sub/up.txt", ReportName}
	if !slices.Equal(got.names, want) {
		t.Fatalf("documents = %q, want %q", got.names, want)
	}
	if got.contents["inside.txt"] != "inner" || got.contents["sub/up.txt"] != "real" {
		t.Errorf("symlinks inside the root not followed: %q", got.contents)
	}
	for name, content := range got.contents {
		if strings.Contains(content, "secret") {
			t.Errorf("%s leaked a file outside the root", name)
		}
	}
	skips := report(t, got)
	for name, reason := range map[string]string{
		"escape-abs.txt": "outside the root",
		"escape-rel.txt": "outside the root",
		"escape-dir.txt": "outside the root",
		"dangling.txt":   "dangling",
		"pipe.txt":       "FIFO",
		"big.txt":        "larger than max_file_size",
		"dirlink":        "outside the root",
		"sub/loop":       "directory",
	} {
		if !strings.Contains(skips[name], reason) {
			t.Errorf("skipped[%q] = %q, want it to mention %q", name, skips[name], reason)
		}
	}
	if len(skips) != 8 {
		t.Errorf("skipped %d entries, want 8: %q", len(skips), skips)
	}
}

// TestSwappedSymlink replaces a planned symlink with one leading outside
// the root between Plan and Next: os.Root refuses it and the job fails.
func TestSwappedSymlink(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := tree(t, map[string]string{"target.txt": "fine"})
	link := filepath.Join(root, "link.txt")
	if err := os.Symlink("target.txt", link); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, Options{Root: root})
	total, cp, err := s.Plan(t.Context(), cfg("link.txt"))
	if err != nil || total != 1 {
		t.Fatalf("Plan = %d, %v; want 1", total, err)
	}
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), link); err != nil {
		t.Fatal(err)
	}
	item, err := s.Next(t.Context(), cfg("link.txt"), 1, cp)
	if err == nil {
		b, _ := io.ReadAll(item.Body)
		_ = item.Body.Close()
		t.Fatalf("Next followed the swapped symlink and read %q", b)
	}
	if !intake.IsPermanent(err) || !strings.Contains(err.Error(), "outside the root") {
		t.Errorf("Next = %v, want a permanent refusal", err)
	}
}

func TestChangedAfterPlan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		change    func(t *testing.T, path string)
		permanent bool
	}{
		{"vanished", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"grew over the limit", func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte(strings.Repeat("x", 11)), 0o644); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"replaced by a FIFO", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := tree(t, map[string]string{"f.txt": "small"})
			s := newSource(t, Options{Root: root, MaxFileSize: 10})
			cp := mustPlan(t, s, cfg("f.txt"))
			tc.change(t, filepath.Join(root, "f.txt"))
			_, err := s.Next(t.Context(), cfg("f.txt"), 1, cp)
			if err == nil {
				t.Fatal("Next succeeded")
			}
			if intake.IsPermanent(err) != tc.permanent || !strings.Contains(err.Error(), `"f.txt"`) {
				t.Errorf("Next = %v (permanent %t), want permanent %t naming the file", err, intake.IsPermanent(err), tc.permanent)
			}
		})
	}
}

// TestGrowsWhileRead fails the read of a file that grows past the limit
// after Next checked its size.
func TestGrowsWhileRead(t *testing.T) {
	t.Parallel()
	root := tree(t, map[string]string{"f.bin": "0123456789"})
	s := newSource(t, Options{Root: root, MaxFileSize: 10})
	item, err := s.Next(t.Context(), cfg("f.bin"), 1, mustPlan(t, s, cfg("f.bin")))
	if err != nil {
		t.Fatal(err)
	}
	defer item.Body.Close()
	f, err := os.OpenFile(filepath.Join(root, "f.bin"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("more")
	_ = f.Close()
	if _, err := io.ReadAll(item.Body); err == nil || !strings.Contains(err.Error(), "max_file_size") {
		t.Errorf("reading a grown file = %v, want a max_file_size error", err)
	}
}

func TestTooManyFiles(t *testing.T) {
	t.Parallel()
	root := tree(t, map[string]string{"a": "", "b": "", "c": ""})
	s := newSource(t, Options{Root: root, MaxFiles: 2})
	_, _, err := s.Plan(t.Context(), cfg("*"))
	if intake.ErrorCode(err) != intake.EINVALID || !slices.Equal(fieldLocations(err), []string{"pattern"}) {
		t.Errorf("Plan = %v, want EINVALID on pattern", err)
	}
	if _, _, err := s.Plan(t.Context(), cfg("{a,b,a,b}")); err != nil {
		t.Errorf("Plan of 2 files matched twice: %v", err)
	}
}

// TestLargeFileStreams collects a 256 MiB sparse file and checks that the
// process allocated far less than its size on the way. It is not parallel:
// the allocation counter is process-wide.
func TestLargeFileStreams(t *testing.T) {
	const size = 256 << 20
	root := t.TempDir()
	f, err := os.Create(filepath.Join(root, "huge.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("tail"), size-4); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	s := newSource(t, Options{Root: root})
	cp := mustPlan(t, s, cfg("*.bin"))

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	item, err := s.Next(t.Context(), cfg("*.bin"), 1, cp)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{item.Body}, make([]byte, 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	_ = item.Body.Close()
	runtime.ReadMemStats(&after)
	if n != size {
		t.Fatalf("read %d bytes, want %d", n, size)
	}
	const bound = 32 << 20
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > bound {
		t.Errorf("streaming %d MiB allocated %d MiB, want < %d MiB", size>>20, alloc>>20, bound>>20)
	} else {
		t.Logf("streaming %d MiB allocated %d KiB", size>>20, alloc>>10)
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	s := newSource(t, Options{Root: t.TempDir(), MaxFileSize: 1 << 30})
	name, v := s.ConfigSchema()
	if name != SchemaName {
		t.Errorf("schema name %q", name)
	}
	if _, ok := v.(Config); !ok {
		t.Errorf("schema value %T, want Config", v)
	}
	if err := s.Validate(t.Context(), s.Example()); err != nil {
		t.Errorf("the example does not validate: %v", err)
	}
	if s.Type() != "file" {
		t.Errorf("Type = %q", s.Type())
	}
}

// TestConfigSchema derives the OpenAPI schema as the API does and checks
// that it agrees with validation: pattern required, max_file_size
// optional, unknown fields refused, and the tags' limits.
func TestConfigSchema(t *testing.T) {
	t.Parallel()
	reg := huma.NewMapRegistry("#/components/schemas/", huma.DefaultSchemaNamer)
	schema := huma.SchemaFromType(reg, reflect.TypeFor[Config]())
	if schema.Ref != "" {
		schema = reg.SchemaFromRef(schema.Ref)
	}
	if !slices.Equal(schema.Required, []string{"pattern"}) {
		t.Errorf("required = %q, want [pattern]", schema.Required)
	}
	if schema.AdditionalProperties != false {
		t.Errorf("additionalProperties = %v, want false", schema.AdditionalProperties)
	}
	if p := schema.Properties["pattern"]; p == nil || p.MaxLength == nil || *p.MaxLength != maxPatternLen {
		t.Errorf("pattern maxLength does not match maxPatternLen %d", maxPatternLen)
	}
	s := newSource(t, Options{Root: t.TempDir()})
	for _, f := range []string{"Pattern", "MaxFileSize"} {
		sf, _ := reflect.TypeFor[Config]().FieldByName(f)
		ex := sf.Tag.Get("example")
		if f == "Pattern" {
			ex = strconv.Quote(ex)
		}
		field := strings.Split(sf.Tag.Get("json"), ",")[0]
		config := `{"pattern": "*", "` + field + `": ` + ex + `}`
		if err := s.Validate(t.Context(), json.RawMessage(config)); err != nil {
			t.Errorf("the %s example does not validate: %v", field, err)
		}
	}
}

// TestIdentity: a file's identity is its path relative to the root, and
// the skipped report's cannot be taken for a file's, not even one named
// like the report.
func TestIdentity(t *testing.T) {
	t.Parallel()
	root := tree(t, map[string]string{
		"_skipped.json":   "{}",
		"sub/deep/a.txt":  "a",
		"sub/too-big.txt": strings.Repeat("x", 100),
	})
	s := newSource(t, Options{Root: root})
	config := json.RawMessage(`{"pattern": "**", "max_file_size": 10}`)
	total, cp, err := s.Plan(t.Context(), config)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	var got []string
	for seq := 1; seq <= total; seq++ {
		item, err := s.Next(t.Context(), config, seq, cp)
		if err != nil {
			t.Fatalf("Next(%d): %v", seq, err)
		}
		_ = item.Body.Close()
		got = append(got, item.Name+" "+item.Identity)
	}
	want := []string{"_skipped.json _skipped.json", "sub/deep/a.txt sub/deep/a.txt", ReportName + " " + ReportIdentity}
	if !slices.Equal(got, want) {
		t.Errorf("names and identities = %q, want %q", got, want)
	}
}
