package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// Field documents one configuration variable.
type Field struct {
	Section string // the title of its subsystem, e.g. "Job store"
	Field   string // struct field name within its section
	Name    string // environment variable
	Default string // as docs/CONFIG.md shows it; "" when there is none
	Aliases []string
	Secret  bool
	Desc    string
}

// section is one subsystem's part of a Config.
type section struct {
	title  string
	ptr    any // a pointer to the section's struct inside the Config
	fields []Field
}

// sections returns c's subsystems in declaration order, each with the
// documentation of its variables and their values in c as defaults.
func (c *Config) sections() []section {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	out := make([]section, 0, t.NumField())
	for i := range t.NumField() {
		title := t.Field(i).Tag.Get("title")
		sv := v.Field(i)
		st := sv.Type()
		s := section{title: title, ptr: sv.Addr().Interface()}
		for j := range st.NumField() {
			sf := st.Field(j)
			name, _, _ := strings.Cut(sf.Tag.Get("env"), ",")
			if name == "" || name == "-" {
				continue
			}
			f := Field{
				Section: title,
				Field:   sf.Name,
				Name:    name,
				Default: formatDefault(sv.Field(j).Interface()),
				Secret:  sf.Tag.Get("secret") == "true",
				Desc:    sf.Tag.Get("desc"),
			}
			if a := sf.Tag.Get("alias"); a != "" {
				f.Aliases = strings.Split(a, ",")
			}
			s.fields = append(s.fields, f)
		}
		out = append(out, s)
	}
	return out
}

// fields returns the documentation of every variable, section by section,
// with the defaults of Default.
func fields() []Field {
	d := Default()
	var out []Field
	for _, s := range d.sections() {
		out = append(out, s.fields...)
	}
	return out
}

// Fields returns the documentation of every variable, in struct order.
func Fields() []Field { return fields() }

// formatDefault shows a default as an operator would write it: "60s" as
// "1m", no default for an empty string or list.
func formatDefault(v any) string {
	switch x := v.(type) {
	case time.Duration:
		s := x.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		return s
	case string:
		return x
	case []string:
		return strings.Join(x, ",")
	}
	return fmt.Sprint(v)
}
