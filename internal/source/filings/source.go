package filings

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"time"

	"github.com/intake-dev/intake"
)

// SourceType is the source_type of filings jobs.
const SourceType = "filings"

// ContentType is the content type of every filings document.
const ContentType = "text/plain; charset=utf-8"

// Source simulates downloading a company's ROC filings. It implements
// intake.Source and is safe for concurrent use.
type Source struct {
	delay time.Duration
}

var _ intake.Source = (*Source)(nil)

// New returns a Source that sleeps delay before producing each document, to
// simulate the portal's latency. A delay of zero or less does not sleep.
func New(delay time.Duration) *Source {
	return &Source{delay: max(0, delay)}
}

// Close implements intake.Source; the filings source holds nothing.
func (s *Source) Close() error { return nil }

// Type returns SourceType.
func (s *Source) Type() string { return SourceType }

// Validate checks that config is a JSON object with exactly a valid "cin"
// and a non-empty "company_name". It returns an EINVALID *intake.Error with
// a FieldError per problem, located by field name ("" for the config as a
// whole).
func (s *Source) Validate(_ context.Context, config json.RawMessage) error {
	_, err := parseConfig(config)
	return err
}

// Plan returns the number of filings of the config's company, between 30
// and 50. The checkpoint is nil: every document is derived from the config
// alone.
func (s *Source) Plan(_ context.Context, config json.RawMessage) (int, []byte, error) {
	cfg, err := parseConfig(config)
	if err != nil {
		return 0, nil, err
	}
	return len(newCompany(cfg).filings), nil, nil
}

// Next returns filing seq (1-based, in date order) of the config's company
// after sleeping the Source's delay; it returns ctx.Err() if ctx is done
// first. The checkpoint is ignored and the item's checkpoint is nil. A seq
// outside 1..total is an EINVALID error.
func (s *Source) Next(ctx context.Context, config json.RawMessage, seq int, _ []byte) (*intake.Item, error) {
	cfg, err := parseConfig(config)
	if err != nil {
		return nil, err
	}
	c := newCompany(cfg)
	if seq < 1 || seq > len(c.filings) {
		return nil, intake.Errorf(intake.EINVALID, "filings: document %d out of range 1..%d", seq, len(c.filings))
	}
	if err := s.sleep(ctx); err != nil {
		return nil, err
	}
	f := c.filings[seq-1]
	body := render(c, f, newGen("filings/document", cfg.CIN, strconv.Itoa(seq)))
	return &intake.Item{
		Name:         documentName(f),
		DocumentType: f.form.code,
		Identity:     f.srn,
		ContentType:  ContentType,
		Body:         io.NopCloser(bytes.NewReader(body)),
	}, nil
}

// sleep waits for the Source's delay or until ctx is done.
func (s *Source) sleep(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.delay == 0 {
		return nil
	}
	t := time.NewTimer(s.delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
