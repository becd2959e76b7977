package database

import (
	"encoding/json"
	"testing"

	"github.com/intake-dev/intake"
)

// FuzzConfig feeds arbitrary configs to the database source's parser:
// each is accepted or refused with EINVALID, and an accepted one names a
// known connection, a SELECT without NUL or a refused function, and a key.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{
		`{"connection":"WAREHOUSE","query":"SELECT id, name FROM customers WHERE region = $1","params":["EU"],"key":["id"],"rows_per_document":1000,"format":"ndjson"}`,
		`{"connection":"postgres://u:p@h/db","query":"SELECT 1","key":["id"]}`, `{"connection":"warehouse","query":"DELETE FROM t","key":["id"]}`,
		`{"connection":"warehouse","query":"/* x */ WITH a AS (SELECT 1) SELECT * FROM a","key":["a","a"]}`,
		`{"connection":"warehouse","query":"SELECT pg_terminate_backend(1) AS id","key":["id"]}`,
		`{"connection":"warehouse","query":"SELECT 1 AS id;;","key":["id"],"params":[{"x":1}],"format":"csv"}`, `{}`, `null`,
	} {
		f.Add([]byte(s))
	}
	known := map[string]string{"WAREHOUSE": "postgres://reader@127.0.0.1/app"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := parseConfig(json.RawMessage(raw), known)
		if err != nil {
			if intake.ErrorCode(err) != intake.EINVALID {
				t.Fatalf("parseConfig(%q): %v, want EINVALID", raw, err)
			}
			return
		}
		switch {
		case known[cfg.Connection] == "", !startsWithSelect(cfg.Query), refusedCall(cfg.Query) != "", len(cfg.Key) == 0,
			cfg.RowsPerDocument < 1, cfg.Format != FormatNDJSON && cfg.Format != FormatCSV:
			t.Fatalf("parseConfig(%q) accepted %+v", raw, cfg)
		}
		_, _ = pageQuery(cfg, []string{"1"}, cfg.RowsPerDocument)
	})
}
