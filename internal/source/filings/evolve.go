package filings

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// DefaultDay is the default length of a simulated day.
const DefaultDay = 24 * time.Hour

// Simulated days. Day n (of a given length) starts n lengths after the Unix
// epoch. Days are grouped into eras of eraDays: in each era the company
// starts again from its history and then, on some days, files a new form
// (while it has fewer than maxFilings), amends a filing or withdraws one
// (while it has more than minFilings), so that a job always has 30 to 50
// documents. The era bounds the days to replay however short the day: a
// 2-second day would otherwise replay a day per 2 seconds since 1970.
const (
	eraDays = 365
	// Chances, in percent, that a day sees a new filing, an amendment and
	// a withdrawal.
	newPercent      = 5
	amendPercent    = 2
	withdrawPercent = 1
)

// checkpoint is the filings source's checkpoint: the as-of time Plan read
// from the clock and the simulated day it falls on, which fixes the set of
// filings for every run of the job. A nil checkpoint (a job planned before
// filings evolved) means the history alone.
type checkpoint struct {
	AsOf time.Time `json:"as_of"`
	Day  int64     `json:"day"`
}

// dayOf returns the simulated day that t falls on.
func dayOf(t time.Time, length time.Duration) int64 {
	return floorDiv(t.UnixNano(), int64(length))
}

// floorDiv divides rounding down, for times before the epoch.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// decodeCheckpoint returns the day of a checkpoint, and false for a nil
// one.
func decodeCheckpoint(raw []byte) (int64, bool, error) {
	if len(raw) == 0 {
		return 0, false, nil
	}
	var cp checkpoint
	if err := json.Unmarshal(raw, &cp); err != nil {
		return 0, false, fmt.Errorf("filings: decode checkpoint: %w", err)
	}
	return cp.Day, true, nil
}

// evolve applies the events of the company's era up to and including day
// to its history. What happens on a day depends on the company and the day
// alone (and on what happened before it in the era), so the filings as of
// a day are the same in every process.
func (c *company) evolve(day int64) {
	era := floorDiv(day, eraDays) * eraDays
	// New filings are dated from 1 January after the history ends, one
	// simulated day per day of the era.
	start := time.Date(c.historyEnd+1, time.January, 1, 0, 0, 0, 0, time.UTC)
	seen := make(map[string]bool, len(c.filings))
	for _, f := range c.filings {
		seen[f.srn] = true
	}
	perYear := make(map[string]int)
	for d := era; d <= day; d++ {
		date := start.AddDate(0, 0, int(d-era))
		g := newGen("filings/day", c.cfg.CIN, strconv.FormatInt(d, 10))
		if g.intn(100) < newPercent && len(c.filings) < maxFilings {
			c.file(g, date, seen, perYear)
		}
		if g.intn(100) < amendPercent {
			i := g.intn(len(c.filings))
			f := &c.filings[i]
			f.revision++
			f.revised = date
			f.content = []string{"filings/amended", c.cfg.CIN, f.srn, strconv.Itoa(f.revision)}
		}
		if g.intn(100) < withdrawPercent && len(c.filings) > minFilings {
			i := g.intn(len(c.filings))
			c.filings = slices.Delete(c.filings, i, i+1)
		}
	}
}

// file adds a new filing dated date, of a form drawn by weight among those
// in use that month and not yet filed as often as their period allows, with
// a new SRN (MCA21 V3: two letters and seven digits).
func (c *company) file(g *gen, date time.Time, seen map[string]bool, perYear map[string]int) {
	var eligible []*form
	total := 0
	for i := range forms {
		f := &forms[i]
		key := f.code + "/" + strconv.Itoa(date.Year())
		if f.weight == 0 || date.Year() < f.since || !slices.Contains(f.months, date.Month()) ||
			(f.perYear > 0 && perYear[key] >= f.perYear) {
			continue
		}
		eligible = append(eligible, f)
		total += f.weight
	}
	if total == 0 {
		return
	}
	x := g.intn(total)
	var f *form
	for _, e := range eligible {
		if x < e.weight {
			f = e
			break
		}
		x -= e.weight
	}
	perYear[f.code+"/"+strconv.Itoa(date.Year())]++
	srn := ""
	for srn == "" || seen[srn] {
		srn = "A" + pick(g, []string{"A", "B", "C"}) + g.digits(7)
	}
	seen[srn] = true
	c.filings = append(c.filings, filing{
		form: f, date: date, srn: srn,
		content: []string{"filings/filed", c.cfg.CIN, srn},
	})
}
