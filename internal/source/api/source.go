package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/egress"
	"github.com/intake-dev/intake/internal/redact"
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

// Options configures a Source. Zero fields take the documented defaults.
type Options struct {
	// Allow opens the egress policy: CIDRs, addresses and host names
	// (INTAKE_SOURCE_HTTP_ALLOW). See egress.NewPolicy.
	Allow []string
	// Secrets are the secrets configs may reference, by name. Names match
	// case-insensitively.
	Secrets map[string]Secret
	// Resolver resolves host names. Default net.DefaultResolver.
	Resolver egress.Resolver
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
	policy    *egress.Policy
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
	policy, err := egress.NewPolicy(opts.Allow)
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
	tr := egress.NewTransport(egress.NewDialer(policy, opts.Resolver, dialTimeout))
	return &Source{policy: policy, secrets: secrets, transport: tr, opts: opts, logger: logger}, nil
}

// Close closes the idle connections of the Source's transport.
func (s *Source) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

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

// Next fetches the page the checkpoint names and returns it as document
// seq, with the checkpoint of the page after it. The document's Identity is
// the config's first-page URL without secrets and the page's number (see
// identity). It returns
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
		return nil, intake.Permanent(fmt.Errorf("api source: page %d url %s: %s", seq, redact.Location(cp.URL), msg))
	}

	resp, cancel, err := s.fetch(ctx, cfg, u) //nolint:bodyclose // closed by cappedBody.Close, by the worker or below
	if err != nil {
		return nil, err
	}
	body := &cappedBody{rc: resp.Body, limit: s.opts.MaxResponseBytes, cancel: cancel, url: redact.Location(u.String())}
	contentType := resp.Header.Get("Content-Type")
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	item := &intake.Item{
		Name:         pageName(seq, contentType),
		DocumentType: DocumentType,
		ContentType:  contentType,
		Identity:     cfg.identity(seq),
	}
	if resp.ContentLength > s.opts.MaxResponseBytes {
		_ = body.Close()
		return nil, intake.Permanent(fmt.Errorf("api source: page %d from %s: Content-Length %d exceeds the %d-byte limit", seq, redact.Location(u.String()), resp.ContentLength, s.opts.MaxResponseBytes))
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
			return nil, intake.Permanent(fmt.Errorf("api source: page %d from %s: %w", seq, redact.Location(u.String()), err))
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
	s.logger.DebugContext(ctx, "api page fetched", "seq", seq, "url", redact.Location(u.String()), "status", resp.StatusCode,
		"content_type", contentType, "last", next.Done)
	return item, nil
}
