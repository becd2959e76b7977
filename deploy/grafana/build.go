package grafana

import "fmt"

// gridWidth is the width of Grafana's grid.
const gridWidth = 24

// builder lays panels out left to right, top to bottom, in rows.
type builder struct {
	panels []*Panel
	row    *Panel // the current collapsed row, which receives the panels; nil otherwise
	nextID int
	x, y   int
	lineH  int // height of the tallest panel on the current line
}

// newline moves the cursor to the start of the next free line.
func (b *builder) newline() {
	if b.x > 0 {
		b.y += b.lineH
	}
	b.x, b.lineH = 0, 0
}

func (b *builder) id() int {
	b.nextID++
	return b.nextID
}

// section starts a row. The panels added after an expanded row follow it
// at the top level; those added after a collapsed row are nested in it,
// as Grafana stores them. A collapsed row must come after every expanded
// one.
func (b *builder) section(title string, collapsed bool) {
	b.newline()
	row := &Panel{
		Collapsed: &collapsed,
		GridPos:   GridPos{H: 1, W: gridWidth, X: 0, Y: b.y},
		ID:        b.id(),
		Title:     title,
		Type:      "row",
	}
	b.panels = append(b.panels, row)
	b.row = nil
	if collapsed {
		b.row = row
	}
	b.y++
}

// add places p, w columns wide and h high, on the current line or, when it
// does not fit, on the next one.
func (b *builder) add(w, h int, p *Panel) {
	if b.x+w > gridWidth {
		b.newline()
	}
	p.GridPos = GridPos{H: h, W: w, X: b.x, Y: b.y}
	p.ID = b.id()
	b.x += w
	b.lineH = max(b.lineH, h)
	if b.row != nil {
		b.row.Panels = append(b.row.Panels, p)
		return
	}
	b.panels = append(b.panels, p)
}

// query is a PromQL expression with its legend.
type query struct {
	expr, legend string
}

func q(expr, legend string) query { return query{expr: expr, legend: legend} }

// targets turns queries into range targets with refIds A, B, C, ….
func targets(qs []query) []Target {
	ts := make([]Target, len(qs))
	for i, x := range qs {
		if i >= 26 {
			panic(fmt.Sprintf("too many queries in one panel: %d", len(qs)))
		}
		ts[i] = Target{
			Datasource:   promDatasource,
			EditorMode:   "code",
			Expr:         x.expr,
			LegendFormat: x.legend,
			Range:        true,
			RefID:        string(rune('A' + i)),
		}
	}
	return ts
}

// promDatasource is the dashboard's Prometheus data source: the one the
// datasource variable selects.
var promDatasource = DatasourceRef{Type: "prometheus", UID: "${datasource}"}

func ptr[T any](v T) *T { return &v }

func greenBase() []step { return []step{{Color: "green"}} }

// warnAt colours a value yellow from warn and red from crit.
func warnAt(warn, crit float64) []step {
	return []step{{Color: "green"}, {Color: "yellow", Value: ptr(warn)}, {Color: "red", Value: ptr(crit)}}
}

func defaults(unit string, steps []step) fieldDefaults {
	return fieldDefaults{
		Color:      map[string]any{"mode": "thresholds"},
		Mappings:   []any{},
		Thresholds: thresholds{Mode: "absolute", Steps: steps},
		Unit:       unit,
	}
}

// stat is a single-value panel showing the last value of each query.
func stat(title, desc, unit string, steps []step, qs ...query) *Panel {
	if steps == nil {
		steps = greenBase()
	}
	return &Panel{
		Datasource:  &promDatasource,
		Description: desc,
		FieldConfig: &fieldConfig{Defaults: defaults(unit, steps), Overrides: []any{}},
		Options: map[string]any{
			"colorMode":   "value",
			"graphMode":   "area",
			"justifyMode": "auto",
			"orientation": "auto",
			"reduceOptions": map[string]any{
				"calcs":  []string{"lastNotNull"},
				"fields": "",
				"values": false,
			},
			"textMode": "auto",
		},
		Targets: targets(qs),
		Title:   title,
		Type:    "stat",
	}
}

// timeseries is a graph of every query.
func timeseries(title, desc, unit string, qs ...query) *Panel {
	d := defaults(unit, greenBase())
	d.Color = map[string]any{"mode": "palette-classic"}
	d.Custom = map[string]any{
		"drawStyle":         "line",
		"fillOpacity":       10,
		"lineWidth":         1,
		"pointSize":         4,
		"showPoints":        "never",
		"spanNulls":         false,
		"axisSoftMin":       0,
		"stacking":          map[string]any{"group": "A", "mode": "none"},
		"thresholdsStyle":   map[string]any{"mode": "off"},
		"axisCenteredZero":  false,
		"axisPlacement":     "auto",
		"gradientMode":      "none",
		"lineInterpolation": "linear",
	}
	return &Panel{
		Datasource:  &promDatasource,
		Description: desc,
		FieldConfig: &fieldConfig{Defaults: d, Overrides: []any{}},
		Options: map[string]any{
			"legend": map[string]any{
				"calcs":       []string{"mean", "lastNotNull", "max"},
				"displayMode": "table",
				"placement":   "bottom",
				"showLegend":  true,
			},
			"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
		},
		Targets: targets(qs),
		Title:   title,
		Type:    "timeseries",
	}
}
