package database_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/source/database"
)

func newOffline(t *testing.T) *database.Source {
	t.Helper()
	// Parsing a URL does not connect; nothing is dialled in this file.
	s, err := database.New(database.Options{Connections: map[string]string{
		"warehouse": "postgres://reader:pw@127.0.0.1:5432/app",
		"CRM":       "postgres://reader:pw@127.0.0.1:5432/crm",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestValidate(t *testing.T) {
	t.Parallel()
	s := newOffline(t)
	tests := []struct {
		name   string
		config string
		want   []string // "location: message substring", in order; nil means valid
	}{
		{name: "minimal", config: `{"connection":"warehouse","query":"SELECT id FROM t","key":["id"]}`},
		{name: "full", config: `{"connection":"Crm","query":"with x as (select 1 as id) select * from x","params":["a",1,2.5,true,null],"key":["id"],"rows_per_document":100000,"format":"csv"}`},
		{name: "comment first", config: `{"connection":"crm","query":"-- c\n/* d */ SELECT 1 AS id","key":["id"]}`},
		{name: "not an object", config: `[]`, want: []string{": must be a JSON object"}},
		{name: "trailing data", config: `{} {}`, want: []string{": must be a JSON object"}},
		{name: "empty", config: `{}`, want: []string{"connection: is required", "query: is required", "key: is required"}},
		{name: "unknown connection lists known", config: `{"connection":"nope","query":"SELECT 1 AS id","key":["id"]}`, want: []string{"connection: unknown connection; known: CRM, WAREHOUSE"}},
		{name: "dsn", config: `{"connection":"postgres://u:p@db/x","query":"SELECT 1 AS id","key":["id"]}`, want: []string{"connection: must be the name of a configured connection, not a DSN; known: CRM, WAREHOUSE"}},
		{name: "keyword dsn", config: `{"connection":"host=db user=u","query":"SELECT 1 AS id","key":["id"]}`, want: []string{"connection: must be the name of a configured connection, not a DSN"}},
		{name: "bad name", config: `{"connection":"a-b","query":"SELECT 1 AS id","key":["id"]}`, want: []string{"connection: must be a connection name"}},
		{name: "not select", config: `{"connection":"crm","query":"DROP TABLE t","key":["id"]}`, want: []string{"query: must be one SELECT"}},
		{name: "unterminated comment", config: `{"connection":"crm","query":"/* SELECT 1","key":["id"]}`, want: []string{"query: must be one SELECT"}},
		{name: "only semicolons", config: `{"connection":"crm","query":" ; ","key":["id"]}`, want: []string{"query: must not be empty"}},
		{name: "query not string", config: `{"connection":"crm","query":1,"key":["id"]}`, want: []string{"query: must be a string"}},
		{name: "param object", config: `{"connection":"crm","query":"SELECT 1 AS id","key":["id"],"params":[1,{"a":1},[2]]}`, want: []string{"params[1]: must be a string, number, boolean or null", "params[2]: must be"}},
		{name: "params not array", config: `{"connection":"crm","query":"SELECT 1 AS id","key":["id"],"params":"x"}`, want: []string{"params: must be an array"}},
		{name: "key empty", config: `{"connection":"crm","query":"SELECT 1 AS id","key":[]}`, want: []string{"key: must be a non-empty array"}},
		{name: "key injection", config: `{"connection":"crm","query":"SELECT 1 AS id","key":["id\" desc --","id","id"]}`, want: []string{"key[0]: must be a plain column name", "key[2]: duplicate key column"}},
		{name: "rows bounds", config: `{"connection":"crm","query":"SELECT 1 AS id","key":["id"],"rows_per_document":0}`, want: []string{"rows_per_document: must be between 1 and 100000"}},
		{name: "rows too many", config: `{"connection":"crm","query":"SELECT 1 AS id","key":["id"],"rows_per_document":100001}`, want: []string{"rows_per_document: must be between"}},
		{name: "rows fraction", config: `{"connection":"crm","query":"SELECT 1 AS id","key":["id"],"rows_per_document":1.5}`, want: []string{"rows_per_document: must be an integer"}},
		{name: "format", config: `{"connection":"crm","query":"SELECT 1 AS id","key":["id"],"format":"xml"}`, want: []string{"format: must be ndjson or csv"}},
		{name: "unknown fields sorted", config: `{"connection":"crm","query":"SELECT 1 AS id","key":["id"],"url":"x","dsn":"y"}`, want: []string{"dsn: unknown field", "url: unknown field"}},
		{name: "null connection", config: `{"connection":null,"query":"SELECT 1 AS id","key":["id"]}`, want: []string{"connection: must be a string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := s.Validate(t.Context(), json.RawMessage(tt.config))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ie *intake.Error
			if !errors.As(err, &ie) || ie.Code != intake.EINVALID {
				t.Fatalf("Validate = %v, want EINVALID", err)
			}
			if len(ie.Fields) != len(tt.want) {
				t.Fatalf("fields %+v, want %q", ie.Fields, tt.want)
			}
			for i, w := range tt.want {
				got := ie.Fields[i].Location + ": " + ie.Fields[i].Message
				if !strings.HasPrefix(got, w) {
					t.Errorf("field %d = %q, want prefix %q", i, got, w)
				}
			}
			if strings.Contains(err.Error(), "u:p@") || strings.Contains(err.Error(), "user=u") {
				t.Errorf("error echoes a DSN: %v", err)
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts database.Options
	}{
		{name: "bad url", opts: database.Options{Connections: map[string]string{"a": "postgres://u:secretpw@host:notaport/db"}}},
		{name: "bad name", opts: database.Options{Connections: map[string]string{"a-b": "postgres://h/db"}}},
		{name: "duplicate name", opts: database.Options{Connections: map[string]string{"a": "postgres://h/db", "A": "postgres://h/db"}}},
		{name: "max rows", opts: database.Options{MaxRows: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := database.New(tt.opts)
			if err == nil {
				_ = s.Close()
				t.Fatal("New succeeded")
			}
			if strings.Contains(err.Error(), "secretpw") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestDescriber(t *testing.T) {
	t.Parallel()
	s := newOffline(t)
	name, cfg := s.ConfigSchema()
	if name != "DatabaseSourceConfig" {
		t.Errorf("schema name %q", name)
	}
	reg := huma.NewMapRegistry("#/components/schemas/", huma.DefaultSchemaNamer)
	schema := reg.Schema(reflect.TypeOf(cfg), false, "")
	if want := []string{"connection", "key", "query"}; !slices.Equal(slices.Sorted(slices.Values(schema.Required)), want) {
		t.Errorf("required %v, want %v", schema.Required, want)
	}
	if schema.Properties["format"] == nil || len(schema.Properties["format"].Enum) != 2 {
		t.Errorf("format schema %+v", schema.Properties["format"])
	}
	// The example is valid for a source that knows WAREHOUSE.
	ex, err := database.New(database.Options{Connections: map[string]string{"WAREHOUSE": "postgres://h/db"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ex.Close() }()
	if err := ex.Validate(t.Context(), s.Example()); err != nil {
		t.Errorf("example invalid: %v", err)
	}
	if got := ex.MaxDocuments(s.Example()); got != database.DefaultMaxRows/1000 {
		t.Errorf("MaxDocuments(example) = %d", got)
	}
}
