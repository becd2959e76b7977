package filings

import (
	"encoding/json"
	"testing"

	"github.com/intake-dev/intake"
)

// FuzzConfig feeds arbitrary configs to the filings source's parser: each
// is accepted with a valid CIN, or refused with EINVALID.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		`{"cin":"L17110MH1973PLC019786","company_name":"Reliance Industries Limited"}`,
		`{"cin":"L17110MH1973PLC01978","company_name":""}`, `{"cin":1}`, `{}`, `null`, `[]`, `{"cin":"\u0000"}`,
		`{"cin":"L17110MH1973PLC019786","company_name":"R","cin":"U"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := parseConfig(json.RawMessage(raw))
		if err != nil {
			if intake.ErrorCode(err) != intake.EINVALID {
				t.Fatalf("parseConfig(%q): %v, want EINVALID", raw, err)
			}
			return
		}
		if !ValidCIN(cfg.CIN) {
			t.Fatalf("parseConfig(%q) accepted CIN %q", raw, cfg.CIN)
		}
	})
}
