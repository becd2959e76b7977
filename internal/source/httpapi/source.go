package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/intake-dev/intake"
)

// SourceType is the source_type of api jobs.
const SourceType = "api"

// SchemaName is the name of the config's OpenAPI schema component.
const SchemaName = "ApiSourceConfig"

// DocumentType is the document_type of every api document.
const DocumentType = "page"

// Defaults of Options.
const (
	DefaultMaxResponseBytes = 32 << 20
	DefaultMaxRedirects     = 5
	DefaultMaxRetryWait     = 30 * time.Second
	DefaultMaxAttempts      = 3
	DefaultRetryBaseDelay   = 500 * time.Millisecond
	dialTimeout             = 10 * time.Second
)

// Secret is an operator-configured value (INTAKE_SECRET_<NAME>) that job
// configs reference by name in secret_headers, and the hosts it may be sent
// to. A secret with no hosts is never sent.
type Secret struct {
	Value string
	// Hosts are host names (case-insensitive, without port), or "*.suffix"
	// for the subdomains of suffix.
	Hosts []string
}

// allows reports whether the secret may be sent to host.
func (s Secret) allows(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	for _, a := range s.Hosts {
		a = strings.ToLower(strings.TrimSuffix(a, "."))
		if a == h {
			return true
		}
		if suffix, ok := strings.CutPrefix(a, "*"); ok && strings.HasPrefix(suffix, ".") && strings.HasSuffix(h, suffix) {
			return true
		}
	}
	return false
}

// Options configures a Source. Zero fields take the documented defaults.
type Options struct {
	// Allow opens the egress policy: CIDRs, addresses and host names
	// (INTAKE_SOURCE_HTTP_ALLOW). See NewPolicy.
	Allow []string
	// Secrets are the secrets configs may reference, by name. Names match
	// case-insensitively.
	Secrets map[string]Secret
	// Resolver resolves host names. Default net.DefaultResolver.
	Resolver Resolver
	// MaxResponseBytes caps each page's body; a larger page fails the job.
	// Default 32 MiB.
	MaxResponseBytes int64
	// MaxRedirects caps the redirects followed per request. Default 5; a
	// negative value follows none.
	MaxRedirects int
	// MaxRetryWait is the longest wait for a 429 or 5xx that a run sleeps
	// through; a longer one (from Retry-After) reschedules the job with an
	// intake.RetryAfterError instead. Default 30s.
	MaxRetryWait time.Duration
	// MaxAttempts is how many times a page is requested within one run
	// while the server answers 429 or 5xx. Default 3.
	MaxAttempts int
	// RetryBaseDelay is the first backoff between attempts when the server
	// gives no Retry-After; it doubles with each attempt. Default 500ms.
	RetryBaseDelay time.Duration
	// Logger receives per-page debug logs and retry warnings; nil discards
	// them. Secret values and query strings are never logged.
	Logger *slog.Logger
}

// Source collects pages from an HTTP API, one document per page. It
// implements intake.Source, intake.Bounded and api.ConfigDescriber and is
// safe for concurrent use.
type Source struct {
	policy    *Policy
	secrets   map[string]Secret // by upper-case name
	transport *http.Transport
	opts      Options
	logger    *slog.Logger
}

var (
	_ intake.Source  = (*Source)(nil)
	_ intake.Bounded = (*Source)(nil)
)

// New returns a Source with the given options. It fails when an Allow entry
// is malformed.
func New(opts Options) (*Source, error) {
	policy, err := NewPolicy(opts.Allow)
	if err != nil {
		return nil, fmt.Errorf("api source: %w", err)
	}
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	switch {
	case opts.MaxRedirects == 0:
		opts.MaxRedirects = DefaultMaxRedirects
	case opts.MaxRedirects < 0:
		opts.MaxRedirects = 0
	}
	if opts.MaxRetryWait <= 0 {
		opts.MaxRetryWait = DefaultMaxRetryWait
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.RetryBaseDelay <= 0 {
		opts.RetryBaseDelay = DefaultRetryBaseDelay
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	secrets := make(map[string]Secret, len(opts.Secrets))
	for name, sec := range opts.Secrets {
		secrets[strings.ToUpper(name)] = sec
	}
	d := &dialer{policy: policy, resolver: opts.Resolver, timeout: dialTimeout}
	tr := &http.Transport{
		Proxy:                 nil, // never via a proxy: the policy judges the address dialled
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       60 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &Source{policy: policy, secrets: secrets, transport: tr, opts: opts, logger: logger}, nil
}

// Close releases idle connections.
func (s *Source) Close() { s.transport.CloseIdleConnections() }

// Type returns SourceType.
func (s *Source) Type() string { return SourceType }

// ConfigSchema returns the ApiSourceConfig schema name and a Config.
func (s *Source) ConfigSchema() (string, any) { return SchemaName, Config{} }

// Example returns an example config: a cursor-paginated JSON API with a
// bearer token from the operator's ACME_TOKEN secret.
func (s *Source) Example() json.RawMessage {
	return json.RawMessage(`{"url":"https://api.example.com/v1/filings","query":{"status":"final"},` +
		`"secret_headers":{"Authorization":"ACME_TOKEN"},"headers":{"Accept":"application/json"},` +
		`"pagination":{"mode":"cursor","cursor_param":"cursor","cursor_field":"meta.next_cursor"},"max_pages":50,"timeout":30}`)
}

// Validate checks config: fields, types and ranges, the URL against the
// egress policy (IP literals and numeric spellings; names are resolved only
// when collecting), and every secret_headers entry against the configured
// secrets and the hosts each may be sent to. Problems are reported as an
// EINVALID *intake.Error with one FieldError each.
func (s *Source) Validate(_ context.Context, config json.RawMessage) error {
	_, err := s.parseConfig(config)
	return err
}

// MaxDocuments returns the config's max_pages (0 for an invalid config).
func (s *Source) MaxDocuments(config json.RawMessage) int {
	cfg, err := s.parseConfig(config)
	if err != nil {
		return 0
	}
	return cfg.maxPages
}

// checkpoint is the state saved with each page: the URL of the next page
// and the pagination counters, or done when there is none. It never holds
// header values.
type checkpoint struct {
	URL    string `json:"url,omitempty"`
	Page   int    `json:"page,omitempty"`
	Offset int    `json:"offset,omitempty"`
	Cursor string `json:"cursor,omitempty"`
	Done   bool   `json:"done,omitempty"`
}

// Plan returns intake.TotalUnknown and a checkpoint naming the first page.
func (s *Source) Plan(_ context.Context, config json.RawMessage) (int, []byte, error) {
	cfg, err := s.parseConfig(config)
	if err != nil {
		return 0, nil, err
	}
	cp := cfg.first()
	b, err := json.Marshal(cp)
	if err != nil {
		return 0, nil, fmt.Errorf("api source: encode checkpoint: %w", err)
	}
	return intake.TotalUnknown, b, nil
}

// first returns the checkpoint of the first page.
func (cfg *config) first() checkpoint {
	switch cfg.mode {
	case ModePage:
		return checkpoint{URL: cfg.pageURL(cfg.start, 0, ""), Page: cfg.start}
	case ModeOffset:
		return checkpoint{URL: cfg.pageURL(0, 0, "")}
	}
	return checkpoint{URL: cfg.pageURL(0, 0, "")}
}

// pageURL returns the config's URL with the pagination parameters of a page
// set for the config's mode.
func (cfg *config) pageURL(page, offset int, cursor string) string {
	u := *cfg.url
	q := u.Query()
	switch cfg.mode {
	case ModePage:
		q.Set(cfg.page.PageParam, strconv.Itoa(page))
		if cfg.page.SizeParam != "" && cfg.page.PageSize > 0 {
			q.Set(cfg.page.SizeParam, strconv.Itoa(cfg.page.PageSize))
		}
	case ModeOffset:
		q.Set(cfg.page.OffsetParam, strconv.Itoa(offset))
		q.Set(cfg.page.SizeParam, strconv.Itoa(cfg.page.PageSize))
	case ModeCursor:
		if cursor != "" {
			q.Set(cfg.page.CursorParam, cursor)
		}
	default:
		return u.String()
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Next fetches the page the checkpoint names and returns it as document
// seq, with the checkpoint of the page after it. It returns
// intake.ErrExhausted when the previous page was the last one, or seq is
// past max_pages.
//
// In modes auto, link and none the body is streamed: Item.Body is the live
// response body, capped at MaxResponseBytes (past it, reading fails with a
// permanent error). Modes page, offset and cursor must read the JSON to find
// the next page, so they hold one page (at most MaxResponseBytes) in memory.
func (s *Source) Next(ctx context.Context, config json.RawMessage, seq int, cpRaw []byte) (*intake.Item, error) {
	cfg, err := s.parseConfig(config)
	if err != nil {
		return nil, err
	}
	if seq > cfg.maxPages {
		return nil, intake.ErrExhausted
	}
	cp := cfg.first()
	if len(cpRaw) > 0 {
		cp = checkpoint{}
		if err := json.Unmarshal(cpRaw, &cp); err != nil {
			return nil, intake.Permanent(fmt.Errorf("api source: decode checkpoint of page %d: %w", seq, err))
		}
	}
	if cp.Done || cp.URL == "" {
		return nil, intake.ErrExhausted
	}
	u, msg := s.checkURL(cp.URL)
	if msg != "" {
		return nil, intake.Permanent(fmt.Errorf("api source: page %d url %s: %s", seq, redactURL(cp.URL), msg))
	}

	resp, cancel, err := s.fetch(ctx, cfg, u) //nolint:bodyclose // closed by cappedBody.Close, by the worker or below
	if err != nil {
		return nil, err
	}
	body := &cappedBody{rc: resp.Body, limit: s.opts.MaxResponseBytes, cancel: cancel, url: redact(u)}
	contentType := resp.Header.Get("Content-Type")
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	item := &intake.Item{
		Name:         pageName(seq, contentType),
		DocumentType: DocumentType,
		ContentType:  contentType,
	}
	if resp.ContentLength > s.opts.MaxResponseBytes {
		_ = body.Close()
		return nil, intake.Permanent(fmt.Errorf("api source: page %d from %s: Content-Length %d exceeds the %d-byte limit", seq, redact(u), resp.ContentLength, s.opts.MaxResponseBytes))
	}

	var next checkpoint
	switch cfg.mode {
	case ModeAuto, ModeLink, ModeNone:
		next = checkpoint{Done: true}
		if cfg.mode != ModeNone {
			if link, ok := nextLink(resp); ok && link != cp.URL {
				next = checkpoint{URL: link}
			}
		}
		item.Body = body
	default:
		data, err := io.ReadAll(body)
		_ = body.Close()
		if err != nil {
			return nil, fmt.Errorf("api source: page %d: %w", seq, err)
		}
		var exhausted bool
		next, exhausted, err = cfg.advance(cp, data, seq)
		if err != nil {
			return nil, intake.Permanent(fmt.Errorf("api source: page %d from %s: %w", seq, redact(u), err))
		}
		if exhausted {
			return nil, intake.ErrExhausted
		}
		item.Body = io.NopCloser(bytes.NewReader(data))
	}
	if seq >= cfg.maxPages {
		next = checkpoint{Done: true}
	}
	item.Checkpoint, err = json.Marshal(next)
	if err != nil {
		_ = item.Body.Close()
		return nil, fmt.Errorf("api source: encode checkpoint: %w", err)
	}
	s.logger.DebugContext(ctx, "api page fetched", "seq", seq, "url", redact(u), "status", resp.StatusCode,
		"content_type", contentType, "last", next.Done)
	return item, nil
}

// advance computes the checkpoint after a page of a JSON mode from the
// page's body. It reports exhausted when the page is empty and not the
// first, in which case the page is not a document.
func (cfg *config) advance(cp checkpoint, data []byte, seq int) (next checkpoint, exhausted bool, err error) {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return checkpoint{}, false, fmt.Errorf("response is not JSON (pagination mode %s needs it): %w", cfg.mode, err)
	}
	switch cfg.mode {
	case ModeCursor:
		v, _ := lookup(doc, cfg.page.CursorField)
		var cursor string
		switch c := v.(type) {
		case string:
			cursor = c
		case json.Number:
			cursor = c.String()
		case nil:
		default:
			return checkpoint{}, false, fmt.Errorf("cursor_field %q is neither a string nor a number", cfg.page.CursorField)
		}
		if cursor == "" || cursor == cp.Cursor {
			return checkpoint{Done: true}, false, nil
		}
		return checkpoint{URL: cfg.pageURL(0, 0, cursor), Cursor: cursor}, false, nil
	default: // page, offset
		v, ok := lookup(doc, cfg.page.ItemsField)
		items, isArray := v.([]any)
		if !ok || !isArray {
			return checkpoint{}, false, fmt.Errorf("items_field %q is not an array in the response", cfg.page.ItemsField)
		}
		if len(items) == 0 {
			if seq > 1 {
				return checkpoint{}, true, nil
			}
			return checkpoint{Done: true}, false, nil
		}
		if cfg.page.PageSize > 0 && len(items) < cfg.page.PageSize {
			return checkpoint{Done: true}, false, nil
		}
		if cfg.mode == ModePage {
			return checkpoint{URL: cfg.pageURL(cp.Page+1, 0, ""), Page: cp.Page + 1}, false, nil
		}
		off := cp.Offset + len(items)
		return checkpoint{URL: cfg.pageURL(0, off, ""), Offset: off}, false, nil
	}
}

// lookup follows a dotted path of object keys (and array indexes) in v.
func lookup(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	for key := range strings.SplitSeq(path, ".") {
		switch t := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = t[key]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// pageName returns "page-000001" with an extension for the content type.
func pageName(seq int, contentType string) string {
	ext := ".bin"
	mt, _, err := mime.ParseMediaType(contentType)
	if err == nil {
		switch {
		case mt == "application/json" || strings.HasSuffix(mt, "+json"):
			ext = ".json"
		case mt == "application/x-ndjson" || mt == "application/jsonl":
			ext = ".ndjson"
		case mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"):
			ext = ".xml"
		case mt == "text/csv":
			ext = ".csv"
		case mt == "text/html":
			ext = ".html"
		case mt == "text/plain":
			ext = ".txt"
		case mt == "application/pdf":
			ext = ".pdf"
		}
	}
	return fmt.Sprintf("page-%06d%s", seq, ext)
}

// nextLink returns the absolute URL of the response's Link rel="next", if
// any, resolved against the URL the response came from.
func nextLink(resp *http.Response) (string, bool) {
	for _, l := range parseLinks(resp.Header.Values("Link")) {
		if !l.hasRel("next") {
			continue
		}
		ref, err := url.Parse(l.target)
		if err != nil {
			return "", false
		}
		return resp.Request.URL.ResolveReference(ref).String(), true
	}
	return "", false
}

// cappedBody is a response body that fails permanently once more than
// limit bytes have been read, and cancels the request's context on Close.
type cappedBody struct {
	rc     io.ReadCloser
	limit  int64
	n      int64
	cancel context.CancelFunc
	url    string
}

// Read implements io.Reader.
func (b *cappedBody) Read(p []byte) (int, error) {
	if b.n > b.limit {
		return 0, b.tooLarge()
	}
	if room := b.limit + 1 - b.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if b.n > b.limit {
		return n - int(b.n-b.limit), b.tooLarge()
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("read response from %s: %w", b.url, unwrapURLError(err))
	}
	return n, err
}

func (b *cappedBody) tooLarge() error {
	return intake.Permanent(fmt.Errorf("response from %s exceeds the %d-byte limit", b.url, b.limit))
}

// Close implements io.Closer.
func (b *cappedBody) Close() error {
	err := b.rc.Close()
	b.cancel()
	return err
}
