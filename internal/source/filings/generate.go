package filings

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The filing history spans the Companies Act 2013 e-forms, from 2014 (or
// the year of incorporation, if later) to lastFilingYear. The horizon is a
// constant, not the current date, so that a history never changes.
const (
	firstFormYear  = 2014
	lastFilingYear = 2025
	minFilings     = 30
	maxFilings     = 50
)

// gen draws deterministic values from PCG. It uses only Uint64, whose
// sequence the PCG specification fixes, so histories stay the same across
// Go releases.
type gen struct{ pcg *rand.PCG }

// newGen seeds a generator from the SHA-256 of parts.
func newGen(parts ...string) *gen {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	sum := h.Sum(nil)
	return &gen{rand.NewPCG(binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16]))}
}

// intn returns a value in [0, n). The modulo bias is below 2⁻⁴⁰ for the
// small n used here.
func (g *gen) intn(n int) int { return int(g.pcg.Uint64() % uint64(n)) }

// between returns a value in [lo, hi].
func (g *gen) between(lo, hi int) int { return lo + g.intn(hi-lo+1) }

// digits returns n random decimal digits.
func (g *gen) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.intn(10))
	}
	return string(b)
}

func pick[T any](g *gen, xs []T) T { return xs[g.intn(len(xs))] }

// person is a director or signatory.
type person struct {
	name, din, designation string
}

// company is the profile of a company drawn from its CIN.
type company struct {
	cfg          Config
	state        state
	industry     industry
	incorporated time.Time
	listed       bool
	public       bool
	address      string
	directors    []person
	auditor      string
	auditorFRN   string
	authorised   int64 // authorised share capital, INR
	paidUp       int64 // paid-up share capital, INR
	banks        []string
	filings      []filing
	historyEnd   int // the last year of the history
}

// filing is one entry of a company's filing history.
type filing struct {
	form *form
	date time.Time
	srn  string
	// content names the generator of the filing's particular figures: it
	// changes when the filing is amended.
	content []string
	// revision counts the amendments, the last of them dated revised.
	revision int
	revised  time.Time
}

var (
	firstNames = []string{
		"Aarav", "Vikram", "Suresh", "Ramesh", "Anil", "Rajesh", "Sanjay", "Arjun",
		"Priya", "Lakshmi", "Meena", "Kavita", "Anjali", "Sunita", "Deepa", "Neha",
		"Harish", "Mahesh", "Gopal", "Venkatesh", "Farhan", "Imran", "Gurpreet", "Joseph",
	}
	lastNames = []string{
		"Sharma", "Iyer", "Patel", "Reddy", "Nair", "Gupta", "Mehta", "Rao",
		"Banerjee", "Chatterjee", "Kulkarni", "Deshpande", "Agarwal", "Joshi", "Menon",
		"Pillai", "Singh", "Khan", "Fernandes", "Bhat", "Shah", "Verma",
	}
	auditFirms = []string{
		"Mehta & Associates", "S. R. Rao & Co.", "Kulkarni Deshpande & Co. LLP",
		"Banerjee Ghosh & Associates", "P. K. Agarwal & Co.", "Nair Menon & Co.",
		"Shah Joshi & Associates LLP", "V. Iyer & Co.",
	}
	banks = []string{
		"State Bank of India", "HDFC Bank Limited", "ICICI Bank Limited",
		"Axis Bank Limited", "Punjab National Bank", "Bank of Baroda",
		"Canara Bank", "Kotak Mahindra Bank Limited", "Union Bank of India",
		"IDBI Bank Limited",
	}
	streets = []string{
		"MG Road", "Station Road", "Nehru Nagar", "Industrial Estate, Phase II",
		"Ring Road", "Gandhi Marg", "Link Road", "MIDC Area", "Park Street",
		"Civil Lines",
	}
)

// newCompany draws the profile and filing history of cfg's company. The
// same CIN always yields the same profile; the name only labels it.
func newCompany(cfg Config) *company {
	g := newGen("filings/company", cfg.CIN)
	c := &company{
		cfg:      cfg,
		state:    stateByCode(cfg.CIN[6:8]),
		industry: industryByNIC(cfg.CIN[1:6]),
		listed:   cfg.CIN[0] == 'L',
		public:   cfg.CIN[12:15] != "PTC" && cfg.CIN[12:15] != "OPC",
	}
	n := g.between(minFilings, maxFilings)
	c.incorporated = time.Date(cinYear(cfg.CIN), time.Month(g.between(1, 12)), g.between(1, 28), 0, 0, 0, 0, time.UTC)
	c.address = fmt.Sprintf("%d, %s, %s, %s %s%s, India", g.between(1, 250), pick(g, streets),
		c.state.city, c.state.name, c.state.pin, g.digits(3))
	for range g.between(3, 6) {
		c.directors = append(c.directors, person{
			name: pick(g, firstNames) + " " + pick(g, lastNames),
			din:  "0" + g.digits(7),
		})
	}
	c.directors[0].designation = "Managing Director"
	for i := 1; i < len(c.directors); i++ {
		c.directors[i].designation = pick(g, []string{"Director", "Whole-time Director", "Independent Director", "Nominee Director"})
	}
	c.auditor = pick(g, auditFirms)
	c.auditorFRN = g.digits(6) + pick(g, []string{"W", "S", "N", "E", "C"})
	c.authorised = int64(g.between(1, 50)) * 10_000_000
	c.paidUp = c.authorised / 10 * int64(g.between(3, 9))
	c.banks = []string{pick(g, banks), pick(g, banks)}
	c.filings = c.history(g, n)
	for i := range c.filings {
		c.filings[i].content = []string{"filings/document", cfg.CIN, strconv.Itoa(i + 1)}
	}
	return c
}

// history draws n filings dated from incorporation (or 2014) to the end of
// lastFilingYear, in date order, with unique SRNs. Every financial year
// after incorporation has its financial statements (AOC-4) and annual
// return (MGT-7); the rest are event-driven or periodic forms drawn by
// weight.
func (c *company) history(g *gen, n int) []filing {
	start := max(c.incorporated.Year(), firstFormYear)
	end := max(lastFilingYear, start+1)
	c.historyEnd = end
	earliest := c.incorporated.AddDate(0, 0, 7)
	latest := time.Date(end, time.December, 31, 0, 0, 0, 0, time.UTC)
	perYear := make(map[string]int)

	out := make([]filing, 0, n)
	add := func(f *form, year int) {
		key := f.code + "/" + strconv.Itoa(year)
		month := f.months[g.intn(len(f.months))]
		if f.perYear > 1 {
			month = f.months[perYear[key]] // one filing per period
		}
		perYear[key]++
		d := time.Date(year, month, g.between(1, 28), 0, 0, 0, 0, time.UTC)
		if d.Before(earliest) {
			d = earliest.AddDate(0, 0, g.between(0, 150))
		}
		if d.After(latest) {
			d = latest.AddDate(0, 0, -g.between(0, 30))
		}
		out = append(out, filing{form: f, date: d})
	}
	if c.incorporated.Year() >= 2019 {
		// Companies incorporated since November 2018 declare the
		// commencement of business within 180 days.
		out = append(out, filing{form: formByCode("INC-20A"), date: c.incorporated.AddDate(0, 0, g.between(30, 170))})
	}
	for year := max(c.incorporated.Year()+1, firstFormYear); year <= end && len(out)+2 <= n; year++ {
		accounts, annualReturn := "AOC-4", "MGT-7"
		if c.listed {
			accounts = "AOC-4 XBRL"
		}
		if !c.public && !c.listed && year >= 2021 {
			annualReturn = "MGT-7A" // small private companies, from FY 2020-21
		}
		add(formByCode(accounts), year)
		add(formByCode(annualReturn), year)
	}
	for len(out) < n {
		year := g.between(start, end)
		f := c.drawForm(g, year)
		if f.perYear > 0 && (year <= c.incorporated.Year() || perYear[f.code+"/"+strconv.Itoa(year)] >= f.perYear) {
			// Periodic forms start the year after incorporation, and
			// event-driven forms (perYear 0) always end the loop.
			continue
		}
		add(f, year)
	}
	slices.SortStableFunc(out, func(a, b filing) int {
		if c := a.date.Compare(b.date); c != 0 {
			return c
		}
		return cmp.Compare(a.form.code, b.form.code)
	})
	seen := make(map[string]bool, n)
	for i := range out {
		for {
			// MCA21 V2 service request numbers are a letter and eight
			// digits; V3 (from 2023) uses two letters and seven.
			srn := pick(g, []string{"G", "H", "R", "T", "F"}) + g.digits(8)
			if out[i].date.Year() >= 2023 {
				srn = "A" + pick(g, []string{"A", "B", "C"}) + g.digits(7)
			}
			if !seen[srn] {
				seen[srn] = true
				out[i].srn = srn
				break
			}
		}
	}
	return out
}

// drawForm picks a form type by weight among those in use in year.
func (c *company) drawForm(g *gen, year int) *form {
	var total int
	for i := range forms {
		if year >= forms[i].since {
			total += forms[i].weight
		}
	}
	x := g.intn(total)
	for i := range forms {
		f := &forms[i]
		if year < f.since {
			continue
		}
		if x < f.weight {
			return f
		}
		x -= f.weight
	}
	panic("unreachable: form weights")
}

// documentName is the file name of filing f.
func documentName(f filing) string {
	code := []byte(f.form.code)
	for i, b := range code {
		if b == ' ' {
			code[i] = '-'
		}
	}
	return string(code) + "_" + f.date.Format(time.DateOnly) + "_SRN-" + f.srn + ".txt"
}

// inr formats an amount in rupees with Indian digit grouping, as in
// "INR 12,34,56,789".
func inr(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	s := strconv.FormatInt(v, 10)
	if len(s) <= 3 {
		return "INR " + sign + s
	}
	head, tail := s[:len(s)-3], s[len(s)-3:]
	var b strings.Builder
	for i, r := range head {
		if i > 0 && (len(head)-i)%2 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return "INR " + sign + b.String() + "," + tail
}
