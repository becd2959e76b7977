// Package sourcetest is the conformance suite of intake.Source. Every
// source runs it unchanged from its own tests, with a Harness that builds
// Sources over a real peer (an HTTP server on loopback, the test
// PostgreSQL, a temporary directory):
//
//	func TestConformance(t *testing.T) {
//		t.Parallel()
//		sourcetest.Run(t, harness)
//	}
//
// The suite tests the contract written on intake.Source through its
// methods only: configs are refused with located field errors, a job
// collected by one Source equals the job collected by a fresh Source per
// document, the end of a job is signalled the same way every time, and a
// cancelled context stops Next.
package sourcetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/intake-dev/intake"
)

// Harness returns a Bundle for one (sub)test: a fresh peer and the means
// to open Sources over it.
type Harness func(t *testing.T) Bundle

// Bundle is what a source's harness provides.
type Bundle struct {
	// Open returns a new Source over the bundle's peer. The suite opens
	// several per test, to show that a checkpoint carries all that a fresh
	// process needs, and closes each one itself.
	Open func(t *testing.T) intake.Source
	// Configs are valid configs by name; the suite runs its tests for each.
	// Every config collects at least three documents, no two with the same
	// name and content, and none of its top-level fields accepts a value of
	// every JSON type. Collecting a config twice yields the same documents
	// while the peer's data stay the same (a simulated source fixes its
	// clock).
	Configs map[string]json.RawMessage
	// Stall, when not nil, returns a Source and a config whose first
	// document blocks on the peer until Next's context is done, and a
	// channel closed once Next is blocked (nil when the harness cannot tell;
	// the suite then cancels at once). A source whose peer cannot stall (a
	// local disk) leaves Stall nil and its test is skipped.
	Stall func(t *testing.T) (src intake.Source, config json.RawMessage, blocked <-chan struct{})
}

// minDocuments is the fewest documents a config must collect.
const minDocuments = 3

// maxDocuments ends a job that does not: the source never signals its end.
const maxDocuments = 10_000

// Run runs the conformance suite against the Sources that h provides. Each
// test runs in parallel with its own Bundle.
func Run(t *testing.T, h Harness) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, Bundle)
	}{
		{"Validate/UnknownField", testUnknownField},
		{"Validate/NotAnObject", testNotAnObject},
		{"Validate/WrongType", testWrongType},
		{"Resume", testResume},
		{"Identity", testIdentity},
		{"End", testEnd},
		{"Cancel/Before", testCancelBefore},
		{"Cancel/While", testCancelWhile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := h(t)
			if len(b.Configs) == 0 {
				t.Fatal("the harness provides no config")
			}
			tt.fn(t, b)
		})
	}
}

// forEachConfig runs fn as a subtest for each of the bundle's configs.
func forEachConfig(t *testing.T, b Bundle, fn func(t *testing.T, config json.RawMessage)) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(b.Configs)) {
		t.Run(name, func(t *testing.T) { fn(t, b.Configs[name]) })
	}
}

// open opens a Source and closes it when the test ends.
func open(t *testing.T, b Bundle) intake.Source {
	t.Helper()
	s := b.Open(t)
	closeAtEnd(t, s)
	return s
}

func closeAtEnd(t *testing.T, s intake.Source) {
	t.Helper()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

// withField returns config with its top-level field name set to the JSON
// value v.
func withField(t *testing.T, config json.RawMessage, name, v string) json.RawMessage {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(config, &fields); err != nil {
		t.Fatalf("the harness's config is not a JSON object: %v", err)
	}
	fields[name] = json.RawMessage(v)
	out, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fieldErrors returns the field errors of an EINVALID *intake.Error, and
// fails the test for any other error or one that is not permanent.
func fieldErrors(t *testing.T, what string, err error) []intake.FieldError {
	t.Helper()
	var e *intake.Error
	if !errors.As(err, &e) || e.Code != intake.EINVALID {
		t.Fatalf("%s = %v, want an EINVALID *intake.Error", what, err)
	}
	if !intake.IsPermanent(err) {
		t.Errorf("%s: the validation error is not permanent", what)
	}
	if len(e.Fields) == 0 {
		t.Errorf("%s: EINVALID without field errors: %v", what, err)
	}
	for _, f := range e.Fields {
		if f.Message == "" {
			t.Errorf("%s: field error at %q has no message", what, f.Location)
		}
	}
	return e.Fields
}

// locatedAt reports whether a field error is located at field or inside
// it ("pagination.mode", "params[0]").
func locatedAt(fields []intake.FieldError, field string) bool {
	for _, f := range fields {
		if f.Location == field || strings.HasPrefix(f.Location, field+".") || strings.HasPrefix(f.Location, field+"[") {
			return true
		}
	}
	return false
}

func locations(fields []intake.FieldError) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = fmt.Sprintf("%q", f.Location)
	}
	return out
}

// testUnknownField: a field the source does not know is refused at its own
// location, by Validate and by Plan.
func testUnknownField(t *testing.T, b Bundle) {
	s := open(t, b)
	forEachConfig(t, b, func(t *testing.T, config json.RawMessage) {
		const name = "intake_conformance_unknown"
		bad := withField(t, config, name, "true")
		fields := fieldErrors(t, "Validate", s.Validate(t.Context(), bad))
		if !locatedAt(fields, name) {
			t.Errorf("Validate: no field error at %q, got %v", name, locations(fields))
		}
		_, _, err := s.Plan(t.Context(), bad)
		if fields := fieldErrors(t, "Plan", err); !locatedAt(fields, name) {
			t.Errorf("Plan: no field error at %q, got %v", name, locations(fields))
		}
	})
}

// testNotAnObject: a config that is not one JSON object is refused as a
// whole, located at "".
func testNotAnObject(t *testing.T, b Bundle) {
	s := open(t, b)
	config := b.Configs[slices.Sorted(maps.Keys(b.Configs))[0]]
	for _, raw := range []string{``, `null`, `[]`, `"config"`, `42`, `{`, string(config) + `}`, string(config) + ` {}`} {
		fields := fieldErrors(t, fmt.Sprintf("Validate(%.40q)", raw), s.Validate(t.Context(), json.RawMessage(raw)))
		if !slices.ContainsFunc(fields, func(f intake.FieldError) bool { return f.Location == "" }) {
			t.Errorf("Validate(%.40q): no field error for the whole config, got %v", raw, locations(fields))
		}
	}
}

// testWrongType: each top-level field of a valid config, given a value of
// another JSON type, is refused at its location.
func testWrongType(t *testing.T, b Bundle) {
	s := open(t, b)
	forEachConfig(t, b, func(t *testing.T, config json.RawMessage) {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(config, &fields); err != nil {
			t.Fatalf("the harness's config is not a JSON object: %v", err)
		}
		for _, name := range slices.Sorted(maps.Keys(fields)) {
			v := bytes.TrimSpace(fields[name])
			wrong := `"intake"`
			switch {
			case len(v) == 0 || string(v) == "null":
				continue
			case v[0] == '"':
				wrong = `12345`
			}
			got := fieldErrors(t, "Validate with "+name+"="+wrong, s.Validate(t.Context(), withField(t, config, name, wrong)))
			if !locatedAt(got, name) {
				t.Errorf("Validate with %s=%s: no field error at %q, got %v", name, wrong, name, locations(got))
			}
		}
	})
}

// document is what the suite keeps of an item.
type document struct {
	name, documentType, contentType, identity string
	body, checkpoint                          []byte
}

// job is a job's documents and how it ended.
type job struct {
	total int // as planned
	docs  []document
	plan  []byte // the plan's checkpoint
}

// last returns the seq and checkpoint the job ended with.
func (j job) last() (int, []byte) {
	if len(j.docs) == 0 {
		return 0, j.plan
	}
	return len(j.docs), j.docs[len(j.docs)-1].checkpoint
}

// next calls Next with a copy of the checkpoint, as the store hands one
// back, and reads and closes the body.
func next(ctx context.Context, s intake.Source, config json.RawMessage, seq int, cp []byte) (document, error) {
	item, err := s.Next(ctx, config, seq, bytes.Clone(cp))
	if err != nil {
		if item != nil {
			return document{}, fmt.Errorf("Next(%d) returned an item with its error %w", seq, err)
		}
		return document{}, err
	}
	if item == nil || item.Body == nil {
		return document{}, fmt.Errorf("Next(%d) returned no item and no error", seq)
	}
	body, err := io.ReadAll(item.Body)
	if cerr := item.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return document{}, fmt.Errorf("document %d: read body: %w", seq, err)
	}
	return document{item.Name, item.DocumentType, item.ContentType, item.Identity, body, item.Checkpoint}, nil
}

// collect plans and collects a whole job. With fresh set, the plan and
// every document come from a new Source, closed right after, as when each
// run of a job starts in a new process.
func collect(t *testing.T, b Bundle, config json.RawMessage, fresh bool) job {
	t.Helper()
	ctx := t.Context()
	var s intake.Source
	source := func() intake.Source {
		if s != nil && !fresh {
			return s
		}
		if s != nil {
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}
		s = b.Open(t)
		return s
	}
	defer func() {
		if s == nil {
			return
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	if err := source().Validate(ctx, config); err != nil {
		t.Fatalf("Validate(valid config) = %v", err)
	}
	total, cp, err := source().Plan(ctx, config)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	j := job{total: total, plan: bytes.Clone(cp)}
	for seq := 1; total == intake.TotalUnknown || seq <= total; seq++ {
		if seq > maxDocuments {
			t.Fatalf("no end after %d documents", maxDocuments)
		}
		d, err := next(ctx, source(), config, seq, cp)
		if total == intake.TotalUnknown && errors.Is(err, intake.ErrExhausted) {
			break
		}
		if err != nil {
			t.Fatalf("Next(%d): %v", seq, err)
		}
		j.docs = append(j.docs, d)
		cp = d.checkpoint
	}
	return j
}

// testResume: a job collected by one Source, and the same job collected
// by a fresh Source for its plan and for every document from the
// checkpoint the one before saved, yield the same documents: none
// missing, none twice.
func testResume(t *testing.T, b Bundle) {
	forEachConfig(t, b, func(t *testing.T, config json.RawMessage) {
		one := collect(t, b, config, false)
		if len(one.docs) < minDocuments {
			t.Fatalf("the harness's config collects %d documents, want at least %d", len(one.docs), minDocuments)
		}
		seen := map[string]int{}
		for i, d := range one.docs {
			key := d.name + "\x00" + string(d.body)
			if first, dup := seen[key]; dup {
				t.Fatalf("documents %d and %d are the same (%q)", first, i+1, d.name)
			}
			seen[key] = i + 1
		}
		s := open(t, b)
		if bounded, ok := s.(intake.Bounded); ok {
			if n := bounded.MaxDocuments(config); n > 0 && len(one.docs) > n {
				t.Errorf("collected %d documents, over MaxDocuments %d", len(one.docs), n)
			}
		}

		fresh := collect(t, b, config, true)
		if fresh.total != one.total {
			t.Errorf("planned total %d in a fresh Source, %d in one", fresh.total, one.total)
		}
		if len(fresh.docs) != len(one.docs) {
			t.Errorf("%d documents with a fresh Source per document, %d with one", len(fresh.docs), len(one.docs))
		}
		for i := range min(len(fresh.docs), len(one.docs)) {
			a, f := one.docs[i], fresh.docs[i]
			if a.name != f.name || a.documentType != f.documentType || a.contentType != f.contentType ||
				a.identity != f.identity || !bytes.Equal(a.body, f.body) {
				t.Errorf("document %d resumed in a fresh Source differs: %q (%s, %s, %d bytes), want %q (%s, %s, %d bytes)",
					i+1, f.name, f.documentType, f.contentType, len(f.body), a.name, a.documentType, a.contentType, len(a.body))
			}
		}
	})
}

// testIdentity: every document has an identity, no two documents of a job
// share one, and a second collection of the same config, by another
// Source, gives each document the identity it had in the first: the
// identity is what a job of a schedule matches its previous job's
// documents by.
func testIdentity(t *testing.T, b Bundle) {
	forEachConfig(t, b, func(t *testing.T, config json.RawMessage) {
		first := collect(t, b, config, false)
		seen := map[string]int{}
		for i, d := range first.docs {
			if d.identity == "" {
				t.Errorf("document %d (%q) has no identity", i+1, d.name)
				continue
			}
			if prev, dup := seen[d.identity]; dup {
				t.Errorf("documents %d and %d have the same identity %q", prev, i+1, d.identity)
			}
			seen[d.identity] = i + 1
		}
		second := collect(t, b, config, false)
		if len(second.docs) != len(first.docs) {
			t.Fatalf("a second collection has %d documents, the first %d", len(second.docs), len(first.docs))
		}
		for i := range first.docs {
			if a, b := first.docs[i].identity, second.docs[i].identity; a != b {
				t.Errorf("document %d has identity %q in one collection, %q in another", i+1, a, b)
			}
		}
	})
}

// testEnd: past its last document a job ends the same way each time, in
// the Source that collected it and in a fresh one: ErrExhausted for an
// unknown total, EINVALID for a seq outside 1..total.
func testEnd(t *testing.T, b Bundle) {
	forEachConfig(t, b, func(t *testing.T, config json.RawMessage) {
		j := collect(t, b, config, false)
		seq, cp := j.last()
		s := open(t, b)
		check := func(what string, src intake.Source, seq int, cp []byte) {
			t.Helper()
			_, err := next(t.Context(), src, config, seq, cp)
			if j.total == intake.TotalUnknown {
				if !errors.Is(err, intake.ErrExhausted) {
					t.Errorf("%s: Next(%d) = %v, want ErrExhausted", what, seq, err)
				}
				return
			}
			if intake.ErrorCode(err) != intake.EINVALID {
				t.Errorf("%s: Next(%d) of %d = %v, want EINVALID", what, seq, j.total, err)
			}
		}
		for i := range 2 {
			check(fmt.Sprintf("call %d after the last document", i+1), s, seq+1, cp)
		}
		check("a fresh Source after the last document", open(t, b), seq+1, cp)
		if j.total != intake.TotalUnknown {
			check("seq 0", s, 0, j.plan)
		}
	})
}

// testCancelBefore: Next with a context that is already done returns its
// error and no document.
func testCancelBefore(t *testing.T, b Bundle) {
	forEachConfig(t, b, func(t *testing.T, config json.RawMessage) {
		s := open(t, b)
		_, cp, err := s.Plan(t.Context(), config)
		if err != nil {
			t.Fatalf("Plan: %v", err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := next(ctx, s, config, 1, cp); !errors.Is(err, context.Canceled) {
			t.Errorf("Next with a cancelled context = %v, want an error wrapping context.Canceled", err)
		}
	})
}

// testCancelWhile: Next blocked on its peer returns once its context is
// cancelled, with the context's error. A Source that ignored the
// cancellation would keep the test waiting until the peer gave up.
func testCancelWhile(t *testing.T, b Bundle) {
	if b.Stall == nil {
		t.Skip("the source's peer cannot stall")
	}
	s, config, blocked := b.Stall(t)
	closeAtEnd(t, s)
	_, cp, err := s.Plan(t.Context(), config)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := next(ctx, s, config, 1, cp)
		done <- err
	}()
	if blocked != nil {
		select {
		case <-blocked:
		case err := <-done:
			t.Fatalf("Next returned before it blocked: %v", err)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Next cancelled while blocked = %v, want an error wrapping context.Canceled", err)
	}
}
