package grafana

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	statpanel "github.com/grafana/grafana-foundation-sdk/go/stat"
	tspanel "github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// board adds rows and panels to a dashboard in reading order. The SDK
// places each panel on the grid, left to right and top to bottom; board
// numbers rows and panels 1, 2, 3, … in that order, so that ids stay stable
// across regenerations, and puts the panels that follow a collapsed row
// into it, as Grafana stores them.
type board struct {
	d      *dashboard.DashboardBuilder
	row    *dashboard.RowBuilder // the open collapsed row; nil otherwise
	nextID uint32
	err    error // the first panel that did not build
}

func (b *board) id() uint32 {
	b.nextID++
	return b.nextID
}

// section starts a row. A collapsed row must come after every expanded one:
// it holds all the panels added after it.
func (b *board) section(title string, collapsed bool) {
	b.closeRow()
	row := dashboard.NewRowBuilder(title).Id(b.id()).Collapsed(collapsed)
	if collapsed {
		b.row = row
		return
	}
	b.d.WithRow(row)
}

// closeRow adds the open collapsed row, with its panels, to the dashboard.
func (b *board) closeRow() {
	if b.row != nil {
		b.d.WithRow(b.row)
		b.row = nil
	}
}

// add appends a panel w grid columns wide and h high.
func (b *board) add(w, h uint32, p cog.Builder[dashboard.Panel]) {
	panel, err := p.Build()
	if err != nil {
		b.err = cmpOr(b.err, err)
		return
	}
	panel.Id = cog.ToPtr(b.id())
	panel.GridPos = &dashboard.GridPos{W: w, H: h}
	if b.row != nil {
		b.row.WithPanel(built(panel))
		return
	}
	b.d.WithPanel(built(panel))
}

// built is a panel that is already built, for the dashboard's and the
// row's WithPanel.
type built dashboard.Panel

func (p built) Build() (dashboard.Panel, error) { return dashboard.Panel(p), nil }

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// query is a PromQL expression with its legend.
type query struct {
	expr, legend string
}

func q(expr, legend string) query { return query{expr: expr, legend: legend} }

// promDatasource is the dashboard's Prometheus data source: the one the
// datasource variable selects.
var promDatasource = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// targets turns queries into range queries with refIds A, B, C, ….
func targets(qs []query) []cog.Builder[variants.Dataquery] {
	if len(qs) > 26 {
		panic(fmt.Sprintf("too many queries in one panel: %d", len(qs)))
	}
	ts := make([]cog.Builder[variants.Dataquery], len(qs))
	for i, x := range qs {
		ts[i] = prometheus.NewDataqueryBuilder().
			Datasource(promDatasource).
			EditorMode(prometheus.QueryEditorModeCode).
			Expr(x.expr).
			LegendFormat(x.legend).
			Range().
			RefId(string(rune('A' + i)))
	}
	return ts
}

func greenBase() []dashboard.Threshold { return []dashboard.Threshold{{Color: "green"}} }

// warnAt colours a value yellow from warn and red from crit.
func warnAt(warn, crit float64) []dashboard.Threshold {
	return []dashboard.Threshold{{Color: "green"}, {Color: "yellow", Value: &warn}, {Color: "red", Value: &crit}}
}

func thresholds(steps []dashboard.Threshold) *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps)
}

// stat is a single-value panel showing the last value of each query.
func stat(title, desc, unit string, steps []dashboard.Threshold, qs ...query) *statpanel.PanelBuilder {
	if steps == nil {
		steps = greenBase()
	}
	return statpanel.NewPanelBuilder().
		Title(title).
		Description(desc).
		Datasource(promDatasource).
		Targets(targets(qs)).
		Unit(unit).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
		Thresholds(thresholds(steps)).
		ColorMode(common.BigValueColorModeValue).
		GraphMode(common.BigValueGraphModeArea).
		JustifyMode(common.BigValueJustifyModeAuto).
		Orientation(common.VizOrientationAuto).
		TextMode(common.BigValueTextModeAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Fields("").Values(false))
}

// timeseries is a graph of every query.
func timeseries(title, desc, unit string, qs ...query) *tspanel.PanelBuilder {
	return tspanel.NewPanelBuilder().
		Title(title).
		Description(desc).
		Datasource(promDatasource).
		Targets(targets(qs)).
		Unit(unit).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdPaletteClassic)).
		Thresholds(thresholds(greenBase())).
		DrawStyle(common.GraphDrawStyleLine).
		FillOpacity(10).
		LineWidth(1).
		PointSize(4).
		ShowPoints(common.VisibilityModeNever).
		SpanNulls(common.BoolOrFloat64{Bool: cog.ToPtr(false)}).
		AxisSoftMin(0).
		Stacking(common.NewStackingConfigBuilder().Group("A").Mode(common.StackingModeNone)).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeOff)).
		AxisCenteredZero(false).
		AxisPlacement(common.AxisPlacementAuto).
		GradientMode(common.GraphGradientModeNone).
		LineInterpolation(common.LineInterpolationLinear).
		Legend(common.NewVizLegendOptionsBuilder().
			Calcs([]string{"mean", "lastNotNull", "max"}).
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending))
}
