package deploy

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// TestComposeMigrateAndAlerting checks the fixes that made the stack start
// and alert: migrate gets the database URL only (an environment: on a
// service replaces the anchor's, and `intake migrate` opens the job store
// alone), Prometheus sends to the Alertmanager service, which renders every
// placeholder of its template from a variable the service sets, and the
// worker image has a HEALTHCHECK of its own.
func TestComposeMigrateAndAlerting(t *testing.T) {
	t.Parallel()
	for _, files := range [][]string{{composeFile}, {composeFile, mongoFile}} {
		p := load(t, files...)
		m := p.Services["migrate"]
		var keys []string
		for k := range m.Environment {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"INTAKE_DATABASE_URL_FILE", "INTAKE_LOG_FORMAT", "INTAKE_LOG_LEVEL"}) {
			t.Errorf("%v: migrate environment = %v, want the database URL and logging only", files, keys)
		}
		if !slices.Equal(secretNames(m), []string{"database_url"}) {
			t.Errorf("%v: migrate secrets = %v, want [database_url]", files, secretNames(m))
		}
	}

	p := load(t, composeFile)
	am := p.Services["alertmanager"]
	checkBind(t, am, "deploy/alertmanager", "/etc/alertmanager")
	tmpl, err := os.ReadFile("alertmanager/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	script := strings.Join(am.Command, " ")
	for _, m := range regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)\}`).FindAllStringSubmatch(string(tmpl), -1) {
		if v := am.Environment[m[1]]; v == nil || *v == "" {
			t.Errorf("alertmanager.yml uses ${%s}, which the alertmanager service does not set", m[1])
		}
		if !strings.Contains(script, "${"+m[1]+"}|$"+m[1]+"|g") {
			t.Errorf("the alertmanager entrypoint does not substitute ${%s}", m[1])
		}
	}

	prom, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?s)alerting:\s+alertmanagers:.*targets: \[alertmanager:9093\]`).Match(prom) {
		t.Error("prometheus.yml does not send alerts to alertmanager:9093")
	}
	if !slices.Contains(keys(p.Services["prometheus"].Networks), "monitoring") || !slices.Contains(keys(am.Networks), "monitoring") {
		t.Error("prometheus and alertmanager must share the monitoring network")
	}

	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	worker := string(df)[strings.Index(string(df), "AS worker"):]
	if !strings.Contains(worker, `HEALTHCHECK`) || !strings.Contains(worker, `"http://127.0.0.1:9100/health"`) {
		t.Error("the worker target of the Dockerfile has no HEALTHCHECK on its own /health (:9100)")
	}
}

// secretNames returns the sources of the service's secrets, sorted.
func secretNames(s types.ServiceConfig) []string {
	var out []string
	for _, sc := range s.Secrets {
		out = append(out, sc.Source)
	}
	return sorted(out)
}
