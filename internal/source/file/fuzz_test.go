package file

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/intake-dev/intake"
)

// FuzzConfig feeds arbitrary configs to the file source's parser: an
// accepted pattern is relative and never climbs out of the root.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		`{"pattern":"reports/2024/**/*.pdf","max_file_size":104857600}`, `{"pattern":"../x"}`, `{"pattern":"/etc/*"}`,
		`{"pattern":"a/../../b"}`, `{"pattern":"C:\\x"}`, `{"pattern":"{a,../b}"}`, `{"pattern":"[","max_file_size":"10"}`,
		`{"pattern":"*","max_file_size":1e3}`, `{}`, `null`, `{"pattern":"\u0000"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := parseConfig(json.RawMessage(raw), 1<<20)
		if err != nil {
			if intake.ErrorCode(err) != intake.EINVALID {
				t.Fatalf("parseConfig(%q): %v, want EINVALID", raw, err)
			}
			return
		}
		p := cfg.Pattern
		if strings.HasPrefix(p, "/") || p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
			t.Fatalf("parseConfig(%q) accepted pattern %q", raw, p)
		}
		if cfg.MaxFileSize < 1 || cfg.MaxFileSize > 1<<20 {
			t.Fatalf("parseConfig(%q) accepted max_file_size %d", raw, cfg.MaxFileSize)
		}
	})
}

// FuzzCheckpoint feeds arbitrary checkpoints to the plan decoder (a
// checkpoint is stored data, but a store's content is input too): each is
// refused or decodes to a plan that encodes back to the same plan.
func FuzzCheckpoint(f *testing.F) {
	p := &plan{V: checkpointVersion, Files: []string{"a.txt", "b/c.pdf"}, Skipped: []skipped{{Path: "p", Reason: "FIFO"}}, SkippedTotal: 1}
	cp, err := p.encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cp)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(`{"v":1,"files":["x\u0000"],"skipped_total":-5}`))
	_ = zw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Add([]byte("not gzip"))
	f.Fuzz(func(t *testing.T, cp []byte) {
		p, err := decodePlan(cp)
		if err != nil {
			return
		}
		again, err := p.encode()
		if err != nil {
			t.Fatalf("encode a decoded plan: %v", err)
		}
		q, err := decodePlan(again)
		if err != nil || !reflect.DeepEqual(p, q) {
			t.Fatalf("plan does not round-trip: %+v → %+v (%v)", p, q, err)
		}
		_ = p.total()
	})
}
