package intake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Source collects documents of one source_type ("filings", "api",
// "database", "file"). A Source keeps no job state: everything it needs to
// resume lives in the job's config and checkpoint, so that any worker
// process (a fresh KEDA pod, say) can continue where the last run stopped.
// Every Source passes the conformance suite in internal/source/sourcetest.
type Source interface {
	// Type returns the source_type this Source serves.
	Type() string
	// Validate checks a job's config. It returns an EINVALID *Error (see
	// Invalid) with a FieldError per problem, located relative to the
	// config ("cin", "pagination.mode", "params[2]"; "" for the config as a
	// whole); an unknown field is a problem at its own location. The API
	// calls it at trigger time and the worker again before collecting.
	Validate(ctx context.Context, config json.RawMessage) error
	// Plan runs once per job, on its first run. It returns the total number
	// of documents (TotalUnknown when the source cannot know it) and the
	// initial checkpoint, or Validate's error for an invalid config.
	Plan(ctx context.Context, config json.RawMessage) (total int, checkpoint []byte, err error)
	// Next produces document seq (1-based) given the checkpoint saved with
	// document seq-1 (or the plan's checkpoint for seq 1). Given the same
	// seq and checkpoint, any Source of the type, in any process, produces
	// the same document while the data it collects stay the same: a run
	// that lost its lease is repeated from the last saved checkpoint.
	//
	// A source of unknown size returns ErrExhausted when it has no more
	// documents, and again on every later call with that checkpoint; for a
	// source of known size, a seq outside 1..total is an EINVALID error.
	// When ctx is done, Next returns promptly with an error wrapping ctx's
	// error. Other errors are transient unless marked with Permanent or
	// EINVALID; a RetryAfterError reschedules the job without holding its
	// lease.
	Next(ctx context.Context, config json.RawMessage, seq int, checkpoint []byte) (*Item, error)
	// Close releases what the Source holds across jobs (the database
	// source's connection pools, the api source's idle connections). The
	// Source is not used after Close; a Source that holds nothing returns
	// nil.
	Close() error
}

// Bounded is implemented by Sources of unknown size that know an upper
// bound on it, such as the api source's max_pages. For such a job the worker
// collects the batch fraction of the bound per run instead of a fixed
// number, and the job completes when the source is exhausted or the bound is
// reached.
type Bounded interface {
	// MaxDocuments returns the most documents a job with this config can
	// have; 0 or less means no bound.
	MaxDocuments(config json.RawMessage) int
}

// Item is one document produced by a Source. The worker streams Body to the
// blob store and closes it.
type Item struct {
	Name         string
	DocumentType string
	ContentType  string
	// Identity is the document's stable identity within the source (see
	// Document.Identity): the same for the same document in every
	// collection, whatever its content.
	Identity string
	Body     io.ReadCloser
	// Checkpoint is the source state after this document; it is saved with
	// the document's metadata and passed to the next call of Next.
	Checkpoint []byte
}

// Sources is a registry of Sources by type.
type Sources map[string]Source

// NewSources returns a registry holding srcs.
func NewSources(srcs ...Source) Sources {
	r := make(Sources, len(srcs))
	for _, s := range srcs {
		r[s.Type()] = s
	}
	return r
}

// Lookup returns the Source for a type, or an EINVALID error naming the
// known types.
func (r Sources) Lookup(sourceType string) (Source, error) {
	if s, ok := r[sourceType]; ok {
		return s, nil
	}
	return nil, &Error{
		Code:    EINVALID,
		Message: "unknown source_type " + sourceType + "; known: " + joinKeys(r),
	}
}

// Close closes every Source in the registry and returns their errors
// joined.
func (r Sources) Close() error {
	var errs []error
	for _, typ := range r.Types() {
		if err := r[typ].Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s source: %w", typ, err))
		}
	}
	return errors.Join(errs...)
}

// Types returns the registered source types in sorted order.
func (r Sources) Types() []string {
	out := make([]string, 0, len(r))
	for k := range r {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}
