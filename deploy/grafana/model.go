package grafana

// The subset of Grafana's dashboard model (schemaVersion 39, Grafana 10.4
// and later) that the intake dashboard uses. Fields are declared in the
// order Grafana exports them where that is convenient; encoding/json sorts
// map keys, so the generated file is byte-for-byte deterministic.

// model is a dashboard as Grafana stores it.
type model struct {
	Annotations   annotations `json:"annotations"`
	Description   string      `json:"description"`
	Editable      bool        `json:"editable"`
	GraphTooltip  int         `json:"graphTooltip"`
	Links         []link      `json:"links"`
	Panels        []*Panel    `json:"panels"`
	Refresh       string      `json:"refresh"`
	SchemaVersion int         `json:"schemaVersion"`
	Tags          []string    `json:"tags"`
	Templating    templating  `json:"templating"`
	Time          timeRange   `json:"time"`
	Timepicker    struct{}    `json:"timepicker"`
	Timezone      string      `json:"timezone"`
	Title         string      `json:"title"`
	UID           string      `json:"uid"`
	Version       int         `json:"version"`
}

type annotations struct {
	List []annotation `json:"list"`
}

type annotation struct {
	BuiltIn    int           `json:"builtIn"`
	Datasource DatasourceRef `json:"datasource"`
	Enable     bool          `json:"enable"`
	Hide       bool          `json:"hide"`
	IconColor  string        `json:"iconColor"`
	Name       string        `json:"name"`
	Type       string        `json:"type"`
}

type link struct {
	Icon        string `json:"icon"`
	TargetBlank bool   `json:"targetBlank"`
	Title       string `json:"title"`
	Type        string `json:"type"`
	URL         string `json:"url"`
}

type templating struct {
	List []variable `json:"list"`
}

type variable struct {
	Current    variableValue `json:"current"`
	Hide       int           `json:"hide"`
	IncludeAll bool          `json:"includeAll"`
	Label      string        `json:"label"`
	Multi      bool          `json:"multi"`
	Name       string        `json:"name"`
	Options    []any         `json:"options"`
	Query      string        `json:"query"`
	Refresh    int           `json:"refresh"`
	Regex      string        `json:"regex"`
	Type       string        `json:"type"`
}

type variableValue struct {
	Text  string `json:"text"`
	Value string `json:"value"`
}

type timeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// DatasourceRef names a data source by type and uid.
type DatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// GridPos places a panel on Grafana's 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Panel is a dashboard panel; a row when Type is "row".
type Panel struct {
	Collapsed   *bool          `json:"collapsed,omitempty"`
	Datasource  *DatasourceRef `json:"datasource,omitempty"`
	Description string         `json:"description,omitempty"`
	FieldConfig *fieldConfig   `json:"fieldConfig,omitempty"`
	GridPos     GridPos        `json:"gridPos"`
	ID          int            `json:"id"`
	Options     map[string]any `json:"options,omitempty"`
	// Panels holds the panels of a collapsed row.
	Panels  []*Panel `json:"panels,omitempty"`
	Targets []Target `json:"targets,omitempty"`
	Title   string   `json:"title"`
	Type    string   `json:"type"`
}

// Target is one Prometheus query of a panel.
type Target struct {
	Datasource   DatasourceRef `json:"datasource"`
	EditorMode   string        `json:"editorMode"`
	Expr         string        `json:"expr"`
	Instant      bool          `json:"instant"`
	LegendFormat string        `json:"legendFormat"`
	Range        bool          `json:"range"`
	RefID        string        `json:"refId"`
}

type fieldConfig struct {
	Defaults  fieldDefaults `json:"defaults"`
	Overrides []any         `json:"overrides"`
}

type fieldDefaults struct {
	Color      map[string]any `json:"color"`
	Custom     map[string]any `json:"custom,omitempty"`
	Decimals   *int           `json:"decimals,omitempty"`
	Mappings   []any          `json:"mappings"`
	Min        *float64       `json:"min,omitempty"`
	Max        *float64       `json:"max,omitempty"`
	Thresholds thresholds     `json:"thresholds"`
	Unit       string         `json:"unit"`
}

type thresholds struct {
	Mode  string `json:"mode"`
	Steps []step `json:"steps"`
}

// step is a threshold step; Value is nil for the base step (-Infinity).
type step struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}
