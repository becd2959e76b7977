package filings

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	now   func() time.Time
	day   time.Duration
}

var _ intake.Source = (*Source)(nil)

// Option configures a Source.
type Option func(*Source)

// WithClock makes the Source read the time from now (default time.Now):
// Plan fixes a job's filings as of the time it reads.
func WithClock(now func() time.Time) Option {
	return func(s *Source) { s.now = now }
}

// WithDay sets the length of a simulated day (default DefaultDay,
// INTAKE_FILINGS_DAY), on some of which a company files new forms, amends
// a filing or withdraws one. A length below a millisecond is taken as one.
func WithDay(length time.Duration) Option {
	return func(s *Source) { s.day = max(time.Millisecond, length) }
}

// New returns a Source that sleeps delay before producing each document, to
// simulate the portal's latency. A delay of zero or less does not sleep.
func New(delay time.Duration, opts ...Option) *Source {
	s := &Source{delay: max(0, delay), now: time.Now, day: DefaultDay}
	for _, o := range opts {
		o(s)
	}
	return s
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

// Plan returns the number of filings of the config's company as of now
// (the Source's clock), and a checkpoint that fixes that time and the
// simulated day it falls on for every run of the job: the company's
// history of 30 to 50 filings, changed by what the company filed, amended
// and withdrew on the days of the current era up to that day.
func (s *Source) Plan(_ context.Context, config json.RawMessage) (int, []byte, error) {
	cfg, err := parseConfig(config)
	if err != nil {
		return 0, nil, err
	}
	now := s.now().UTC()
	day := dayOf(now, s.day)
	cp, err := json.Marshal(checkpoint{AsOf: now, Day: day})
	if err != nil {
		return 0, nil, fmt.Errorf("filings: encode checkpoint: %w", err)
	}
	c := newCompany(cfg)
	c.evolve(day)
	return len(c.filings), cp, nil
}

// Next returns filing seq (1-based, in date order) of the config's company
// as of the checkpoint's day, after sleeping the Source's delay; it returns
// ctx.Err() if ctx is done first. The item's checkpoint is the one given,
// and its Identity the filing's SRN, which an amendment keeps. A seq
// outside 1..total is an EINVALID error.
func (s *Source) Next(ctx context.Context, config json.RawMessage, seq int, checkpoint []byte) (*intake.Item, error) {
	cfg, err := parseConfig(config)
	if err != nil {
		return nil, err
	}
	day, evolved, err := decodeCheckpoint(checkpoint)
	if err != nil {
		return nil, intake.Permanent(err)
	}
	c := newCompany(cfg)
	if evolved {
		c.evolve(day)
	}
	if seq < 1 || seq > len(c.filings) {
		return nil, intake.Errorf(intake.EINVALID, "filings: document %d out of range 1..%d", seq, len(c.filings))
	}
	if err := s.sleep(ctx); err != nil {
		return nil, err
	}
	f := c.filings[seq-1]
	body := render(c, f, newGen(f.content...))
	return &intake.Item{
		Name:         documentName(f),
		DocumentType: f.form.code,
		ContentType:  ContentType,
		Identity:     f.srn,
		Body:         io.NopCloser(bytes.NewReader(body)),
		Checkpoint:   checkpoint,
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
