package filings

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/source/configjson"
)

// Config is the configuration of a filings job. Its tags describe the
// FilingsSourceConfig OpenAPI schema that the API derives from it; each doc
// tag documents its field.
type Config struct {
	CIN         string `json:"cin" doc:"Corporate Identification Number: listing status (L or U), 5-digit industry code, 2-letter state code, year of incorporation, 3-letter company class and 6-digit registration number." pattern:"^[LU][0-9]{5}[A-Z]{2}[0-9]{4}[A-Z]{3}[0-9]{6}$" minLength:"21" maxLength:"21" example:"L27100MH1998PLC112233"`
	CompanyName string `json:"company_name" doc:"Registered name of the company; surrounding whitespace is ignored." minLength:"1" maxLength:"200" example:"Sahyadri Steel Limited"`
}

// maxNameLen caps CompanyName, in characters, after trimming.
const maxNameLen = 200

// minCINYear is the earliest year of incorporation a CIN may carry.
const minCINYear = 1900

var cinRE = regexp.MustCompile(`^[LU][0-9]{5}[A-Z]{2}[0-9]{4}[A-Z]{3}[0-9]{6}$`)

// ValidCIN reports whether s is a well-formed CIN whose year of
// incorporation (characters 9 to 12) lies between 1900 and the current year.
func ValidCIN(s string) bool {
	if !cinRE.MatchString(s) {
		return false
	}
	y := cinYear(s)
	return y >= minCINYear && y <= time.Now().Year()
}

// cinYear returns the year of incorporation of a CIN that matches cinRE.
func cinYear(cin string) int {
	y, _ := strconv.Atoi(cin[8:12])
	return y
}

// parseConfig decodes and validates a job's config. The returned config's
// CompanyName is trimmed. Errors are EINVALID with one FieldError per
// problem, located relative to the config ("cin", "company_name", or the
// name of an unknown field; "" for the config as a whole).
func parseConfig(raw json.RawMessage) (Config, error) {
	fields, ok := configjson.Object(raw)
	if !ok {
		return Config{}, intake.Invalid("filings config", intake.FieldError{
			Location: "",
			Message:  `must be a JSON object with "cin" and "company_name"`,
		})
	}

	var (
		cfg  Config
		errs []intake.FieldError
	)
	for _, f := range []struct {
		name string
		dst  *string
	}{{"cin", &cfg.CIN}, {"company_name", &cfg.CompanyName}} {
		v, ok := fields[f.name]
		if !ok {
			errs = append(errs, intake.FieldError{Location: f.name, Message: "is required"})
			continue
		}
		if err := configjson.Decode(v, f.dst); err != nil {
			errs = append(errs, intake.FieldError{Location: f.name, Message: "must be a string"})
			continue
		}
		switch f.name {
		case "cin":
			if fe, ok := checkCIN(cfg.CIN); !ok {
				errs = append(errs, fe)
			}
		case "company_name":
			cfg.CompanyName = strings.TrimSpace(cfg.CompanyName)
			if fe, ok := checkName(cfg.CompanyName); !ok {
				errs = append(errs, fe)
			}
		}
	}
	errs = append(errs, configjson.Unknown(fields, "", "cin", "company_name")...)
	if len(errs) > 0 {
		return Config{}, intake.Invalid("filings config", errs...)
	}
	return cfg, nil
}

func checkCIN(cin string) (intake.FieldError, bool) {
	fe := intake.FieldError{Location: "cin", Value: cin}
	switch {
	case !cinRE.MatchString(cin):
		fe.Message = "must match " + cinRE.String() + ", e.g. L27100MH1998PLC112233"
	case cinYear(cin) < minCINYear || cinYear(cin) > time.Now().Year():
		fe.Message = "year of incorporation (characters 9-12) must be between " +
			strconv.Itoa(minCINYear) + " and " + strconv.Itoa(time.Now().Year())
	default:
		return fe, true
	}
	return fe, false
}

func checkName(name string) (intake.FieldError, bool) {
	fe := intake.FieldError{Location: "company_name"}
	switch {
	case name == "":
		fe.Message = "must not be empty"
	case utf8.RuneCountInString(name) > maxNameLen:
		fe.Message = "must be at most " + strconv.Itoa(maxNameLen) + " characters"
	case strings.ContainsFunc(name, unicode.IsControl):
		fe.Message = "must not contain control characters"
		fe.Value = name
	default:
		return fe, true
	}
	return fe, false
}

// ConfigSchemaName is the name of the OpenAPI schema component that
// describes a filings job's config.
const ConfigSchemaName = "FilingsSourceConfig"

// ConfigSchema implements api.ConfigDescriber: the API derives the
// FilingsSourceConfig schema from Config's type and tags.
func (s *Source) ConfigSchema() (name string, config any) {
	return ConfigSchemaName, Config{}
}

// Example implements api.ConfigDescriber with a valid config for the API
// docs and the web UI's trigger form.
func (s *Source) Example() json.RawMessage {
	return json.RawMessage(`{"cin": "L17110MH1973PLC019786", "company_name": "Example Industries Limited"}`)
}
