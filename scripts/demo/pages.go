package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"html/template"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// pageStyle is shared by the demo's own pages (title, closing, KEDA).
const pageStyle = `
body { margin: 0; font: 17px/1.45 "DejaVu Sans", sans-serif; background: #f8fafc; color: #0f172a; }
main { padding: 30px 40px; }
h1 { font-size: 44px; margin: 0 0 4px; letter-spacing: -0.5px; }
h2 { font-size: 22px; margin: 0 0 6px; }
.sub { color: #475569; font-size: 20px; margin: 0 0 26px; }
ul { margin: 0; padding-left: 22px; }
li { margin: 0 0 12px; }
code { font: 15px "DejaVu Sans Mono", monospace; background: #e2e8f0; padding: 1px 5px; border-radius: 4px; }
.row { display: flex; gap: 28px; align-items: flex-start; }
img { width: 690px; border: 1px solid #cbd5e1; background: #fff; }
table { border-collapse: collapse; font: 12px/1.25 "DejaVu Sans Mono", monospace; }
th, td { padding: 1px 6px; text-align: right; border-bottom: 1px solid #e2e8f0; }
th { background: #e2e8f0; font: bold 11px/1.2 "DejaVu Sans", sans-serif; vertical-align: bottom; }
td.more { text-align: left; color: #475569; font-family: "DejaVu Sans", sans-serif; }
.note { color: #475569; font-size: 15px; margin: 0 0 14px; }
`

// card is a title or closing page.
type card struct {
	Heading, Sub string
	Items        []string
}

var cardTmpl = template.Must(template.New("card").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Heading}}</title><style>` + pageStyle + `</style></head>
<body><main>
<h1>{{.Heading}}</h1>{{if .Sub}}<p class="sub">{{.Sub}}</p>{{end}}
<ul>{{range .Items}}<li>{{.}}</li>{{end}}</ul>
</main></body></html>
`))

// writeCard writes a card page into dir and returns its file URL.
func writeCard(dir, name string, c card) (string, error) {
	var b strings.Builder
	if err := cardTmpl.Execute(&b, c); err != nil {
		return "", err
	}
	return writePage(dir, name, b.String())
}

func writePage(dir, name, html string) (string, error) {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(html), 0o600); err != nil {
		return "", err
	}
	return (&url.URL{Scheme: "file", Path: p}).String(), nil
}

// timeline is one KEDA timeline of docs/KUBERNETES.md: the block between
// <!-- timeline:NAME --> and <!-- /timeline:NAME -->, which
// go test ./deploy/helm -run TestKEDAScenario -update writes.
type timeline struct {
	Trigger  string     // mongodb, postgresql
	Counts   string     // "5 jobs, 15 runs, 15 KEDA Jobs (…)"
	Recorded string     // "recorded 2026-12-01 by `go test …`"
	Image    string     // path relative to docs/
	Header   []string   // the table's columns
	Rows     [][]string // the table
}

var (
	timelineStart = regexp.MustCompile(`^<!-- timeline:(\w+) -->$`)
	timelineImage = regexp.MustCompile(`^!\[[^\]]*\]\(([^)]+)\)$`)
)

// kedaTimelines reads every timeline of docs/KUBERNETES.md.
func kedaTimelines(path string) ([]timeline, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []timeline
	var cur *timeline
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case cur == nil:
			if m := timelineStart.FindStringSubmatch(line); m != nil {
				cur = &timeline{Trigger: m[1]}
			}
		case line == "<!-- /timeline:"+cur.Trigger+" -->":
			if cur.Counts == "" || cur.Image == "" || len(cur.Rows) == 0 {
				return nil, fmt.Errorf("%s: timeline %s lacks its summary, image or table", path, cur.Trigger)
			}
			out = append(out, *cur)
			cur = nil
		case line == "":
		case timelineImage.MatchString(line):
			cur.Image = timelineImage.FindStringSubmatch(line)[1]
		case strings.HasPrefix(line, "|"):
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			switch {
			case cur.Header == nil:
				cur.Header = cells
			case strings.HasPrefix(cells[0], "-") || strings.HasPrefix(cells[0], ":"):
			default:
				cur.Rows = append(cur.Rows, cells)
			}
		case cur.Counts == "":
			counts, recorded, ok := strings.Cut(strings.TrimSuffix(line, ":"), ", recorded ")
			if !ok {
				return nil, fmt.Errorf("%s: timeline %s: summary %q has no \", recorded \"", path, cur.Trigger, line)
			}
			cur.Counts, cur.Recorded = counts, "recorded "+recorded
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no <!-- timeline:NAME --> block", path)
	}
	return out, nil
}

var kedaTmpl = template.Must(template.New("keda").Funcs(template.FuncMap{"code": codeSpans}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>KEDA timeline</title><style>` + pageStyle + `</style></head>
<body><main>
<h2>intake on KEDA, {{.T.Trigger}} trigger — from docs/KUBERNETES.md</h2>
<p class="note">{{.T.Counts}}, {{code .T.Recorded}}</p>
<div class="row">
<img src="{{.Image}}" alt="KEDA timeline, {{.T.Trigger}} trigger">
<table><thead><tr>{{range .T.Header}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}{{if .Until}}<tr><td class="more" colspan="{{len .T.Header}}">unchanged until t = {{.Until}} s</td></tr>{{end}}</tbody></table>
</div>
</main></body></html>
`))

// codeSpans renders Markdown `code` spans of s as <code>, the rest escaped.
func codeSpans(s string) template.HTML {
	var b strings.Builder
	for i, part := range strings.Split(s, "`") {
		esc := template.HTMLEscapeString(part)
		if i%2 == 1 {
			esc = "<code>" + esc + "</code>"
		}
		b.WriteString(esc)
	}
	return template.HTML(b.String()) //nolint:gosec // every part is escaped above
}

// writeKEDAPage writes the page of one timeline and returns its file URL.
func writeKEDAPage(dir, repo string, t timeline) (string, error) {
	img := filepath.Join(repo, "docs", filepath.FromSlash(t.Image))
	if _, err := os.Stat(img); err != nil {
		return "", err
	}
	// The rows up to the first of the unchanged ones at the end.
	rows, until := t.Rows, ""
	for len(rows) > 2 && slices.Equal(rows[len(rows)-1][1:], rows[len(rows)-2][1:]) {
		if until == "" {
			until = rows[len(rows)-1][0]
		}
		rows = rows[:len(rows)-1]
	}
	var b strings.Builder
	data := struct {
		T     timeline
		Rows  [][]string
		Until string
		Image template.URL
	}{
		T:     t,
		Rows:  rows,
		Until: until,
		Image: template.URL((&url.URL{Scheme: "file", Path: img}).String()), //nolint:gosec // a path of this repository
	}
	if err := kedaTmpl.Execute(&b, data); err != nil {
		return "", err
	}
	return writePage(dir, "keda-"+t.Trigger+".html", b.String())
}

// dashboardQueries returns the queries of every panel of a Grafana
// dashboard file (panels in collapsed rows included), by panel title.
func dashboardQueries(path string) (map[string][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	type panel struct {
		Title   string  `json:"title"`
		Panels  []panel `json:"panels"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var d struct {
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string][]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				if t.Expr != "" {
					out[p.Title] = append(out[p.Title], t.Expr)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out, nil
}

// rateInterval stands for Grafana's $__rate_interval: four scrape
// intervals at least, as Grafana computes it, rounded up for smoother
// graphs at a 2 s scrape interval.
const rateInterval = "20s"

// expandGrafana substitutes the one Grafana variable the dashboard's
// queries use.
func expandGrafana(expr string) string {
	return strings.NewReplacer("${__rate_interval}", rateInterval, "$__rate_interval", rateInterval).Replace(expr)
}
