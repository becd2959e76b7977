package file

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/source/configjson"
)

// Config is the configuration of a file job. Its tags describe the OpenAPI
// schema (FileSourceConfig) that the API derives from it; each doc tag
// documents its field.
type Config struct {
	Pattern     string `json:"pattern" doc:"A glob relative to the operator's file root (INTAKE_SOURCE_FILE_ROOT), with doublestar syntax: * and ? within one path segment, ** across segments, [a-z] classes and {a,b} alternatives; / separates segments. Absolute patterns and . or .. segments are rejected. Each matching regular file is one document; directories are not collected." minLength:"1" maxLength:"1024" example:"reports/2024/**/*.pdf"`
	MaxFileSize int64  `json:"max_file_size,omitempty" doc:"The largest file to collect, in bytes; larger files are skipped and listed in the _skipped.json report. Default and upper bound: the operator's limit (1 GiB unless configured)." minimum:"1" example:"104857600"`
}

// maxPatternLen caps Config.Pattern, in bytes.
const maxPatternLen = 1024

// dotSegmentRE finds a "." or ".." path segment, also as one alternative
// of a {…} group, where doublestar would expand it into a segment.
var dotSegmentRE = regexp.MustCompile(`(^|[/{,])\.\.?([/},]|$)`)

// parseConfig decodes and validates a job's config against the operator's
// maximum file size. A missing max_file_size takes maxSize. Errors are
// EINVALID with one FieldError per problem, located relative to the config
// ("pattern", "max_file_size", the name of an unknown field, or "" for the
// config as a whole).
func parseConfig(raw json.RawMessage, maxSize int64) (Config, error) {
	fields, ok := configjson.Object(raw)
	if !ok {
		return Config{}, intake.Invalid("file config", intake.FieldError{Location: "", Message: `must be a JSON object with "pattern"`})
	}
	var (
		cfg  Config
		errs []intake.FieldError
	)
	if v, ok := fields["pattern"]; !ok {
		errs = append(errs, intake.FieldError{Location: "pattern", Message: "is required"})
	} else if err := configjson.Decode(v, &cfg.Pattern); err != nil {
		errs = append(errs, intake.FieldError{Location: "pattern", Message: "must be a string"})
	} else if msg := checkPattern(cfg.Pattern); msg != "" {
		errs = append(errs, intake.FieldError{Location: "pattern", Message: msg, Value: cfg.Pattern})
	}

	cfg.MaxFileSize = maxSize
	if v, ok := fields["max_file_size"]; ok {
		// An integer literal only: json.Number would also take "10".
		size, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		switch {
		case err != nil:
			errs = append(errs, intake.FieldError{Location: "max_file_size", Message: "must be an integer number of bytes", Value: v})
		case size < 1 || size > maxSize:
			errs = append(errs, intake.FieldError{Location: "max_file_size",
				Message: "must be between 1 and " + strconv.FormatInt(maxSize, 10) + " bytes (the operator's limit)", Value: size})
		default:
			cfg.MaxFileSize = size
		}
	}

	errs = append(errs, configjson.Unknown(fields, "", "pattern", "max_file_size")...)
	if len(errs) > 0 {
		return Config{}, intake.Invalid("file config", errs...)
	}
	return cfg, nil
}

// checkPattern returns why pattern is not acceptable, or "" when it is. The
// checks give a clear message at trigger time; containment itself is
// enforced by os.Root when the files are walked and opened.
func checkPattern(p string) string {
	switch {
	case p == "":
		return "must not be empty"
	case len(p) > maxPatternLen:
		return "must be at most " + strconv.Itoa(maxPatternLen) + " bytes"
	case strings.ContainsFunc(p, unicode.IsControl):
		return "must not contain control characters"
	case strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) || hasDrive(p):
		return "must be relative to the file root, not absolute"
	case dotSegmentRE.MatchString(p):
		return `must not contain "." or ".." segments`
	case strings.Contains(p, "//") || strings.HasSuffix(p, "/"):
		return "must not contain empty segments or end with /"
	case !doublestar.ValidatePattern(p):
		return "is not a valid glob (check [ ] and { } pairs and escapes)"
	}
	return ""
}

// hasDrive reports whether p starts with a Windows drive path ("C:/").
func hasDrive(p string) bool {
	return len(p) >= 3 && p[1] == ':' && (p[2] == '/' || p[2] == '\\') &&
		(p[0]|0x20) >= 'a' && (p[0]|0x20) <= 'z'
}
