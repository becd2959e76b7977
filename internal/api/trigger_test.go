package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/api"
	"github.com/intake-dev/intake/internal/source/filings"
)

// notesSource is a small second source type that describes its config, to
// prove the trigger body's oneOf and discriminator: each job is Count text
// notes titled Title.
type notesSource struct{}

// notesConfig is notesSource's config.
type notesConfig struct {
	Title  string       `json:"title" minLength:"1" maxLength:"40" doc:"Title of every note."`
	Count  int          `json:"count" minimum:"1" maximum:"5" doc:"How many notes to collect."`
	Format *notesFormat `json:"format,omitempty" doc:"How to render the notes."`
}

// notesFormat is a nested type, named after its source's config schema.
type notesFormat struct {
	Upper bool `json:"upper" doc:"Upper-case the notes."`
}

const notesExample = `{"title": "Board minutes", "count": 3}`

func (notesSource) Type() string { return "notes" }

func (notesSource) ConfigSchema() (string, any) { return "NotesSourceConfig", notesConfig{} }

func (notesSource) Example() json.RawMessage { return json.RawMessage(notesExample) }

func (notesSource) parse(config json.RawMessage) (notesConfig, error) {
	var c notesConfig
	dec := json.NewDecoder(bytes.NewReader(config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, &intake.Error{Code: intake.EINVALID, Message: "invalid notes config", Err: err,
			Fields: []intake.FieldError{{Message: "must be a notes config"}}}
	}
	// A rule the schema cannot express, so that only Validate catches it.
	if strings.EqualFold(c.Title, "secret") {
		return c, &intake.Error{Code: intake.EINVALID, Message: "invalid notes config",
			Fields: []intake.FieldError{{Location: "title", Message: "is reserved", Value: c.Title}}}
	}
	return c, nil
}

func (notesSource) Close() error { return nil }

func (s notesSource) Validate(_ context.Context, config json.RawMessage) error {
	_, err := s.parse(config)
	return err
}

func (s notesSource) Plan(_ context.Context, config json.RawMessage) (int, []byte, error) {
	c, err := s.parse(config)
	return c.Count, nil, err
}

func (s notesSource) Next(_ context.Context, config json.RawMessage, seq int, _ []byte) (*intake.Item, error) {
	c, err := s.parse(config)
	if err != nil {
		return nil, err
	}
	text := fmt.Sprintf("note %d of %d: %s\n", seq, c.Count, c.Title)
	if c.Format != nil && c.Format.Upper {
		text = strings.ToUpper(text)
	}
	return &intake.Item{
		Name:         fmt.Sprintf("note-%d.txt", seq),
		DocumentType: "note",
		ContentType:  "text/plain; charset=utf-8",
		Body:         io.NopCloser(strings.NewReader(text)),
	}, nil
}

// plainSource is a source type that does not describe its config.
type plainSource struct{ intake.Source }

func (plainSource) Type() string { return "plain-text" }

func (plainSource) Validate(context.Context, json.RawMessage) error { return nil }

// withSources registers filings, notes and plain-text.
func withSources(_ *api.Config, d *api.Deps) {
	d.Sources = intake.NewSources(filings.New(0), notesSource{}, plainSource{})
}

// TestTriggerOneOf checks the trigger body's schema in the served document:
// a oneOf over the source types with source_type as discriminator, each
// alternative's config a reference to the source's config schema (any
// object for a source that does not describe it), and an example per type.
func TestTriggerOneOf(t *testing.T) {
	t.Parallel()
	b := newBundle(t, withSources)
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Required bool `json:"required"`
				Content  map[string]struct {
					Schema struct {
						OneOf []struct {
							Ref string `json:"$ref"`
						} `json:"oneOf"`
						Discriminator struct {
							PropertyName string            `json:"propertyName"`
							Mapping      map[string]string `json:"mapping"`
						} `json:"discriminator"`
					} `json:"schema"`
					Examples map[string]struct {
						Value struct {
							SourceType string          `json:"source_type"`
							Config     json.RawMessage `json:"config"`
						} `json:"value"`
					} `json:"examples"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	b.do(t, request{path: "/openapi.json", noKey: true}).decode(t, &doc)
	rb := doc.Paths["/api/v1/jobs/trigger"]["post"].RequestBody
	if !rb.Required || len(rb.Content) != 1 {
		t.Fatalf("request body: required %v, content types %d", rb.Required, len(rb.Content))
	}
	media := rb.Content["application/json"]
	s := media.Schema
	wantAlt := map[string]string{
		"filings":    "#/components/schemas/FilingsTriggerRequest",
		"notes":      "#/components/schemas/NotesTriggerRequest",
		"plain-text": "#/components/schemas/PlainTextTriggerRequest",
	}
	if s.Discriminator.PropertyName != "source_type" || len(s.Discriminator.Mapping) != len(wantAlt) || len(s.OneOf) != len(wantAlt) {
		t.Fatalf("schema: %+v", s)
	}
	for typ, ref := range wantAlt {
		if s.Discriminator.Mapping[typ] != ref {
			t.Errorf("mapping[%s] = %q, want %q", typ, s.Discriminator.Mapping[typ], ref)
		}
	}

	type alternative struct {
		Properties struct {
			SourceType struct {
				Const string `json:"const"`
			} `json:"source_type"`
			Config struct {
				Ref                  string `json:"$ref"`
				Type                 string `json:"type"`
				AdditionalProperties bool   `json:"additionalProperties"`
			} `json:"config"`
		} `json:"properties"`
		Required             []string `json:"required"`
		AdditionalProperties *bool    `json:"additionalProperties"`
	}
	tests := []struct {
		typ, component, configRef string
	}{
		{"filings", "FilingsTriggerRequest", "#/components/schemas/FilingsSourceConfig"},
		{"notes", "NotesTriggerRequest", "#/components/schemas/NotesSourceConfig"},
		{"plain-text", "PlainTextTriggerRequest", ""},
	}
	for _, tt := range tests {
		var alt alternative
		if err := json.Unmarshal(doc.Components.Schemas[tt.component], &alt); err != nil {
			t.Fatalf("%s: %v", tt.component, err)
		}
		p := alt.Properties
		if p.SourceType.Const != tt.typ || p.Config.Ref != tt.configRef ||
			len(alt.Required) != 2 || alt.AdditionalProperties == nil || *alt.AdditionalProperties {
			t.Errorf("%s: %+v", tt.component, alt)
		}
		if tt.configRef == "" && (p.Config.Type != "object" || !p.Config.AdditionalProperties) {
			t.Errorf("%s: config %+v, want any object", tt.component, p.Config)
		}
	}
	for _, name := range []string{"FilingsSourceConfig", "NotesSourceConfig", "NotesSourceNotesFormat"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("no component %s", name)
		}
	}
	if !strings.Contains(string(doc.Components.Schemas["NotesSourceConfig"]), `"$ref":"#/components/schemas/NotesSourceNotesFormat"`) {
		t.Errorf("NotesSourceConfig: %s", doc.Components.Schemas["NotesSourceConfig"])
	}

	if len(media.Examples) != 2 {
		t.Errorf("%d examples, want filings and notes", len(media.Examples))
	}
	for typ, src := range map[string]api.ConfigDescriber{"filings": filings.New(0), "notes": notesSource{}} {
		ex := media.Examples[typ].Value
		if ex.SourceType != typ || !jsonEqual(t, ex.Config, src.Example()) {
			t.Errorf("example %s: %+v", typ, ex)
		}
		// Every example is a body the server accepts.
		body := fmt.Sprintf(`{"source_type": %q, "config": %s}`, typ, ex.Config)
		if r := b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/trigger", body: body}); r.status != http.StatusAccepted {
			t.Errorf("example %s: %d %s", typ, r.status, r.body)
		}
	}
}

// TestTriggerValidation checks that the server validates the body as the
// document describes it: source_type selects the alternative whose schema
// the config must match, and then the source validates it.
func TestTriggerValidation(t *testing.T) {
	t.Parallel()
	b := newBundle(t, withSources)
	tests := []struct {
		name        string
		body        string
		contentType string
		wantStatus  int
		// wantLocations are the field-error locations, in order.
		wantLocations []string
	}{
		{"notes", `{"source_type": "notes", "config": {"title": "Q3", "count": 2, "format": {"upper": true}}}`, "", http.StatusAccepted, nil},
		{"plain-text takes any object", `{"source_type": "plain-text", "config": {"anything": [1, 2]}}`, "", http.StatusAccepted, nil},
		{"json suffix type", `{"source_type": "notes", "config": {"title": "Q3", "count": 2}}`, "application/vnd.intake+json", http.StatusAccepted, nil},
		{"unknown type", `{"source_type": "ftp", "config": {}}`, "", http.StatusUnprocessableEntity, []string{"body.source_type"}},
		{"missing type", `{"config": {"title": "Q3", "count": 2}}`, "", http.StatusUnprocessableEntity, []string{"body.source_type"}},
		{"type not a string", `{"source_type": 7, "config": {}}`, "", http.StatusUnprocessableEntity, []string{"body.source_type"}},
		{"body not an object", `["notes"]`, "", http.StatusUnprocessableEntity, []string{"body"}},
		{"filings config for notes", `{"source_type": "notes", "config": ` + validConfig + `}`, "", http.StatusUnprocessableEntity,
			[]string{"body.config.cin", "body.config.company_name", "body.config.count", "body.config.title"}},
		{"notes config for filings", `{"source_type": "filings", "config": ` + notesExample + `}`, "", http.StatusUnprocessableEntity,
			[]string{"body.config.cin", "body.config.company_name", "body.config.count", "body.config.title"}},
		{"count over maximum", `{"source_type": "notes", "config": {"title": "Q3", "count": 9}}`, "", http.StatusUnprocessableEntity, []string{"body.config.count"}},
		{"nested type", `{"source_type": "notes", "config": {"title": "Q3", "count": 1, "format": {"upper": "yes"}}}`, "", http.StatusUnprocessableEntity, []string{"body.config.format.upper"}},
		{"config missing", `{"source_type": "notes"}`, "", http.StatusUnprocessableEntity, []string{"body.config"}},
		{"config null", `{"source_type": "plain-text", "config": null}`, "", http.StatusUnprocessableEntity, []string{"body.config"}},
		{"extra property", `{"source_type": "notes", "config": {"title": "Q3", "count": 2}, "priority": 1}`, "", http.StatusUnprocessableEntity, []string{"body.priority"}},
		{"source's own rule", `{"source_type": "notes", "config": {"title": "Secret", "count": 2}}`, "", http.StatusUnprocessableEntity, []string{"body.config.title"}},
		{"filings year rule", `{"source_type": "filings", "config": {"cin": "L17110MH2999PLC019786", "company_name": "Acme"}}`, "", http.StatusUnprocessableEntity, []string{"body.config.cin"}},
		{"malformed", `{"source_type": "notes", `, "", http.StatusBadRequest, []string{"body"}},
		{"not JSON", `source_type=notes`, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := request{method: http.MethodPost, path: "/api/v1/jobs/trigger", body: tt.body}
			if tt.contentType != "" {
				req.header = map[string]string{"Content-Type": tt.contentType}
			}
			r := b.do(t, req)
			if tt.wantStatus == http.StatusAccepted {
				if r.status != http.StatusAccepted {
					t.Fatalf("status %d, want 202; body %s", r.status, r.body)
				}
				return
			}
			p := r.wantProblem(t, tt.wantStatus)
			var got []string
			for _, e := range p.Errors {
				got = append(got, e.Location)
			}
			if tt.wantLocations != nil && strings.Join(got, " ") != strings.Join(tt.wantLocations, " ") {
				t.Errorf("locations %q, want %q; body %s", got, tt.wantLocations, r.body)
			}
		})
	}
}

// TestSourcesExamples checks that GET /api/v1/sources, which feeds the web
// UI's trigger form, offers each source's own example config.
func TestSourcesExamples(t *testing.T) {
	t.Parallel()
	b := newBundle(t, withSources)
	var out struct {
		Sources []struct {
			Type    string          `json:"type"`
			Example json.RawMessage `json:"example"`
		} `json:"sources"`
	}
	b.do(t, request{path: "/api/v1/sources"}).decode(t, &out)
	got := map[string]json.RawMessage{}
	for _, s := range out.Sources {
		got[s.Type] = s.Example
	}
	if len(got) != 3 || got["plain-text"] != nil ||
		!jsonEqual(t, got["notes"], json.RawMessage(notesExample)) || !jsonEqual(t, got["filings"], filings.New(0).Example()) {
		t.Fatalf("sources: %s", mustJSON(t, out))
	}
}

// TestConfigSchemaConflicts checks that sources whose schema names collide
// are refused when the server is built, not half-documented.
func TestConfigSchemaConflicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		sources intake.Sources
	}{
		{"same config name", intake.NewSources(notesSource{}, renamedNotes{notesSource{}, "other", "NotesSourceConfig"})},
		{"same type, two names", intake.NewSources(notesSource{}, renamedNotes{notesSource{}, "other", "OtherSourceConfig"})},
		{"config name taken", intake.NewSources(renamedNotes{notesSource{}, "other", "TriggerResponse"})},
		{"no name", intake.NewSources(renamedNotes{notesSource{}, "other", ""})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := api.OpenAPI(api.Deps{Sources: tt.sources}); err == nil {
				t.Error("OpenAPI accepted the sources")
			}
		})
	}
}

// renamedNotes is notesSource under another type and schema name.
type renamedNotes struct {
	notesSource
	typ, schema string
}

func (r renamedNotes) Type() string { return r.typ }

func (r renamedNotes) ConfigSchema() (string, any) { return r.schema, notesConfig{} }

func jsonEqual(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return mustJSON(t, x) == mustJSON(t, y)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
