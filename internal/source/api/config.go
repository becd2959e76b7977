package api

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/redact"
	"github.com/intake-dev/intake/internal/source/configjson"
)

// Config is the configuration of an api job. Its tags describe the
// ApiSourceConfig OpenAPI schema that the API derives from it; each doc tag
// documents its field.
type Config struct {
	URL           string            `json:"url" format:"uri" minLength:"1" maxLength:"2048" example:"https://api.example.com/v1/filings?status=final" doc:"The first page's URL, http or https. Special-purpose addresses (loopback, private, link-local, …) are refused unless the operator allows them (INTAKE_SOURCE_HTTP_ALLOW). Credentials may not appear in it: use secret_headers."`
	Method        string            `json:"method,omitempty" enum:"GET,POST" default:"GET" doc:"HTTP method of every page request."`
	Headers       map[string]string `json:"headers,omitempty" doc:"Literal request headers. Authorization, Cookie and Proxy-Authorization are refused here (use secret_headers), as are headers the client manages (Host, Content-Length, …)."`
	SecretHeaders map[string]string `json:"secret_headers,omitempty" doc:"Header name to the NAME of an operator-configured secret (INTAKE_SECRET_<NAME>), e.g. {\"Authorization\": \"ACME_TOKEN\"}. Each secret is bound to the hosts it may be sent to; it is never sent elsewhere, not even after a redirect."`
	Query         map[string]string `json:"query,omitempty" doc:"Query parameters added to the URL (they replace parameters of the same name)."`
	Body          any               `json:"body,omitempty" doc:"JSON body of POST requests, sent with Content-Type application/json unless headers say otherwise."`
	Pagination    *Pagination       `json:"pagination,omitempty" doc:"How the next page is found; default mode auto."`
	MaxPages      int               `json:"max_pages,omitempty" minimum:"1" maximum:"10000" default:"100" doc:"Most pages to collect; the job completes at this many even if the API has more."`
	Timeout       int               `json:"timeout,omitempty" minimum:"1" maximum:"300" default:"30" doc:"Seconds each page request may take, reading the body included."`
}

// Pagination configures how the api source finds the next page; each doc
// tag documents its field.
type Pagination struct {
	Mode        string `json:"mode,omitempty" enum:"auto,link,page,offset,cursor,none" default:"auto" doc:"auto and link follow an RFC 8288 Link rel=\"next\" header and stop without one; page counts a page parameter up; offset adds page_size to an offset parameter; cursor sends the value of cursor_field from each JSON response as cursor_param; none fetches one page. page and offset stop at an empty page, or after a page with fewer than page_size items."`
	PageParam   string `json:"page_param,omitempty" maxLength:"128" default:"page" doc:"page mode: query parameter of the page number."`
	StartPage   *int   `json:"start_page,omitempty" minimum:"0" default:"1" doc:"page mode: number of the first page."`
	OffsetParam string `json:"offset_param,omitempty" maxLength:"128" default:"offset" doc:"offset mode: query parameter of the offset (0 for the first page)."`
	SizeParam   string `json:"size_param,omitempty" maxLength:"128" doc:"page and offset modes: query parameter of the page size, sent with page_size (offset mode default limit)."`
	PageSize    int    `json:"page_size,omitempty" minimum:"1" maximum:"100000" doc:"page and offset modes: items per page; required for offset."`
	ItemsField  string `json:"items_field,omitempty" maxLength:"256" example:"data.items" doc:"page and offset modes: dotted path of the items array in the JSON response (empty: the response is the array)."`
	CursorParam string `json:"cursor_param,omitempty" maxLength:"128" default:"cursor" doc:"cursor mode: query parameter the cursor is sent in."`
	CursorField string `json:"cursor_field,omitempty" maxLength:"256" example:"meta.next_cursor" doc:"cursor mode (required): dotted path of the next cursor (a string or number) in the JSON response; missing, null or empty ends the job."`
}

// Pagination modes.
const (
	ModeAuto   = "auto"
	ModeLink   = "link"
	ModePage   = "page"
	ModeOffset = "offset"
	ModeCursor = "cursor"
	ModeNone   = "none"
)

// Limits and defaults of Config.
const (
	DefaultMaxPages = 100
	MaxMaxPages     = 10000
	DefaultTimeout  = 30 * time.Second
	MaxTimeout      = 5 * time.Minute
	maxURLLen       = 2048
	maxHeaders      = 50
	maxHeaderValue  = 8 << 10
	maxQueryParams  = 100
	maxBodyBytes    = 1 << 20
)

// forbiddenHeaders may not be set by a config: the client manages them, or
// they carry credentials that belong in secret_headers.
var forbiddenHeaders = map[string]string{
	"Host":                "is set from the url",
	"Content-Length":      "is managed by the client",
	"Transfer-Encoding":   "is managed by the client",
	"Connection":          "is managed by the client",
	"Keep-Alive":          "is managed by the client",
	"Upgrade":             "is managed by the client",
	"Te":                  "is managed by the client",
	"Trailer":             "is managed by the client",
	"Proxy-Connection":    "is managed by the client",
	"Authorization":       "carries credentials: reference a secret in secret_headers",
	"Proxy-Authorization": "carries credentials: reference a secret in secret_headers",
	"Cookie":              "carries credentials: reference a secret in secret_headers",
}

var topFields = []string{"url", "method", "headers", "secret_headers", "query", "body", "pagination", "max_pages", "timeout"}

var paginationFields = []string{"mode", "page_param", "start_page", "offset_param", "size_param", "page_size", "items_field", "cursor_param", "cursor_field"}

// config is a parsed and validated Config with defaults applied.
type config struct {
	Config
	url      *url.URL // with Query merged in
	mode     string
	body     []byte // encoded Body, nil for none
	timeout  time.Duration
	maxPages int
	page     Pagination // with defaults
	start    int        // first page number
}

// parseConfig decodes and validates a job's config against the Source's
// secrets and egress policy. Errors are EINVALID with one FieldError per
// problem, located relative to the config ("url", "pagination.mode", …).
func (s *Source) parseConfig(raw json.RawMessage) (*config, error) {
	var errs []intake.FieldError
	add := func(loc, msg string, val any) {
		errs = append(errs, intake.FieldError{Location: loc, Message: msg, Value: val})
	}
	fields, ok := configjson.Object(raw)
	if !ok {
		return nil, intake.Invalid("api config", intake.FieldError{Message: `must be a JSON object with at least "url"`})
	}
	errs = append(errs, configjson.Unknown(fields, "", topFields...)...)
	var cfg config
	decode := func(loc string, v json.RawMessage, dst any, what string) bool {
		if err := configjson.Decode(v, dst); err != nil {
			add(loc, "must be "+what, nil)
			return false
		}
		return true
	}

	if v, ok := fields["url"]; !ok {
		add("url", "is required", nil)
	} else if decode("url", v, &cfg.URL, "a string") {
		if u, msg := s.checkURL(cfg.URL); msg != "" {
			add("url", msg, redact.Location(cfg.URL))
		} else {
			cfg.url = u
		}
	}

	cfg.Method = "GET"
	if v, ok := fields["method"]; ok && decode("method", v, &cfg.Method, "a string") {
		cfg.Method = strings.ToUpper(cfg.Method)
		if cfg.Method != "GET" && cfg.Method != "POST" {
			add("method", "must be GET or POST", cfg.Method)
		}
	}

	if v, ok := fields["headers"]; ok && decode("headers", v, &cfg.Headers, "an object of strings") {
		if len(cfg.Headers) > maxHeaders {
			add("headers", "must have at most "+strconv.Itoa(maxHeaders)+" entries", nil)
		}
		for _, name := range slices.Sorted(maps.Keys(cfg.Headers)) {
			loc := "headers." + name
			if msg := checkHeaderName(name); msg != "" {
				add(loc, msg, nil)
				continue
			}
			if why, bad := forbiddenHeaders[http.CanonicalHeaderKey(name)]; bad {
				add(loc, why, nil)
				continue
			}
			if msg := checkHeaderValue(cfg.Headers[name]); msg != "" {
				add(loc, msg, nil)
			}
		}
	}

	if v, ok := fields["secret_headers"]; ok && decode("secret_headers", v, &cfg.SecretHeaders, "an object of secret names") {
		if len(cfg.SecretHeaders) > maxHeaders {
			add("secret_headers", "must have at most "+strconv.Itoa(maxHeaders)+" entries", nil)
		}
		for _, name := range slices.Sorted(maps.Keys(cfg.SecretHeaders)) {
			loc := "secret_headers." + name
			if msg := checkHeaderName(name); msg != "" {
				add(loc, msg, nil)
				continue
			}
			if why, bad := forbiddenHeaders[http.CanonicalHeaderKey(name)]; bad && !strings.HasPrefix(why, "carries credentials") {
				add(loc, why, nil)
				continue
			}
			for other := range cfg.Headers {
				if http.CanonicalHeaderKey(other) == http.CanonicalHeaderKey(name) {
					add(loc, "is also set in headers", nil)
				}
			}
			secretName := cfg.SecretHeaders[name]
			sec, ok := s.secret(secretName)
			switch {
			case !ok:
				add(loc, "names no configured secret", secretName)
			case cfg.url != nil && !sec.allows(cfg.url.Hostname()):
				add(loc, "secret "+secretName+" may not be sent to host "+cfg.url.Hostname(), secretName)
			}
		}
	}

	if v, ok := fields["query"]; ok && decode("query", v, &cfg.Query, "an object of strings") {
		if len(cfg.Query) > maxQueryParams {
			add("query", "must have at most "+strconv.Itoa(maxQueryParams)+" entries", nil)
		}
		if cfg.url != nil {
			q := cfg.url.Query()
			for k, val := range cfg.Query {
				if k == "" {
					add("query", "parameter names must not be empty", nil)
				}
				q.Set(k, val)
			}
			cfg.url.RawQuery = q.Encode()
			if len(cfg.url.String()) > maxURLLen {
				add("query", "makes the url longer than "+strconv.Itoa(maxURLLen)+" characters", nil)
			}
		}
	}

	if v, ok := fields["body"]; ok && !configjson.IsNull(v) {
		var compact bytes.Buffer
		switch {
		case json.Compact(&compact, v) != nil:
			add("body", "must be JSON", nil)
		case compact.Len() > maxBodyBytes:
			add("body", "must be at most 1 MiB", nil)
		case cfg.Method != "POST":
			add("body", "is only sent with method POST", nil)
		default:
			cfg.body = compact.Bytes()
		}
	}

	cfg.maxPages = DefaultMaxPages
	if v, ok := fields["max_pages"]; ok && decode("max_pages", v, &cfg.MaxPages, "an integer") {
		if cfg.MaxPages < 1 || cfg.MaxPages > MaxMaxPages {
			add("max_pages", "must be between 1 and "+strconv.Itoa(MaxMaxPages), cfg.MaxPages)
		} else {
			cfg.maxPages = cfg.MaxPages
		}
	}
	cfg.timeout = DefaultTimeout
	if v, ok := fields["timeout"]; ok && decode("timeout", v, &cfg.Timeout, "an integer number of seconds") {
		if d := time.Duration(cfg.Timeout) * time.Second; d < time.Second || d > MaxTimeout {
			add("timeout", "must be between 1 and "+strconv.Itoa(int(MaxTimeout/time.Second))+" seconds", cfg.Timeout)
		} else {
			cfg.timeout = d
		}
	}

	cfg.mode = ModeAuto
	if v, ok := fields["pagination"]; ok && !configjson.IsNull(v) {
		errs = append(errs, cfg.parsePagination(v)...)
	}

	if len(errs) > 0 {
		return nil, intake.Invalid("api config", errs...)
	}
	return &cfg, nil
}

// parsePagination decodes and checks the pagination object into cfg.
func (cfg *config) parsePagination(raw json.RawMessage) []intake.FieldError {
	var errs []intake.FieldError
	add := func(loc, msg string, val any) {
		errs = append(errs, intake.FieldError{Location: "pagination." + loc, Message: msg, Value: val})
	}
	fields, ok := configjson.Object(raw)
	if !ok {
		return []intake.FieldError{{Location: "pagination", Message: "must be an object"}}
	}
	errs = append(errs, configjson.Unknown(fields, "pagination.", paginationFields...)...)
	var p Pagination
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			add(te.Field, "has the wrong type (want "+te.Type.String()+")", nil)
		} else {
			add("", "is malformed", nil)
		}
		return errs
	}
	if p.Mode == "" {
		p.Mode = ModeAuto
	}
	switch p.Mode {
	case ModeAuto, ModeLink, ModeNone:
	case ModePage:
		p.PageParam = cmp.Or(p.PageParam, "page")
	case ModeOffset:
		p.OffsetParam = cmp.Or(p.OffsetParam, "offset")
		p.SizeParam = cmp.Or(p.SizeParam, "limit")
		if p.PageSize == 0 {
			add("page_size", "is required in offset mode", nil)
		}
	case ModeCursor:
		p.CursorParam = cmp.Or(p.CursorParam, "cursor")
		if p.CursorField == "" {
			add("cursor_field", "is required in cursor mode", nil)
		}
	default:
		add("mode", "must be one of auto, link, page, offset, cursor, none", p.Mode)
	}
	if p.PageSize < 0 || p.PageSize > 100000 {
		add("page_size", "must be between 1 and 100000", p.PageSize)
	}
	cfg.start = 1
	if p.StartPage != nil {
		if *p.StartPage < 0 {
			add("start_page", "must not be negative", *p.StartPage)
		}
		cfg.start = *p.StartPage
	}
	for _, f := range []struct{ loc, v string }{
		{"page_param", p.PageParam}, {"offset_param", p.OffsetParam}, {"size_param", p.SizeParam},
		{"cursor_param", p.CursorParam}, {"items_field", p.ItemsField}, {"cursor_field", p.CursorField},
	} {
		if len(f.v) > 256 || strings.ContainsFunc(f.v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			add(f.loc, "must be at most 256 printable characters", nil)
		}
	}
	cfg.mode, cfg.page = p.Mode, p
	cfg.Pagination = &p
	return errs
}
