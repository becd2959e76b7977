package configjson

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestObject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		keys []string // nil: not a config
	}{
		{`{"a":1,"b":null}`, []string{"a", "b"}},
		{"{}\n", []string{}},
		{` { "a" : [1] } `, []string{"a"}},
		{``, nil},
		{`null`, nil},
		{`[]`, nil},
		{`"a"`, nil},
		{`{"a":1}}`, nil},
		{`{"a":1} {}`, nil},
		{`{"a":`, nil},
	}
	for _, tt := range tests {
		fields, ok := Object(json.RawMessage(tt.raw))
		if ok != (tt.keys != nil) {
			t.Errorf("Object(%q) ok = %v, want %v", tt.raw, ok, tt.keys != nil)
			continue
		}
		var keys []string
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if ok && !slices.Equal(keys, tt.keys) {
			t.Errorf("Object(%q) keys = %q, want %q", tt.raw, keys, tt.keys)
		}
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	s := "kept"
	for _, v := range []string{`null`, ` null `, `1`, `{}`} {
		if err := Decode(json.RawMessage(v), &s); err == nil {
			t.Errorf("Decode(%s) into a string succeeded", v)
		}
	}
	if s != "kept" {
		t.Errorf("a refused value changed dst to %q", s)
	}
	if err := Decode(json.RawMessage(`"x"`), &s); err != nil || s != "x" {
		t.Errorf(`Decode("x") = %v, %q`, err, s)
	}
}

func TestUnknown(t *testing.T) {
	t.Parallel()
	fields := map[string]json.RawMessage{"url": nil, "zeta": nil, "Alpha": nil, "mode": nil}
	var got []string
	for _, e := range Unknown(fields, "pagination.", "url", "mode") {
		if e.Message != "unknown field" {
			t.Errorf("%s: message %q", e.Location, e.Message)
		}
		got = append(got, e.Location)
	}
	if want := []string{"pagination.Alpha", "pagination.zeta"}; !slices.Equal(got, want) {
		t.Errorf("Unknown = %q, want %q", got, want)
	}
	if errs := Unknown(fields, "", "url", "zeta", "Alpha", "mode"); len(errs) != 0 {
		t.Errorf("Unknown with every key known = %+v", errs)
	}
}
