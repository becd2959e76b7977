package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/intake-dev/intake"
)

type triggerInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Makes retries safe: the same key with the same body returns the same job; with a different body, 422."`
	// RawBody is the body, validated by sourceBody.parse against the
	// documented oneOf rather than by huma.
	RawBody []byte
	// contentType is the request's Content-Type, set by Resolve.
	contentType string
}

// Resolve implements huma.Resolver: it keeps the Content-Type, which the
// handler checks, since huma does not parse a RawBody.
func (in *triggerInput) Resolve(ctx huma.Context) []error {
	in.contentType = ctx.Header("Content-Type")
	return nil
}

// triggerResponse is the 202 body of POST /api/v1/jobs/trigger.
type triggerResponse struct {
	JobID  string        `json:"job_id" format:"uuid"`
	Status intake.Status `json:"status" enum:"pending,scheduled,processing,completed,failed,cancelled"`
	Links  jobLinks      `json:"links"`
}

type triggerOutput struct {
	Status   int
	Location string `header:"Location"`
	Body     triggerResponse
}

// handleTrigger records a job for any registered source type once the body
// has matched the alternative its source_type selects and the source has
// validated the config. A replay (same Idempotency-Key and body) answers
// with the original job; the same key with another body is a 422.
func handleTrigger(store intake.Store, sources intake.Sources, body *sourceBody, np *notifyPolicy, n notifier, p *problems, m *metrics) func(context.Context, *triggerInput) (*triggerOutput, error) {
	return func(ctx context.Context, in *triggerInput) (*triggerOutput, error) {
		if !intake.ValidText(in.IdempotencyKey) {
			m.createFailures.WithLabelValues(failInvalid).Inc()
			return nil, huma.Error422UnprocessableEntity("validation failed",
				&huma.ErrorDetail{Location: "header.Idempotency-Key", Message: "must be UTF-8 text without NUL"})
		}
		req, err := body.parse(in.contentType, in.RawBody)
		if err != nil {
			m.createFailures.WithLabelValues(failInvalid).Inc()
			return nil, err
		}
		sourceType, config := req.SourceType, req.Config
		src, err := sources.Lookup(sourceType)
		if err != nil {
			m.createFailures.WithLabelValues(failInvalid).Inc()
			return nil, p.from(ctx, err)
		}
		if err := src.Validate(ctx, config); err != nil {
			m.createFailures.WithLabelValues(failInvalid).Inc()
			return nil, p.from(ctx, fmt.Errorf("validate %s config: %w", sourceType, err))
		}
		notify, err := np.parse(req.Fields["notify"])
		if err != nil {
			m.createFailures.WithLabelValues(failInvalid).Inc()
			return nil, err
		}
		job := &intake.Job{
			Tenant:         intake.DefaultTenant,
			SourceType:     sourceType,
			Config:         config,
			IdempotencyKey: in.IdempotencyKey,
			RequestHash:    requestHash(sourceType, config, notify),
			Notify:         np.orDefault(notify),
		}
		jobs, err := store.CreateJobs(ctx, []*intake.Job{job})
		if err != nil {
			m.createFailures.WithLabelValues(failStore).Inc()
			return nil, p.from(ctx, fmt.Errorf("create job: %w", err))
		}
		got := jobs[0]
		if in.IdempotencyKey != "" && got.RequestHash != job.RequestHash {
			m.createFailures.WithLabelValues(failConflict).Inc()
			return nil, huma.Error422UnprocessableEntity(
				"Idempotency-Key was already used with a different request body",
				&huma.ErrorDetail{Location: "header.Idempotency-Key", Message: "reused with a different body", Value: in.IdempotencyKey})
		}
		m.jobsCreated.WithLabelValues(sourceType).Inc()
		if got.Status == intake.StatusPending {
			n.notify(ctx, got.ID)
		}
		links := linksFor(got.ID)
		return &triggerOutput{
			Status:   http.StatusAccepted,
			Location: links.Self,
			Body:     triggerResponse{JobID: got.ID, Status: got.Status, Links: links},
		}, nil
	}
}

// requestHash fingerprints a trigger request for idempotency checks: its
// source type, config and, when the request gave one, notify (so that the
// hashes of requests without one are what they were before notify).
func requestHash(sourceType string, config []byte, notify *intake.Notify) string {
	h := sha256.New()
	h.Write([]byte(sourceType))
	h.Write([]byte{0})
	h.Write(config)
	if notify != nil {
		// A struct of strings cannot fail to marshal; Secret is a NAME.
		b, _ := json.Marshal(notify) //nolint:gosec // G117: Secret names a secret, it is not one
		h.Write([]byte{0})
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sourceRequest is a decoded source body, validated against its schema.
type sourceRequest struct {
	SourceType string
	// Config is the config re-encoded canonically (see canonicalJSON).
	Config json.RawMessage
	// Fields are the body's properties by their exact names, for the
	// kind's own properties (notify, cron, ...).
	Fields map[string]json.RawMessage
}

// parse decodes and validates a source body against the document's schema:
// a malformed body is a 400, one that is not JSON a 415, and one that
// fails the schema a 422 with field errors (body.source_type,
// body.config.cin, ...). The source's own Validate is the caller's step.
func (tb *sourceBody) parse(contentType string, raw []byte) (*sourceRequest, error) {
	if !isJSON(contentType) {
		return nil, huma.Error415UnsupportedMediaType("the body must be application/json, not " + contentType)
	}
	if !utf8.Valid(raw) {
		// encoding/json would turn the bytes into U+FFFD, storing what the
		// client did not send.
		return nil, huma.Error422UnprocessableEntity("validation failed",
			&huma.ErrorDetail{Location: "body", Message: "is not valid UTF-8"})
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, huma.Error400BadRequest("the body is not valid JSON",
			&huma.ErrorDetail{Location: "body", Message: err.Error()})
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, huma.Error422UnprocessableEntity("validation failed",
			&huma.ErrorDetail{Location: "body", Message: "expected object", Value: v})
	}
	// Names are matched exactly: a "Config" beside (or instead of)
	// "config" would be validated, or stored, in its place.
	var variants []error
	for k := range obj {
		if name := tb.caseVariantOf(k); name != "" {
			variants = append(variants, &huma.ErrorDetail{Location: "body." + k,
				Message: "differs from " + name + " only in case; property names are matched exactly"})
		}
	}
	if len(variants) > 0 {
		slices.SortFunc(variants, func(a, b error) int { return strings.Compare(location(a), location(b)) })
		return nil, huma.Error422UnprocessableEntity("validation failed", variants...)
	}
	if loc := nulAt(v, "body"); loc != "" {
		return nil, huma.Error422UnprocessableEntity("validation failed",
			&huma.ErrorDetail{Location: loc, Message: "must not contain NUL (\\u0000)"})
	}
	known := "known: " + strings.Join(tb.types, ", ")
	st, ok := obj[discriminator]
	if !ok {
		return nil, huma.Error422UnprocessableEntity("validation failed",
			&huma.ErrorDetail{Location: "body." + discriminator, Message: "expected required property source_type to be present; " + known})
	}
	typ, ok := st.(string)
	if !ok {
		return nil, huma.Error422UnprocessableEntity("validation failed",
			&huma.ErrorDetail{Location: "body." + discriminator, Message: "expected string; " + known, Value: st})
	}
	if _, ok := tb.alternatives[typ]; !ok {
		return nil, huma.Error422UnprocessableEntity("unknown source_type "+typ,
			&huma.ErrorDetail{Location: "body." + discriminator, Message: "unknown source type; " + known, Value: typ})
	}

	// The discriminator selects the alternative: validating against the
	// oneOf validates against it alone.
	pb := huma.NewPathBuffer(make([]byte, 0, 64), 0)
	pb.Push("body")
	res := &huma.ValidateResult{}
	huma.Validate(tb.reg, tb.schema, pb, huma.ModeWriteToServer, v, res)
	if len(res.Errors) > 0 {
		errs := locateRequired(res.Errors)
		// huma walks objects in map order: sort for stable answers.
		slices.SortStableFunc(errs, func(a, b error) int { return strings.Compare(location(a), location(b)) })
		return nil, huma.Error422UnprocessableEntity("validation failed", errs...)
	}

	// By its exact key: struct decoding would match "Config" as well.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, huma.Error400BadRequest("the body is not valid JSON",
			&huma.ErrorDetail{Location: "body", Message: err.Error()})
	}
	config, err := canonicalJSON(fields["config"])
	if err != nil {
		return nil, huma.Error422UnprocessableEntity("validation failed",
			&huma.ErrorDetail{Location: "body.config", Message: "expected object"})
	}
	return &sourceRequest{SourceType: typ, Config: config, Fields: fields}, nil
}

// caseVariantOf returns the property name that k differs from only in
// case, or "".
func (tb *sourceBody) caseVariantOf(k string) string {
	for _, name := range append([]string{discriminator, "config"}, slices.Sorted(maps.Keys(tb.kind.extra))...) {
		if k != name && strings.EqualFold(k, name) {
			return name
		}
	}
	return ""
}

// nulAt returns the location of the first string in v that holds a NUL,
// or of the object with such a key, or "". Stores keep text without NUL
// (intake.ValidText); PostgreSQL refuses it even in jsonb.
func nulAt(v any, loc string) string {
	switch x := v.(type) {
	case string:
		if strings.ContainsRune(x, 0) {
			return loc
		}
	case []any:
		for i, e := range x {
			if l := nulAt(e, loc+"["+strconv.Itoa(i)+"]"); l != "" {
				return l
			}
		}
	case map[string]any:
		keys := slices.Sorted(maps.Keys(x))
		for _, k := range keys {
			if strings.ContainsRune(k, 0) {
				return loc
			}
			if l := nulAt(x[k], loc+"."+k); l != "" {
				return l
			}
		}
	}
	return ""
}

// locateRequired moves huma's "expected required property x to be present",
// which it locates at the object, to the missing property itself
// (body.config.company_name rather than body.config), as sources locate
// their own field errors.
func locateRequired(errs []error) []error {
	for _, err := range errs {
		var d *huma.ErrorDetail
		if !errors.As(err, &d) {
			continue
		}
		rest, ok := strings.CutPrefix(d.Message, "expected required property ")
		if !ok {
			continue
		}
		if name, ok := strings.CutSuffix(rest, " to be present"); ok && name != "" {
			d.Location += "." + name
			d.Message = "is required"
			d.Value = nil
		}
	}
	return errs
}

// location returns an error detail's location, "" for other errors.
func location(err error) string {
	var d *huma.ErrorDetail
	if errors.As(err, &d) {
		return d.Location
	}
	return ""
}

// isJSON reports whether a request content type is JSON: none at all,
// application/json or a +json type.
func isJSON(contentType string) bool {
	if strings.TrimSpace(contentType) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// canonicalJSON re-encodes a JSON object with sorted keys and no
// insignificant space, keeping numbers exactly as sent. Equal configs then
// hash equally whatever their key order.
func canonicalJSON(raw []byte) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, errors.New("config is null")
	}
	return json.Marshal(v)
}
