package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"unicode"

	"github.com/danielgtaylor/huma/v2"

	"github.com/intake-dev/intake"
)

// ConfigDescriber is implemented by Sources that describe their config for
// the OpenAPI document, where the trigger request body is a oneOf over the
// registered source types with source_type as its discriminator. A Source
// that does not implement it is documented as taking any object.
type ConfigDescriber interface {
	// ConfigSchema returns the name of the config's schema component (e.g.
	// "ApiSourceConfig") and a value of the config struct, from whose type
	// and tags the JSON Schema is derived.
	ConfigSchema() (name string, config any)
	// Example returns an example config for the docs and the web UI.
	Example() json.RawMessage
}

// schemaPrefix is where the OpenAPI document keeps its schema components.
const schemaPrefix = "#/components/schemas/"

// discriminator is the property of the trigger body that selects the
// alternative of its oneOf.
const discriminator = "source_type"

// configTypes maps the config types of the Sources that implement
// ConfigDescriber to the names of their schema components, so that
// two sources' types called Config do not collide. Nested named types of a
// source's package are named after their config ("ApiSourcePagination" for
// a Pagination type next to ApiSourceConfig).
type configTypes struct {
	names    map[reflect.Type]string
	prefixes map[string]string // package path → component name prefix
}

// newConfigTypes collects the config types of sources. It fails when two
// sources claim the same component name or one config type under two names.
func newConfigTypes(sources intake.Sources) (*configTypes, error) {
	ct := &configTypes{names: map[reflect.Type]string{}, prefixes: map[string]string{}}
	owner := map[string]string{}
	for _, typ := range sources.Types() {
		d, ok := sources[typ].(ConfigDescriber)
		if !ok {
			continue
		}
		name, v := d.ConfigSchema()
		if !validConfigName(name) || v == nil {
			return nil, fmt.Errorf("api: source %q describes its config as %q: want a name like ApiSourceConfig and a value", typ, name)
		}
		if other, dup := owner[name]; dup {
			return nil, fmt.Errorf("api: sources %q and %q both name their config schema %s", other, typ, name)
		}
		owner[name] = typ
		t := derefType(reflect.TypeOf(v))
		if t.Kind() != reflect.Struct || t.Name() == "" {
			// Inlined into its alternative; nothing to name.
			continue
		}
		if prev, dup := ct.names[t]; dup && prev != name {
			return nil, fmt.Errorf("api: config type %s is described as both %s and %s", t, prev, name)
		}
		ct.names[t] = name
		ct.prefixes[t.PkgPath()] = strings.TrimSuffix(name, "Config")
	}
	return ct, nil
}

// validConfigName reports whether name is an identifier ending in
// SourceConfig, which keeps the sources' schema names apart from the API's
// own.
func validConfigName(name string) bool {
	base, ok := strings.CutSuffix(name, "SourceConfig")
	if !ok || base == "" || !unicode.IsUpper([]rune(base)[0]) {
		return false
	}
	return !strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// namer is the registry's schema namer: huma's default, except for the
// sources' config types and their packages' other named types.
func (ct *configTypes) namer(t reflect.Type, hint string) string {
	d := derefType(t)
	if name, ok := ct.names[d]; ok {
		return name
	}
	name := huma.DefaultSchemaNamer(t, hint)
	if p, ok := ct.prefixes[d.PkgPath()]; ok && d.Name() != "" {
		return p + name
	}
	return name
}

func derefType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// sourceBody describes and validates a request body that selects a source:
// a oneOf over the registered source types, each alternative
// {source_type: const, config: $ref <Name>SourceConfig, ...the kind's own
// properties}, with source_type as the discriminator. The trigger's and
// the schedule's bodies are both sourceBodies, so that a schedule's source
// config is validated exactly like a trigger's. huma documents the schema,
// but the handler validates the body itself (the operation skips huma's
// body validation), so that an unknown or missing source_type is reported
// at body.source_type instead of as "matched no schema" at body.
type sourceBody struct {
	reg huma.Registry
	// schema is the oneOf, as in the document.
	schema *huma.Schema
	// alternatives are the component names of the alternatives by type.
	alternatives map[string]string
	// examples are one example body per source type that offers one.
	examples map[string]*huma.Example
	types    []string
	kind     bodyKind
}

// bodyKind is what sets one family of source bodies apart: the suffix of
// its alternatives' component names, their description, the properties
// they have besides source_type and config, and what its examples add.
type bodyKind struct {
	// suffix names the alternatives: "TriggerRequest" makes
	// FilingsTriggerRequest.
	suffix string
	// describe returns an alternative's description for a source type.
	describe func(typ string) string
	// about is the oneOf's description.
	about string
	// extra are the properties besides source_type and config.
	extra map[string]*huma.Schema
	// example adds the kind's properties to an example body.
	example map[string]any
}

// newSourceBody derives a body's schema from sources and adds the config
// and alternative schemas to reg's components.
func newSourceBody(reg huma.Registry, sources intake.Sources, kind bodyKind) (*sourceBody, error) {
	tb := &sourceBody{
		reg:          reg,
		alternatives: map[string]string{},
		examples:     map[string]*huma.Example{},
		types:        sources.Types(),
		kind:         kind,
	}
	components := reg.Map()
	mapping := map[string]string{}
	oneOf := make([]*huma.Schema, 0, len(tb.types))
	for _, typ := range tb.types {
		config, base, err := configSchema(reg, typ, sources[typ])
		if err != nil {
			return nil, err
		}
		altName := base + kind.suffix
		if _, dup := components[altName]; dup {
			return nil, fmt.Errorf("api: schema %s for source %q is already defined", altName, typ)
		}
		props := map[string]*huma.Schema{
			discriminator: {
				Type:        huma.TypeString,
				Description: "The source type.",
				// const for OpenAPI 3.1; enum for the 3.0 downgrade,
				// which keeps const as it is.
				Enum:       []any{typ},
				Extensions: map[string]any{"const": typ},
			},
			"config": config,
		}
		maps.Copy(props, kind.extra)
		alt := &huma.Schema{
			Type:                 huma.TypeObject,
			Title:                typ,
			Description:          kind.describe(typ),
			Properties:           props,
			Required:             []string{discriminator, "config"},
			AdditionalProperties: false,
		}
		alt.PrecomputeMessages()
		components[altName] = alt
		if reg.SchemaFromRef(schemaPrefix+altName) != alt {
			return nil, errors.New("api: the schema registry does not accept components")
		}
		tb.alternatives[typ] = altName
		mapping[typ] = schemaPrefix + altName
		oneOf = append(oneOf, &huma.Schema{Ref: schemaPrefix + altName})
		if ex := example(sources[typ]); ex != nil {
			var v any
			if err := json.Unmarshal(ex, &v); err != nil {
				return nil, fmt.Errorf("api: source %q: example config is not JSON: %w", typ, err)
			}
			value := map[string]any{discriminator: typ, "config": v}
			maps.Copy(value, kind.example)
			tb.examples[typ] = &huma.Example{
				Summary: "A " + typ + " " + strings.ToLower(strings.TrimSuffix(kind.suffix, "Request")),
				Value:   value,
			}
		}
	}
	tb.schema = &huma.Schema{
		Description:   kind.about,
		OneOf:         oneOf,
		Discriminator: &huma.Discriminator{PropertyName: discriminator, Mapping: mapping},
	}
	tb.schema.PrecomputeMessages()
	return tb, nil
}

// configSchema returns the schema of a source's config (a reference to its
// component when the source describes it, else any object) and the base
// of its alternatives' component names ("Filings"). huma panics on a schema name it already gave
// another type; that is an error here.
func configSchema(reg huma.Registry, typ string, src intake.Source) (s *huma.Schema, base string, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, base, err = nil, "", fmt.Errorf("api: source %q: describe config: %v", typ, r)
		}
	}()
	d, ok := src.(ConfigDescriber)
	if !ok {
		s := &huma.Schema{
			Type:                 huma.TypeObject,
			Description:          "Source-specific configuration, validated by the source.",
			AdditionalProperties: true,
		}
		s.PrecomputeMessages()
		return s, exportedName(typ), nil
	}
	name, v := d.ConfigSchema()
	s = reg.Schema(reflect.TypeOf(v), true, name)
	if s.Ref != "" && s.Ref != schemaPrefix+name {
		return nil, "", fmt.Errorf("api: source %q: config schema registered as %s, want %s", typ, s.Ref, name)
	}
	return s, strings.TrimSuffix(strings.TrimSuffix(name, "Config"), "Source"), nil
}

// exportedName turns a source type such as "my-source" into "MySource".
func exportedName(typ string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(typ, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		r := []rune(part)
		b.WriteString(strings.ToUpper(string(r[0])) + string(r[1:]))
	}
	if b.Len() == 0 {
		return "Source"
	}
	return b.String()
}

// example returns a source's example config, if it offers one (the
// Example method of ConfigDescriber, alone or with ConfigSchema).
func example(src intake.Source) json.RawMessage {
	if d, ok := src.(interface{ Example() json.RawMessage }); ok {
		if ex := d.Example(); len(ex) > 0 {
			return ex
		}
	}
	return nil
}

// requestBody returns the operation's documented request body.
func (tb *sourceBody) requestBody(description string) *huma.RequestBody {
	return &huma.RequestBody{
		Description: description,
		Required:    true,
		Content: map[string]*huma.MediaType{
			"application/json": {Schema: tb.schema, Examples: tb.examples},
		},
	}
}
