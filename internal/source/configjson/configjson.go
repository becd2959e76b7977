// Package configjson reads a job's config the way every source does: one
// JSON object with nothing after it, null refused where a field needs a
// value, and each field the source does not know reported at its own
// location. The checks of each field's value stay in its source, which
// alone knows them.
package configjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"

	"github.com/intake-dev/intake"
)

// Object decodes raw into its fields. It reports false unless raw is one
// JSON object followed by nothing but whitespace: null, an array, a
// malformed or a trailing value are not a config.
func Object(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return fields, true
}

// IsNull reports whether the field value v is the JSON literal null.
func IsNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }

// errNull is Decode's error for a null value.
var errNull = errors.New("null")

// Decode decodes the field value v into dst. Null is an error: encoding/json
// would leave dst as it was and call that success.
func Decode(v json.RawMessage, dst any) error {
	if IsNull(v) {
		return errNull
	}
	return json.Unmarshal(v, dst)
}

// Unknown returns an "unknown field" error for each key of fields that is
// not in known, sorted, located at prefix+key ("pagination." for a nested
// object, "" at the top).
func Unknown(fields map[string]json.RawMessage, prefix string, known ...string) []intake.FieldError {
	var keys []string
	for k := range fields {
		if !slices.Contains(known, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	errs := make([]intake.FieldError, len(keys))
	for i, k := range keys {
		errs[i] = intake.FieldError{Location: prefix + k, Message: "unknown field"}
	}
	return errs
}
