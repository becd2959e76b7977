// Command grafana is a TEST STAND-IN for the grafana/grafana image, for
// running intake's Compose stack where no registry is reachable. It is not
// Grafana and must never be used in production. It honours the parts of the
// image's contract that docker-compose.yml uses:
//
//   - GF_SECURITY_ADMIN_USER, GF_SECURITY_ADMIN_PASSWORD and
//     GF_SECURITY_ADMIN_PASSWORD__FILE (the __FILE suffix reads a file);
//   - GF_PATHS_PROVISIONING: datasources/*.yaml and dashboards/*.yaml are
//     read at start (and on the reload endpoints); a file provider's JSON
//     dashboards are loaded from options.path. An invalid file stops the
//     start, as Grafana refuses to start on broken provisioning;
//   - GF_SERVER_HTTP_PORT (default 3000).
//
// It answers GET /api/health, and with basic auth as the admin:
// GET /api/datasources, /api/datasources/uid/UID, /api/search,
// /api/dashboards/uid/UID, and POST /api/admin/provisioning/{datasources,
// dashboards}/reload.
package main

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v4"
)

const version = "12.1.1-standin"

// datasource is one provisioned data source.
type datasource struct {
	Name      string         `yaml:"name" json:"name"`
	UID       string         `yaml:"uid" json:"uid"`
	Type      string         `yaml:"type" json:"type"`
	Access    string         `yaml:"access" json:"access"`
	URL       string         `yaml:"url" json:"url"`
	IsDefault bool           `yaml:"isDefault" json:"isDefault"`
	Editable  bool           `yaml:"editable" json:"readOnly"`
	JSONData  map[string]any `yaml:"jsonData" json:"jsonData"`
}

// provider is one dashboard provider.
type provider struct {
	Name    string `yaml:"name"`
	Folder  string `yaml:"folder"`
	Type    string `yaml:"type"`
	Options struct {
		Path string `yaml:"path"`
	} `yaml:"options"`
}

// dashboard is a loaded dashboard.
type dashboard struct {
	UID    string
	Title  string
	Folder string
	JSON   map[string]any
}

// state is what was provisioned.
type state struct {
	mu          sync.RWMutex
	datasources []datasource
	dashboards  map[string]dashboard
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "grafana stand-in:", err)
		os.Exit(1)
	}
}

func run() error {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	user := envOr("GF_SECURITY_ADMIN_USER", "admin")
	password, err := secret("GF_SECURITY_ADMIN_PASSWORD", "admin")
	if err != nil {
		return err
	}
	prov := envOr("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning")
	st := &state{}
	if err := st.loadDatasources(prov); err != nil {
		return err
	}
	if err := st.loadDashboards(prov); err != nil {
		return err
	}
	logger.Info("provisioned", "datasources", len(st.datasources), "dashboards", len(st.dashboards))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]string{"commit": "standin", "database": "ok", "version": version})
	})
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 ||
				subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
				w.Header().Set("WWW-Authenticate", `Basic realm="grafana"`)
				http.Error(w, `{"message":"Unauthorized"}`, http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /api/datasources", auth(func(w http.ResponseWriter, _ *http.Request) {
		st.mu.RLock()
		defer st.mu.RUnlock()
		writeJSON(w, st.datasources)
	}))
	mux.HandleFunc("GET /api/datasources/uid/{uid}", auth(func(w http.ResponseWriter, r *http.Request) {
		st.mu.RLock()
		defer st.mu.RUnlock()
		for _, d := range st.datasources {
			if d.UID == r.PathValue("uid") {
				writeJSON(w, d)
				return
			}
		}
		http.Error(w, `{"message":"Data source not found"}`, http.StatusNotFound)
	}))
	mux.HandleFunc("GET /api/search", auth(func(w http.ResponseWriter, _ *http.Request) {
		st.mu.RLock()
		defer st.mu.RUnlock()
		out := []map[string]string{}
		for _, d := range st.dashboards {
			out = append(out, map[string]string{"uid": d.UID, "title": d.Title, "type": "dash-db", "folderTitle": d.Folder})
		}
		sort.Slice(out, func(i, j int) bool { return out[i]["uid"] < out[j]["uid"] })
		writeJSON(w, out)
	}))
	mux.HandleFunc("GET /api/dashboards/uid/{uid}", auth(func(w http.ResponseWriter, r *http.Request) {
		st.mu.RLock()
		defer st.mu.RUnlock()
		d, ok := st.dashboards[r.PathValue("uid")]
		if !ok {
			http.Error(w, `{"message":"Dashboard not found"}`, http.StatusNotFound)
			return
		}
		writeJSON(w, map[string]any{"dashboard": d.JSON, "meta": map[string]any{"folderTitle": d.Folder, "provisioned": true}})
	}))
	for kind, load := range map[string]func(string) error{"datasources": st.loadDatasources, "dashboards": st.loadDashboards} {
		mux.HandleFunc("POST /api/admin/provisioning/"+kind+"/reload", auth(func(w http.ResponseWriter, _ *http.Request) {
			if err := load(prov); err != nil {
				http.Error(w, fmt.Sprintf(`{"message":%q}`, err.Error()), http.StatusInternalServerError)
				return
			}
			writeJSON(w, map[string]string{"message": kind + " config reloaded"})
		}))
	}
	addr := ":" + envOr("GF_SERVER_HTTP_PORT", "3000")
	logger.Info("listening (test stand-in, not Grafana)", "addr", addr)
	return http.ListenAndServe(addr, mux) //nolint:gosec // a test stand-in on a container network
}

// loadDatasources reads every datasources/*.y*ml file of dir.
func (s *state) loadDatasources(dir string) error {
	var all []datasource
	err := eachYAML(filepath.Join(dir, "datasources"), func(path string, b []byte) error {
		var f struct {
			APIVersion  int          `yaml:"apiVersion"`
			Datasources []datasource `yaml:"datasources"`
		}
		if err := yaml.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, d := range f.Datasources {
			if d.Name == "" || d.Type == "" {
				return fmt.Errorf("%s: a data source needs a name and a type", path)
			}
			d.Editable = !d.Editable // reported as readOnly
			all = append(all, d)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.datasources = all
	s.mu.Unlock()
	return nil
}

// loadDashboards reads every dashboards/*.y*ml provider of dir and the JSON
// dashboards of its file providers.
func (s *state) loadDashboards(dir string) error {
	all := map[string]dashboard{}
	err := eachYAML(filepath.Join(dir, "dashboards"), func(path string, b []byte) error {
		var f struct {
			Providers []provider `yaml:"providers"`
		}
		if err := yaml.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, p := range f.Providers {
			if p.Type != "file" || p.Options.Path == "" {
				return fmt.Errorf("%s: provider %q: the stand-in loads type file with options.path only", path, p.Name)
			}
			files, err := filepath.Glob(filepath.Join(p.Options.Path, "*.json"))
			if err != nil {
				return err
			}
			for _, jf := range files {
				jb, err := os.ReadFile(jf)
				if err != nil {
					return err
				}
				var d map[string]any
				if err := json.Unmarshal(jb, &d); err != nil {
					return fmt.Errorf("%s: %w", jf, err)
				}
				uid, _ := d["uid"].(string)
				title, _ := d["title"].(string)
				if uid == "" || title == "" {
					return fmt.Errorf("%s: a dashboard needs a uid and a title", jf)
				}
				all[uid] = dashboard{UID: uid, Title: title, Folder: p.Folder, JSON: d}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.dashboards = all
	s.mu.Unlock()
	return nil
}

// eachYAML calls fn for every .yaml and .yml file of dir; a missing dir is
// no error.
func eachYAML(dir string, fn func(string, []byte) error) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := fn(path, b); err != nil {
			return err
		}
	}
	return nil
}

// secret reads NAME__FILE when set, else NAME, else def.
func secret(name, def string) (string, error) {
	if f := os.Getenv(name + "__FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("%s__FILE: %w", name, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return envOr(name, def), nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
