package database_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// builtinTypes holds one value of every built-in scalar, range and
// multirange type of PostgreSQL 15, as an SQL expression. want is the JSON
// the NDJSON format writes for the types intake maps itself; empty means
// the value is written as a string holding PostgreSQL's own text form
// (CSV writes that text in both cases, except for the mapped types, whose
// CSV text is want's string or number).
var builtinTypes = []struct {
	typ, expr, want string
}{
	{"bool", "true", "true"},
	{"bytea", `'\x00ff'::bytea`, `"AP8="`},
	{`"char"`, `'a'::"char"`, ""},
	{"name", "'abc'::name", `"abc"`},
	{"int8", "9007199254740993::int8", "9007199254740993"},
	{"int2", "7::int2", "7"},
	{"int4", "7::int4", "7"},
	{"regproc", "'now'::regproc", ""},
	{"text", "'x'::text", `"x"`},
	{"oid", "42::oid", "42"},
	{"tid", "'(1,2)'::tid", ""},
	{"xid", "'5'::xid", ""},
	{"cid", "'5'::cid", ""},
	{"json", `'{"b": 1, "a": 2}'::json`, `{"b":1,"a":2}`},
	{"xml", "'<a>x</a>'::xml", ""},
	{"point", "'(1,2)'::point", ""},
	{"lseg", "'[(1,2),(3,4)]'::lseg", ""},
	{"path", "'((1,2),(3,4))'::path", ""},
	{"box", "'(3,4),(1,2)'::box", ""},
	{"polygon", "'((1,2),(3,4),(5,6))'::polygon", ""},
	{"line", "'{1,2,3}'::line", ""},
	{"cidr", "'10.0.0.0/8'::cidr", `"10.0.0.0/8"`},
	{"float4", "1.5::float4", "1.5"},
	{"float8", "0.1::float8", "0.1"},
	{"circle", "'<(1,2),3>'::circle", ""},
	{"macaddr8", "'08:00:2b:01:02:03:04:05'::macaddr8", ""},
	{"money", "'12.34'::money", ""},
	{"macaddr", "'08:00:2b:01:02:03'::macaddr", ""},
	{"inet", "'10.1.2.3'::inet", `"10.1.2.3"`},
	{"aclitem", "'postgres=r/postgres'::aclitem", ""},
	{"bpchar", "'ab'::char(3)", `"ab "`},
	{"varchar", "'v'::varchar", `"v"`},
	{"date", "'2024-03-01'::date", `"2024-03-01"`},
	{"time", "'12:30:00.5'::time", ""},
	{"timestamp", "'2024-03-01 12:30:00'::timestamp", `"2024-03-01T12:30:00Z"`},
	{"timestamptz", "'2024-03-01 12:30:00+00'::timestamptz", `"2024-03-01T12:30:00Z"`},
	{"interval", "'1 day 02:00'::interval", ""},
	{"timetz", "'12:30:00+02'::timetz", ""},
	{"bit", "B'101'::bit(3)", ""},
	{"varbit", "B'1011'::varbit", ""},
	{"numeric", "12.50::numeric", "12.50"},
	{"refcursor", "'c'::refcursor", ""},
	{"regprocedure", "'now()'::regprocedure", ""},
	{"regoper", "'pg_catalog.||/'::regoper", ""},
	{"regoperator", "'+(integer,integer)'::regoperator", ""},
	{"regclass", "'pg_class'::regclass", ""},
	{"regtype", "'integer'::regtype", ""},
	{"uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", `"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"`},
	{"txid_snapshot", "'10:20:10,14,15'::txid_snapshot", ""},
	{"pg_lsn", "'16/B374D848'::pg_lsn", ""},
	{"tsvector", "'a fat cat'::tsvector", ""},
	{"tsquery", "'fat & rat'::tsquery", ""},
	{"regconfig", "'english'::regconfig", ""},
	{"regdictionary", "'simple'::regdictionary", ""},
	{"jsonb", `'{"b": 1, "a": 2}'::jsonb`, `{"a":2,"b":1}`},
	{"int4range", "int4range(1, 10)", ""},
	{"numrange", "'[1.5,2.5]'::numrange", ""},
	{"tsrange", "'[2024-01-01,2024-02-01)'::tsrange", ""},
	{"tstzrange", "'[2024-01-01 00:00+00,2024-02-01 00:00+00)'::tstzrange", ""},
	{"daterange", "'[2024-01-01,2024-02-01)'::daterange", ""},
	{"int8range", "'(,5]'::int8range", ""},
	{"jsonpath", "'$.a[*] ? (@ > 1)'::jsonpath", ""},
	{"regnamespace", "'pg_catalog'::regnamespace", ""},
	{"regrole", "'postgres'::regrole", ""},
	{"regcollation", `'"C"'::regcollation`, ""},
	{"int4multirange", "'{[1,3),[5,8)}'::int4multirange", ""},
	{"nummultirange", "'{[1.5,2),(3,4]}'::nummultirange", ""},
	{"tsmultirange", "'{[2024-01-01,2024-01-02)}'::tsmultirange", ""},
	{"tstzmultirange", "'{[2024-01-01 00:00+00,2024-01-02 00:00+00)}'::tstzmultirange", ""},
	{"datemultirange", "'{[2024-01-01,2024-01-05)}'::datemultirange", ""},
	{"int8multirange", "'{}'::int8multirange", ""},
	{"pg_snapshot", "'10:20:10,14,15'::pg_snapshot", ""},
	{"xid8", "'5'::xid8", ""},
	// Arrays: of mapped types as JSON arrays, of the others as text.
	{"_int4", "ARRAY[1,2]::int4[]", "[1,2]"},
	{"_text", "ARRAY['x','y']::text[]", `["x","y"]`},
	{"_int4range", "ARRAY[int4range(1,10)]", ""},
	{"_interval", "ARRAY['1 day'::interval]", ""},
	{"_point", "ARRAY['(1,2)'::point]", ""},
}

// unconstructible are the built-in types that no value can be built of
// from text (their input functions refuse); a query cannot return them
// without reading catalogs, where their text form applies as well.
var unconstructible = []string{
	"pg_node_tree", "pg_ndistinct", "pg_dependencies", "gtsvector",
	"pg_brin_bloom_summary", "pg_brin_minmax_multi_summary", "pg_mcv_list",
}

// TestEveryBuiltinType writes one value of every built-in type in both
// formats: the types intake maps as it documents, and every other one in
// PostgreSQL's own text form, never a Go value's dump.
func TestEveryBuiltinType(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	ctx := t.Context()

	// The table must cover every type the server has.
	rows, err := b.admin.Query(ctx, `SELECT typname FROM pg_type
		WHERE typnamespace = 'pg_catalog'::regnamespace AND typtype IN ('b', 'r', 'm')
		  AND typrelid = 0 AND typcategory <> 'A' AND typisdefined ORDER BY oid`)
	if err != nil {
		t.Fatal(err)
	}
	var server []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		server = append(server, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, bt := range builtinTypes {
		covered[strings.Trim(bt.typ, `"`)] = true
	}
	for _, name := range server {
		if !covered[name] && !slices.Contains(unconstructible, name) {
			t.Errorf("built-in type %s has no case in builtinTypes", name)
		}
	}

	s := b.source(t)
	for _, bt := range builtinTypes {
		t.Run(bt.typ, func(t *testing.T) {
			t.Parallel()
			var text string
			if err := b.admin.QueryRow(ctx, "SELECT ("+bt.expr+")::text").Scan(&text); err != nil {
				t.Fatalf("%s: %v", bt.expr, err)
			}
			wantJSON, wantCSV := bt.want, text
			if wantJSON == "" {
				j, _ := json.Marshal(text)
				wantJSON = string(j)
			} else if bt.typ == "json" || bt.typ == "jsonb" {
				wantCSV = text // CSV keeps the JSON text as the server sends it
			} else if uq, err := unquote(bt.want); err == nil {
				wantCSV = uq
			} else {
				wantCSV = bt.want
			}
			query := fmt.Sprintf("SELECT 1 AS id, %s AS v", bt.expr)
			cfgFor := func(format string) string {
				c, _ := json.Marshal(map[string]any{"connection": "main", "query": query, "key": []string{"id"}, "format": format})
				return string(c)
			}
			nd, _, _ := run(t, s, cfgFor("ndjson"), 1, nil, 2)
			if want := `{"id":1,"v":` + wantJSON + "}\n"; len(nd) != 1 || nd[0] != want {
				t.Errorf("ndjson = %q, want %q", nd, want)
			}
			cs, _, _ := run(t, s, cfgFor("csv"), 1, nil, 2)
			var buf bytes.Buffer
			w := csv.NewWriter(&buf)
			_ = w.WriteAll([][]string{{"id", "v"}, {"1", wantCSV}})
			if len(cs) != 1 || cs[0] != buf.String() {
				t.Errorf("csv = %q, want %q", cs, buf.String())
			}
		})
	}
}

// unquote returns the string a JSON string literal holds.
func unquote(j string) (string, error) {
	var s string
	err := json.Unmarshal([]byte(j), &s)
	return s, err
}
