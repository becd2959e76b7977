package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/caarlos0/env/v11"
)

// Load reads the configuration from environ (os.Environ's form): Default,
// overridden by every variable that is set and not empty. Errors name the
// offending variable in one line.
func Load(environ []string) (*Config, error) {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	if err := resolve(vars); err != nil {
		return nil, err
	}
	cfg := Default()
	// One section at a time, so that a parse error, which names only the
	// struct field, names its variable unambiguously.
	var msgs []string
	for _, s := range cfg.sections() {
		if err := env.ParseWithOptions(s.ptr, env.Options{Environment: vars}); err != nil {
			msgs = append(msgs, describe(err, s.fields))
		}
	}
	if len(msgs) > 0 {
		return nil, errors.New(strings.Join(msgs, "; "))
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var err error
	if cfg.Sources.Secrets, err = secrets(vars); err != nil {
		return nil, err
	}
	if cfg.Sources.DBConnections, err = dbConnections(vars); err != nil {
		return nil, err
	}
	if err := cfg.validateWebhook(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// resolve applies the <NAME>_FILE forms of secret variables and the aliases,
// so that the parser sees plain variables. Precedence: the variable itself,
// its _FILE form, then each alias (and its _FILE form).
func resolve(vars map[string]string) error {
	for _, f := range fields() {
		names := append([]string{f.Name}, f.Aliases...)
		for _, name := range names {
			if v, ok := vars[name]; ok && v != "" {
				vars[f.Name] = v
				break
			}
			if !f.Secret {
				continue
			}
			if path, ok := vars[name+"_FILE"]; ok && path != "" {
				v, err := readSecretFile(path)
				if err != nil {
					return fmt.Errorf("%s_FILE: %w", name, err)
				}
				vars[f.Name] = v
				break
			}
		}
	}
	return nil
}

// describe turns the parser's errors for one section into one line naming
// each variable.
func describe(err error, section []Field) string {
	var agg env.AggregateError
	if !errors.As(err, &agg) || len(agg.Errors) == 0 {
		return err.Error()
	}
	byField := map[string]string{}
	for _, f := range section {
		byField[f.Field] = f.Name
	}
	msgs := make([]string, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			inner := pe.Err
			var pv env.ParseValueError
			if errors.As(inner, &pv) && pv.Err != nil {
				inner = pv.Err
			}
			msgs = append(msgs, fmt.Sprintf("%s: %v", byField[pe.Name], inner))
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return strings.Join(msgs, "; ")
}

// readSecretFile reads the value of a <NAME>_FILE variable: the file's
// content without its trailing newline.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return "", fmt.Errorf("read %s: %w", pe.Path, pe.Err)
		}
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

var (
	secretName = regexp.MustCompile(`^INTAKE_SECRET_([A-Z0-9_]+?)(_FILE|_HOSTS)?$`)
	dbName     = regexp.MustCompile(`^INTAKE_SOURCE_DB_([A-Z0-9_]+?)_URL(_FILE)?$`)
)

// secrets collects INTAKE_SECRET_<NAME>, its _FILE form and its _HOSTS.
// Names are case-insensitive in job configs and stored in upper case. A
// secret without hosts is refused: a hostile config could otherwise send it
// anywhere.
func secrets(vars map[string]string) (map[string]Secret, error) {
	out := map[string]Secret{}
	hosts := map[string][]string{}
	for k, v := range vars {
		m := secretName.FindStringSubmatch(k)
		if m == nil || v == "" {
			continue
		}
		name := m[1]
		switch m[2] {
		case "_HOSTS":
			for _, h := range strings.Split(v, ",") {
				if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
					hosts[name] = append(hosts[name], h)
				}
			}
		case "_FILE":
			if _, direct := vars["INTAKE_SECRET_"+name]; direct {
				continue
			}
			value, err := readSecretFile(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			s := out[name]
			s.Value = value
			out[name] = s
		default:
			s := out[name]
			s.Value = v
			out[name] = s
		}
	}
	for name, s := range out {
		if len(hosts[name]) == 0 {
			return nil, fmt.Errorf("INTAKE_SECRET_%s_HOSTS: must list the hosts the secret may be sent to", name)
		}
		s.Hosts = hosts[name]
		slices.Sort(s.Hosts)
		out[name] = s
	}
	for name := range hosts {
		if _, ok := out[name]; !ok {
			return nil, fmt.Errorf("INTAKE_SECRET_%s_HOSTS: no INTAKE_SECRET_%s (or _FILE) to go with it", name, name)
		}
	}
	return out, nil
}

// dbConnections collects INTAKE_SOURCE_DB_<NAME>_URL and its _FILE form.
func dbConnections(vars map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range vars {
		m := dbName.FindStringSubmatch(k)
		if m == nil || v == "" {
			continue
		}
		name := m[1]
		if m[2] == "_FILE" {
			if _, direct := vars["INTAKE_SOURCE_DB_"+name+"_URL"]; direct {
				continue
			}
			value, err := readSecretFile(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			v = value
		}
		out[name] = v
	}
	return out, nil
}
