package filings

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

func config(t testing.TB, cin, name string) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(Config{CIN: cin, CompanyName: name})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// asOf is the fixed time of most tests: day 300 of an era of 24-hour days,
// so that a company's filings have evolved for a while.
var asOf = eraStart(56).Add(300*24*time.Hour + 5*time.Hour)

// eraStart returns the start of era n of 24-hour days.
func eraStart(n int64) time.Time {
	return time.Unix(0, 0).UTC().Add(time.Duration(n*eraDays) * 24 * time.Hour)
}

// at returns a Source whose clock stands still at t.
func at(t time.Time, opts ...Option) *Source {
	return New(0, append([]Option{WithClock(func() time.Time { return t })}, opts...)...)
}

// collect plans a job and returns every document with its bytes.
func collect(t testing.TB, s *Source, cfg json.RawMessage) ([]*intake.Item, [][]byte) {
	t.Helper()
	ctx := context.Background()
	total, cp, err := s.Plan(ctx, cfg)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	if cp == nil {
		t.Fatal("Plan checkpoint = nil, want the as-of day")
	}
	return collectFrom(t, s, cfg, total, cp)
}

// collectFrom returns documents 1..total collected with the checkpoint
// cp, which every document must pass on unchanged.
func collectFrom(t testing.TB, s *Source, cfg json.RawMessage, total int, cp []byte) ([]*intake.Item, [][]byte) {
	t.Helper()
	items := make([]*intake.Item, total)
	bodies := make([][]byte, total)
	for seq := 1; seq <= total; seq++ {
		it, err := s.Next(context.Background(), cfg, seq, cp)
		if err != nil {
			t.Fatalf("Next(%d): %v", seq, err)
		}
		b, err := io.ReadAll(it.Body)
		if err != nil {
			t.Fatal(err)
		}
		if err := it.Body.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(it.Checkpoint, cp) {
			t.Fatalf("Next(%d) checkpoint %q, want the plan's %q", seq, it.Checkpoint, cp)
		}
		items[seq-1], bodies[seq-1] = it, b
	}
	return items, bodies
}

// history collects the company's history alone, as a job planned before
// filings evolved (with a nil checkpoint) does.
func history(t testing.TB, cfg json.RawMessage) ([]*intake.Item, [][]byte) {
	t.Helper()
	c, err := parseConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return collectFrom(t, New(0), cfg, len(newCompany(c).filings), nil)
}

func digest(bodies [][]byte) string {
	h := sha256.New()
	for _, b := range bodies {
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	cfg := config(t, "L27100MH1998PLC112233", "Sahyadri Steel Limited")
	items1, bodies1 := collect(t, at(asOf), cfg)
	items2, bodies2 := collect(t, at(asOf.Add(time.Hour)), cfg) // the same day
	if len(bodies1) != len(bodies2) {
		t.Fatalf("totals differ: %d and %d", len(bodies1), len(bodies2))
	}
	for i := range bodies1 {
		if !bytes.Equal(bodies1[i], bodies2[i]) || items1[i].Name != items2[i].Name ||
			items1[i].DocumentType != items2[i].DocumentType || items1[i].Identity != items2[i].Identity {
			t.Errorf("document %d differs between runs", i+1)
		}
	}

	// Out-of-order regeneration (a fresh pod resuming at the last seq) gives the
	// same bytes as an in-order run, whatever its own clock says.
	_, cp, err := at(asOf).Plan(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	last := len(bodies1)
	it, err := at(asOf.AddDate(1, 0, 0)).Next(context.Background(), cfg, last, cp)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(it.Body)
	if !bytes.Equal(b, bodies1[last-1]) {
		t.Errorf("document %d regenerated alone differs from the in-order run", last)
	}

	// Another company differs.
	_, other := collect(t, at(asOf), config(t, "L27100MH1998PLC112234", "Sahyadri Steel Limited"))
	if bytes.Equal(other[0], bodies1[0]) || digest(other) == digest(bodies1) {
		t.Error("two CINs produced the same documents")
	}
}

// TestGolden pins the bytes of one company's filings, its history alone
// (as jobs planned before filings evolved collect it) and as of a fixed
// day, so that a change to the generator (or to PCG) that would alter
// re-runs of existing jobs is noticed. Update a digest only for an intended
// change of the simulation.
func TestGolden(t *testing.T) {
	t.Parallel()
	cfg := config(t, "L62011KA2004PLC034567", "Deccan Infotech Limited")
	items, bodies := history(t, cfg)
	const wantTotal, wantDigest = 40, "477d31b5b552909783b974cae6d8dd56625a247e4fd34a130d8ba1ddc96f78ee"
	if got := digest(bodies); len(items) != wantTotal || got != wantDigest {
		t.Errorf("history: total %d, digest %s; want %d, %s", len(items), got, wantTotal, wantDigest)
	}
	items, bodies = collect(t, at(asOf), cfg)
	const wantEvolved, wantEvolvedDigest = 50, "d95f9c91a99e0d931098e10da2e2b56ba0db6f5f745287399369253f2283d802"
	if got := digest(bodies); len(items) != wantEvolved || got != wantEvolvedDigest {
		t.Errorf("as of %s: total %d, digest %s; want %d, %s", asOf, len(items), got, wantEvolved, wantEvolvedDigest)
	}
}

var nameRE = regexp.MustCompile(`^[A-Z0-9-]+_[0-9]{4}-[0-9]{2}-[0-9]{2}_SRN-[A-Z0-9]{9}\.txt$`)

func TestDocuments(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	cins := []string{
		"U74999DL1900OPC000001", // oldest valid year, one-person company
		"U62011KA" + strconv.Itoa(time.Now().Year()) + "PTC000002", // incorporated this year
		"U15122TN2019PTC123456", // private, unlisted, INC-20A
		"L99999ZZ2010PLC654321", // industry and state unknown to the tables
	}
	for range 60 {
		cin, _ := NewCompany(r)
		cins = append(cins, cin)
	}
	known := FormTypes()
	seenForms := map[string]bool{}
	for _, cin := range cins {
		t.Run(cin, func(t *testing.T) {
			name := "Test Company " + cin[15:] + " Limited"
			items, bodies := collect(t, at(asOf), config(t, cin, name))
			if n := len(items); n < minFilings || n > maxFilings {
				t.Errorf("total = %d, want %d..%d", n, minFilings, maxFilings)
			}
			names := map[string]bool{}
			var prev string
			for i, it := range items {
				if !slices.Contains(known, it.DocumentType) {
					t.Errorf("doc %d: unknown form type %q", i+1, it.DocumentType)
				}
				seenForms[it.DocumentType] = true
				if !nameRE.MatchString(it.Name) || names[it.Name] {
					t.Errorf("doc %d: bad or duplicate name %q", i+1, it.Name)
				}
				names[it.Name] = true
				date := it.Name[strings.IndexByte(it.Name, '_')+1:][:10]
				if date < prev {
					t.Errorf("doc %d: filed %s before its predecessor (%s)", i+1, date, prev)
				}
				prev = date
				if it.ContentType != ContentType || !strings.HasSuffix(it.Name, "_SRN-"+it.Identity+".txt") {
					t.Errorf("doc %d: content type %q, identity %q", i+1, it.ContentType, it.Identity)
				}
				b := bodies[i]
				if len(b) < 500 || len(b) > 8<<10 {
					t.Errorf("doc %d: %d bytes, want a few hundred to a few thousand", i+1, len(b))
				}
				for _, want := range []string{"FORM NO. " + it.DocumentType + "\n", cin, name, "SRN"} {
					if !bytes.Contains(b, []byte(want)) {
						t.Errorf("doc %d: content lacks %q", i+1, want)
					}
				}
			}
		})
	}
	for _, f := range known {
		if !seenForms[f] {
			t.Errorf("form %s never generated over %d companies", f, len(cins))
		}
	}
}

func TestTotalsRange(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	seen := map[int]bool{}
	for range 2000 {
		cin, name := NewCompany(r)
		c, err := parseConfig(config(t, cin, name))
		if err != nil {
			t.Fatal(err)
		}
		total := len(newCompany(c).filings)
		if total < minFilings || total > maxFilings {
			t.Fatalf("%s: total %d, want %d..%d", cin, total, minFilings, maxFilings)
		}
		seen[total] = true
	}
	if len(seen) != maxFilings-minFilings+1 {
		t.Errorf("totals seen: %d distinct values, want every one of %d..%d", len(seen), minFilings, maxFilings)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	year := time.Now().Year()
	tests := []struct {
		name   string
		config string
		want   []string // field error locations; nil means valid
	}{
		{"valid", `{"cin":"L27100MH1998PLC112233","company_name":"Sahyadri Steel Limited"}`, nil},
		{"unlisted private", `{"cin":"U72200KA2015PTC081234","company_name":"Acme Private Limited"}`, nil},
		{"trailing newline", "{\"cin\":\"L27100MH1998PLC112233\",\"company_name\":\"A\"}\n", nil},
		{"name trimmed", `{"cin":"L27100MH1998PLC112233","company_name":"  Acme Limited "}`, nil},
		{"current year", fmt.Sprintf(`{"cin":"L27100MH%dPLC112233","company_name":"A"}`, year), nil},
		{"year 1900", `{"cin":"L27100MH1900PLC112233","company_name":"A"}`, nil},
		{"not an object", `["L27100MH1998PLC112233"]`, []string{""}},
		{"null", `null`, []string{""}},
		{"empty", ``, []string{""}},
		{"trailing brace", `{"cin":"L27100MH1998PLC112233","company_name":"A"}}`, []string{""}},
		{"trailing data", `{"cin":"L27100MH1998PLC112233","company_name":"A"} {}`, []string{""}},
		{"missing both", `{}`, []string{"cin", "company_name"}},
		{"unknown fields", `{"cin":"L27100MH1998PLC112233","company_name":"A","zeta":1,"alpha":2}`, []string{"alpha", "zeta"}},
		{"case matters", `{"CIN":"L27100MH1998PLC112233","company_name":"A"}`, []string{"cin", "CIN"}},
		{"cin not a string", `{"cin":123,"company_name":"A"}`, []string{"cin"}},
		{"cin null", `{"cin":null,"company_name":"A"}`, []string{"cin"}},
		{"cin lower case", `{"cin":"l27100mh1998plc112233","company_name":"A"}`, []string{"cin"}},
		{"cin too long", `{"cin":"L27100MH1998PLC1122334","company_name":"A"}`, []string{"cin"}},
		{"cin bad listing", `{"cin":"X27100MH1998PLC112233","company_name":"A"}`, []string{"cin"}},
		{"cin year 1899", `{"cin":"L27100MH1899PLC112233","company_name":"A"}`, []string{"cin"}},
		{"cin next year", fmt.Sprintf(`{"cin":"L27100MH%dPLC112233","company_name":"A"}`, year+1), []string{"cin"}},
		{"name empty", `{"cin":"L27100MH1998PLC112233","company_name":""}`, []string{"company_name"}},
		{"name blank", `{"cin":"L27100MH1998PLC112233","company_name":" \t "}`, []string{"company_name"}},
		{"name too long", `{"cin":"L27100MH1998PLC112233","company_name":"` + strings.Repeat("é", 201) + `"}`, []string{"company_name"}},
		{"name 200 runes", `{"cin":"L27100MH1998PLC112233","company_name":"` + strings.Repeat("é", 200) + `"}`, nil},
		{"name control char", `{"cin":"L27100MH1998PLC112233","company_name":"A\nB"}`, []string{"company_name"}},
		{"everything wrong", `{"cin":"bad","company_name":7,"x":true}`, []string{"cin", "company_name", "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := New(0).Validate(context.Background(), json.RawMessage(tt.config))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var e *intake.Error
			if !errors.As(err, &e) || e.Code != intake.EINVALID {
				t.Fatalf("Validate = %v, want an EINVALID *intake.Error", err)
			}
			if !intake.IsPermanent(err) {
				t.Error("validation error is not permanent")
			}
			var got []string
			for _, f := range e.Fields {
				if f.Message == "" {
					t.Errorf("field %q has no message", f.Location)
				}
				got = append(got, f.Location)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("locations = %q, want %q (%+v)", got, tt.want, e.Fields)
			}
		})
	}
}

func TestValidCIN(t *testing.T) {
	t.Parallel()
	year := time.Now().Year()
	tests := []struct {
		cin  string
		want bool
	}{
		{"L27100MH1998PLC112233", true},
		{"U72200KA2015PTC081234", true},
		{"L27100MH1900PLC112233", true},
		{fmt.Sprintf("L27100MH%dPLC112233", year), true},
		{fmt.Sprintf("L27100MH%dPLC112233", year+1), false},
		{"L27100MH1899PLC112233", false},
		{"L27100MH0000PLC112233", false},
		{"L27100MH199XPLC112233", false},
		{"L2710MH1998PLC112233", false},
		{"L27100M01998PLC112233", false},
		{"L27100MH1998PL1112233", false},
		{" L27100MH1998PLC112233", false},
		{"L27100MH1998PLC112233\n", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := ValidCIN(tt.cin); got != tt.want {
			t.Errorf("ValidCIN(%q) = %v, want %v", tt.cin, got, tt.want)
		}
	}
}

// starterCIN is the shape seed 004's starter generated: L, 5 digits, 2
// letters, a year from 1980 to 2020, 3 letters, 6 digits.
var starterCIN = regexp.MustCompile(`^L[0-9]{5}[A-Z]{2}(198[0-9]|199[0-9]|200[0-9]|201[0-9]|2020)[A-Z]{3}[0-9]{6}$`)

func TestNewCompany(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	classes := map[string]int{}
	years := map[string]bool{}
	for range 2000 {
		cin, name := NewCompany(r)
		if !ValidCIN(cin) || !starterCIN.MatchString(cin) {
			t.Fatalf("NewCompany CIN %q has the wrong shape", cin)
		}
		class := cin[12:15]
		classes[class]++
		years[cin[8:12]] = true
		wantSuffix := map[string]string{"PLC": " Limited", "PTC": " Private Limited"}[class]
		if wantSuffix == "" || !strings.HasSuffix(name, wantSuffix) || (class == "PLC" && strings.HasSuffix(name, " Private Limited")) {
			t.Errorf("%s: name %q does not fit class %s", cin, name, class)
		}
		if err := New(0).Validate(context.Background(), config(t, cin, name)); err != nil {
			t.Errorf("NewCompany output %q, %q fails validation: %v", cin, name, err)
		}
	}
	if classes["PLC"] == 0 || classes["PTC"] == 0 {
		t.Errorf("classes drawn: %v, want both PLC and PTC", classes)
	}
	if len(years) != 41 {
		t.Errorf("%d distinct years drawn, want all 41 of 1980..2020", len(years))
	}
	if cin, name := NewCompany(nil); !starterCIN.MatchString(cin) || name == "" {
		t.Errorf("NewCompany(nil) = %q, %q", cin, name)
	}
}

func TestNextErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := config(t, "L27100MH1998PLC112233", "Sahyadri Steel Limited")
	total, cp, err := at(asOf).Plan(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []int{0, -1, total + 1} {
		if _, err := at(asOf).Next(ctx, cfg, seq, cp); intake.ErrorCode(err) != intake.EINVALID {
			t.Errorf("Next(seq %d) = %v, want EINVALID", seq, err)
		}
	}
	if _, err := at(asOf).Next(ctx, cfg, 1, []byte("garbage")); !intake.IsPermanent(err) {
		t.Errorf("Next(corrupt checkpoint) = %v, want a permanent error", err)
	}
	bad := json.RawMessage(`{"cin":"nope","company_name":"A"}`)
	if _, err := New(0).Next(ctx, bad, 1, nil); intake.ErrorCode(err) != intake.EINVALID {
		t.Errorf("Next(invalid config) = %v, want EINVALID", err)
	}
	if _, _, err := New(0).Plan(ctx, bad); intake.ErrorCode(err) != intake.EINVALID {
		t.Errorf("Plan(invalid config) = %v, want EINVALID", err)
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	cfg := config(t, "L27100MH1998PLC112233", "Sahyadri Steel Limited")

	t.Run("cancelled while sleeping", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		it, err := New(time.Hour).Next(ctx, cfg, 1, nil)
		if !errors.Is(err, context.DeadlineExceeded) || it != nil {
			t.Fatalf("Next = %v, %v; want nil, context.DeadlineExceeded", it, err)
		}
	})
	t.Run("cancelled before", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := New(0).Next(ctx, cfg, 1, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("Next = %v, want context.Canceled", err)
		}
	})
	t.Run("sleeps", func(t *testing.T) {
		t.Parallel()
		const delay = 30 * time.Millisecond
		start := time.Now()
		if _, err := New(delay).Next(context.Background(), cfg, 1, nil); err != nil {
			t.Fatal(err)
		}
		if elapsed := time.Since(start); elapsed < delay {
			t.Errorf("Next returned after %v, before the %v delay", elapsed, delay)
		}
	})
}

func TestType(t *testing.T) {
	t.Parallel()
	if got := New(0).Type(); got != "filings" {
		t.Errorf("Type() = %q", got)
	}
}

// TestConfigSchemaTags keeps the OpenAPI pattern in step with validation.
func TestConfigSchemaTags(t *testing.T) {
	t.Parallel()
	f, _ := reflect.TypeFor[Config]().FieldByName("CIN")
	if got := f.Tag.Get("pattern"); got != cinRE.String() {
		t.Errorf("CIN pattern tag %q, validation uses %q", got, cinRE.String())
	}
	if ex := f.Tag.Get("example"); !ValidCIN(ex) {
		t.Errorf("CIN example %q is not valid", ex)
	}
	n, _ := reflect.TypeFor[Config]().FieldByName("CompanyName")
	if got := n.Tag.Get("maxLength"); got != strconv.Itoa(maxNameLen) {
		t.Errorf("company_name maxLength tag %q, validation uses %d", got, maxNameLen)
	}
}

func TestINR(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   int64
		want string
	}{
		{0, "INR 0"},
		{999, "INR 999"},
		{1000, "INR 1,000"},
		{100000, "INR 1,00,000"},
		{123456789, "INR 12,34,56,789"},
		{-1234567, "INR -12,34,567"},
	}
	for _, tt := range tests {
		if got := inr(tt.in); got != tt.want {
			t.Errorf("inr(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestExample checks that the example offered to the docs and the web UI
// passes Validate.
func TestExample(t *testing.T) {
	t.Parallel()
	s := New(0)
	if err := s.Validate(t.Context(), s.Example()); err != nil {
		t.Fatalf("Example() is invalid: %v", err)
	}
	if name, cfg := s.ConfigSchema(); name != "FilingsSourceConfig" || reflect.TypeOf(cfg) != reflect.TypeFor[Config]() {
		t.Fatalf("ConfigSchema() = %q, %T", name, cfg)
	}
}

// TestEvolution: from one simulated day to the next, with the clock
// fixed, a company's filings stay the same but for what happened on the
// later day: new filings appended with new SRNs, an amended filing with
// the same SRN and name and other content, a withdrawn one gone. Each of
// the three happens on some day of an era; every day's set is the same at
// every time of the day, and a new era starts again from the history.
func TestEvolution(t *testing.T) {
	t.Parallel()
	cfg := config(t, "L27100MH1998PLC112233", "Sahyadri Steel Limited")
	const day = 2 * time.Second // as INTAKE_FILINGS_DAY=2s in a demo
	const era = 56 * eraDays
	start := time.Unix(0, 0).Add(era * day)

	// The first day of the era on which each kind of event happens.
	parsed, err := parseConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	firstDay := map[string]int{}
	evolved := func(d int) map[string]filing {
		c := newCompany(parsed)
		c.evolve(era + int64(d))
		out := map[string]filing{}
		for _, f := range c.filings {
			out[f.srn] = f
		}
		return out
	}
	prev := evolved(0)
	for d := 1; d < eraDays && len(firstDay) < 3; d++ {
		cur := evolved(d)
		for srn, f := range cur {
			p, ok := prev[srn]
			switch {
			case !ok && firstDay["new"] == 0:
				firstDay["new"] = d
			case ok && f.revision != p.revision && firstDay["changed"] == 0:
				firstDay["changed"] = d
			}
		}
		for srn := range prev {
			if _, ok := cur[srn]; !ok && firstDay["removed"] == 0 {
				firstDay["removed"] = d
			}
		}
		prev = cur
	}
	if len(firstDay) != 3 {
		t.Fatalf("over an era the company had only %v", firstDay)
	}

	// Each of those days against the day before, through the Source.
	type document struct {
		name string
		body []byte
	}
	snapshot := func(d int) (map[string]document, []string) {
		t.Helper()
		items, bodies := collect(t, at(start.Add(time.Duration(d)*day+day/2), WithDay(day)), cfg)
		docs := map[string]document{}
		var order []string
		for i, it := range items {
			if _, dup := docs[it.Identity]; dup {
				t.Fatalf("day %d: identity %s twice", d, it.Identity)
			}
			docs[it.Identity] = document{it.Name, bodies[i]}
			order = append(order, it.Identity)
		}
		return docs, order
	}
	for kind, d := range firstDay {
		before, beforeOrder := snapshot(d - 1)
		after, order := snapshot(d)
		got := map[string]int{}
		var added []string
		for _, id := range order {
			old, ok := before[id]
			switch {
			case !ok:
				got["new"]++
				added = append(added, id)
			case !bytes.Equal(old.body, after[id].body):
				got["changed"]++
				if old.name != after[id].name || !bytes.Contains(after[id].body, []byte("Revised filing")) {
					t.Errorf("day %d: amended filing %s renamed from %q to %q, or not marked revised", d, id, old.name, after[id].name)
				}
			}
		}
		for _, id := range beforeOrder {
			if _, ok := after[id]; !ok {
				got["removed"]++
			}
		}
		if got[kind] == 0 {
			t.Errorf("day %d: %v, want a %s filing", d, got, kind)
		}
		if len(added) > 0 && !slices.Equal(order[len(order)-len(added):], added) {
			t.Errorf("day %d: new filings %q are not the last ones of %q", d, added, order)
		}
	}

	// The same day at its start, and the first day of the next era.
	d := firstDay["new"]
	mid, _ := snapshot(d)
	items, _ := collect(t, at(start.Add(time.Duration(d)*day), WithDay(day)), cfg)
	if len(items) != len(mid) {
		t.Errorf("day %d has %d filings at its start, %d in its middle", d, len(items), len(mid))
	}
	hist, _ := history(t, cfg)
	items, _ = collect(t, at(start.Add(eraDays*day), WithDay(day)), cfg)
	if n := len(items) - len(hist); n < -1 || n > 1 {
		t.Errorf("a new era has %d filings, the history %d", len(items), len(hist))
	}
}
