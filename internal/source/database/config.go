package database

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/source/configjson"
)

// Formats of documents.
const (
	FormatNDJSON = "ndjson"
	FormatCSV    = "csv"
)

// Limits of a config.
const (
	DefaultRowsPerDocument = 1000
	MaxRowsPerDocument     = 100000
	maxQueryLen            = 100000
	maxParams              = 100
	maxKeyColumns          = 8
	maxParamLen            = 10000
)

// Config is the configuration of a database job. Its tags describe the
// DatabaseSourceConfig OpenAPI schema; each doc tag documents its field.
type Config struct {
	Connection      string   `json:"connection" doc:"Name of an operator-configured connection (INTAKE_SOURCE_DB_<NAME>_URL), matched case-insensitively. Never a DSN." pattern:"^[A-Za-z0-9_]+$" minLength:"1" maxLength:"64" example:"WAREHOUSE"`
	Query           string   `json:"query" doc:"One SELECT or WITH … SELECT statement, run in a read-only transaction with a statement timeout. Parameters are $1, $2, … bound from params." minLength:"1" maxLength:"100000" example:"SELECT id, name, created_at FROM customers WHERE region = $1"`
	Params          []any    `json:"params,omitempty" doc:"JSON scalars (string, number, boolean, null) bound positionally to $1, $2, …; the server converts each from its text form to the parameter's type." maxItems:"100" example:"[\"EU\"]"`
	Key             []string `json:"key" doc:"Result columns forming a unique, never NULL key (e.g. the primary key). Rows are collected in key order, and the job's checkpoint holds the last key, so that documents stay stable while the data changes." minItems:"1" maxItems:"8" example:"[\"id\"]"`
	RowsPerDocument int      `json:"rows_per_document,omitempty" doc:"Rows per document (default 1000)." minimum:"1" maximum:"100000" default:"1000" example:"1000"`
	Format          string   `json:"format,omitempty" doc:"Document format: ndjson (one JSON object per row, application/x-ndjson) or csv (with a header row, text/csv)." enum:"ndjson,csv" default:"ndjson" example:"ndjson"`
}

var (
	connNameRE = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	identRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// parseConfig decodes and checks a job's config against the known
// connection names (upper case). Errors are EINVALID with one FieldError
// per problem, located relative to the config.
func parseConfig(raw json.RawMessage, known map[string]string) (Config, error) {
	fields, ok := configjson.Object(raw)
	if !ok {
		return Config{}, intake.Invalid("database config", intake.FieldError{
			Message: `must be a JSON object with "connection", "query" and "key"`,
		})
	}
	cfg := Config{RowsPerDocument: DefaultRowsPerDocument, Format: FormatNDJSON}
	var errs []intake.FieldError
	add := func(loc, msg string, v any) {
		errs = append(errs, intake.FieldError{Location: loc, Message: msg, Value: v})
	}

	if v, ok := fields["connection"]; !ok {
		add("connection", "is required", nil)
	} else if err := configjson.Decode(v, &cfg.Connection); err != nil {
		add("connection", "must be a string", nil)
	} else {
		switch name := strings.ToUpper(cfg.Connection); {
		case looksLikeDSN(cfg.Connection):
			// Never echo a DSN: it may hold a password.
			add("connection", "must be the name of a configured connection, not a DSN; known: "+knownNames(known), nil)
		case !connNameRE.MatchString(cfg.Connection) || len(cfg.Connection) > 64:
			add("connection", "must be a connection name of letters, digits and underscores; known: "+knownNames(known), cfg.Connection)
		case known[name] == "":
			add("connection", "unknown connection; known: "+knownNames(known), cfg.Connection)
		default:
			cfg.Connection = name
		}
	}

	if v, ok := fields["query"]; !ok {
		add("query", "is required", nil)
	} else if err := configjson.Decode(v, &cfg.Query); err != nil {
		add("query", "must be a string", nil)
	} else {
		cfg.Query = trimQuery(cfg.Query)
		switch {
		case cfg.Query == "":
			add("query", "must not be empty", nil)
		case len(cfg.Query) > maxQueryLen:
			add("query", "must be at most "+strconv.Itoa(maxQueryLen)+" bytes", nil)
		case strings.ContainsRune(cfg.Query, 0):
			add("query", "must not contain NUL characters", nil)
		case !startsWithSelect(cfg.Query):
			add("query", "must be one SELECT or WITH … SELECT statement", nil)
		default:
			if name := refusedCall(cfg.Query); name != "" {
				add("query", "must not call "+name+": it acts outside the read-only transaction or runs SQL from a string", nil)
			}
		}
	}

	if v, ok := fields["params"]; ok && !configjson.IsNull(v) {
		var ps []json.RawMessage
		if err := configjson.Decode(v, &ps); err != nil {
			add("params", "must be an array of JSON scalars", nil)
		} else if len(ps) > maxParams {
			add("params", "must have at most "+strconv.Itoa(maxParams)+" items", nil)
		} else {
			cfg.Params = make([]any, len(ps))
			for i, p := range ps {
				val, ok := scalar(p)
				if !ok {
					add(fmt.Sprintf("params[%d]", i), "must be a string, number, boolean or null", nil)
					continue
				}
				if s, isStr := val.(string); isStr && len(s) > maxParamLen {
					add(fmt.Sprintf("params[%d]", i), "must be at most "+strconv.Itoa(maxParamLen)+" bytes", nil)
					continue
				}
				cfg.Params[i] = val
			}
		}
	}

	if v, ok := fields["key"]; !ok {
		add("key", "is required: the result columns of a unique key, e.g. [\"id\"]", nil)
	} else if err := configjson.Decode(v, &cfg.Key); err != nil || len(cfg.Key) == 0 {
		add("key", "must be a non-empty array of column names", nil)
	} else if len(cfg.Key) > maxKeyColumns {
		add("key", "must have at most "+strconv.Itoa(maxKeyColumns)+" columns", nil)
	} else {
		seen := map[string]bool{}
		for i, k := range cfg.Key {
			switch {
			case !identRE.MatchString(k) || len(k) > 63:
				add(fmt.Sprintf("key[%d]", i), "must be a plain column name ([A-Za-z_][A-Za-z0-9_]*, at most 63 bytes)", k)
			case seen[k]:
				add(fmt.Sprintf("key[%d]", i), "duplicate key column", k)
			}
			seen[k] = true
		}
	}

	if v, ok := fields["rows_per_document"]; ok && !configjson.IsNull(v) {
		if err := configjson.Decode(v, &cfg.RowsPerDocument); err != nil {
			add("rows_per_document", "must be an integer", nil)
		} else if cfg.RowsPerDocument < 1 || cfg.RowsPerDocument > MaxRowsPerDocument {
			add("rows_per_document", "must be between 1 and "+strconv.Itoa(MaxRowsPerDocument), cfg.RowsPerDocument)
		}
	}

	if v, ok := fields["format"]; ok && !configjson.IsNull(v) {
		if err := configjson.Decode(v, &cfg.Format); err != nil {
			add("format", "must be a string", nil)
		} else if cfg.Format != FormatNDJSON && cfg.Format != FormatCSV {
			add("format", "must be ndjson or csv", cfg.Format)
		}
	}

	errs = append(errs, configjson.Unknown(fields, "", "connection", "query", "params", "key", "rows_per_document", "format")...)
	if len(errs) > 0 {
		return Config{}, intake.Invalid("database config", errs...)
	}
	return cfg, nil
}

// scalar converts a JSON scalar to a parameter: strings as is, numbers as
// their literal text and booleans as "true"/"false" (all sent in text
// format, for the server to convert to the parameter's type), null as nil.
func scalar(v json.RawMessage) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, false
	}
	switch x := x.(type) {
	case nil:
		return nil, true
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return nil, false
}

// trimQuery removes surrounding whitespace and trailing semicolons, since
// the query is wrapped in a subquery.
func trimQuery(q string) string {
	return strings.TrimRightFunc(strings.TrimSpace(q), func(r rune) bool { return r == ';' || unicode.IsSpace(r) })
}

// startsWithSelect reports whether q's first keyword, after whitespace and
// comments, is SELECT or WITH. It is only a first filter.
func startsWithSelect(q string) bool {
	for {
		q = strings.TrimLeftFunc(q, unicode.IsSpace)
		switch {
		case strings.HasPrefix(q, "--"):
			i := strings.IndexByte(q, '\n')
			if i < 0 {
				return false
			}
			q = q[i+1:]
		case strings.HasPrefix(q, "/*"):
			i := strings.Index(q, "*/")
			if i < 0 {
				return false
			}
			q = q[i+2:]
		default:
			word := q[:len(q)-len(strings.TrimLeftFunc(q, func(r rune) bool { return unicode.IsLetter(r) }))]
			word = strings.ToUpper(word)
			return word == "SELECT" || word == "WITH"
		}
	}
}

// looksLikeDSN reports whether s looks like a connection string rather
// than a name.
func looksLikeDSN(s string) bool {
	l := strings.ToLower(s)
	return strings.Contains(l, "://") || strings.Contains(l, "=") || strings.Contains(l, "@") ||
		strings.HasPrefix(l, "postgres") && strings.ContainsAny(l, ":/")
}

// knownNames lists the configured connection names, sorted.
func knownNames(known map[string]string) string {
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return "(none configured)"
	}
	return strings.Join(names, ", ")
}
