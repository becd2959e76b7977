package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/intake-dev/intake"
)

// FuzzParseLinks feeds arbitrary Link header values to the parser: every
// target it returns is text of the header.
func FuzzParseLinks(f *testing.F) {
	for _, s := range []string{
		`<https://api.example.com/x?page=2>; rel="next", <https://api.example.com/x?page=9>; rel="last"`,
		`<a>; rel=next; title="a, b", <b>;rel="prev next"`, `<`, `<>`, `;rel=next`, `<a>; rel="unterminated`,
		`<a>;;;, ,<b>; rel`, "<a>; rel=\"\\\"next\\\"\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, l := range parseLinks([]string{v}) {
			if !strings.Contains(v, l.target) {
				t.Fatalf("parseLinks(%q) returned target %q", v, l.target)
			}
			_ = l.hasRel("next")
		}
	})
}

// FuzzConfig feeds arbitrary configs to the api source's parser: each is
// accepted or refused with EINVALID, and an accepted one names an http(s)
// URL and a positive max_pages.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		`{"url":"https://api.example.com/v1/filings","query":{"status":"final"},"headers":{"Accept":"application/json"},"secret_headers":{"Authorization":"ACME_TOKEN"},"pagination":{"mode":"cursor","cursor_param":"cursor","cursor_field":"meta.next_cursor"},"max_pages":50}`,
		`{"url":"http://2130706433/"}`, `{"url":"http://0x7f.1/"}`, `{"url":"file:///etc/passwd"}`, `{"url":"https://a.test/","method":"POST","body":{"q":1}}`,
		`{"url":"https://a.test/","pagination":{"mode":"offset","limit":0}}`, `{"url":"https://u:p@a.test/"}`, `{}`, `null`,
		`{"url":"https://a.test/","headers":{"Host":"b"}}`, `{"url":"https://a.test/","max_pages":1e9}`,
	} {
		f.Add([]byte(s))
	}
	s, err := New(Options{Secrets: map[string]Secret{"ACME_TOKEN": {Value: "v", Hosts: []string{"api.example.com"}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := s.parseConfig(json.RawMessage(raw))
		if err != nil {
			if intake.ErrorCode(err) != intake.EINVALID {
				t.Fatalf("parseConfig(%q): %v, want EINVALID", raw, err)
			}
			return
		}
		if cfg.maxPages < 1 || (cfg.url.Scheme != "http" && cfg.url.Scheme != "https") {
			t.Fatalf("parseConfig(%q) accepted %+v", raw, cfg)
		}
	})
}
