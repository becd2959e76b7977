package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/store"
)

// TestMetricsDoc checks docs/METRICS.md against what a running dev process
// exports after it has completed a job and a schedule's job (so that the
// per-schedule gauges exist): every intake_* family is documented, and
// every documented metric is exported.
func TestMetricsDoc(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startDev(t, "INTAKE_DATA_DIR="+dir)
	completeScheduleJob(t, filepath.Join(dir, "intake.db"))
	var created struct {
		Jobs []struct {
			JobID string `json:"jobId"`
		} `json:"jobs"`
	}
	if code := postJSON(t, s.base+"/create-job", `{"num_jobs": 1}`, &created); code != http.StatusOK || len(created.Jobs) != 1 {
		t.Fatalf("create-job: HTTP %d", code)
	}
	newAPIClient(s.base).waitAll(t, []string{created.Jobs[0].JobID}, 60*time.Second)
	// The queue snapshot is cached for 5 s; the families exist regardless.
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	exported := map[string]bool{}
	typeLine := regexp.MustCompile(`^# TYPE (intake_\w+) `)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := typeLine.FindStringSubmatch(sc.Text()); m != nil {
			exported[m[1]] = true
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)

	doc, err := os.ReadFile("../../docs/METRICS.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	row := regexp.MustCompile("^\\| `(intake_\\w+)` \\|")
	for _, line := range strings.Split(string(doc), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			documented[m[1]] = true
		}
	}
	var missing, stale []string
	for name := range exported {
		if !documented[name] {
			missing = append(missing, name)
		}
	}
	for name := range documented {
		if !exported[name] {
			stale = append(stale, name)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("exported but not in docs/METRICS.md: %v", missing)
	}
	if len(stale) > 0 {
		t.Errorf("in docs/METRICS.md but not exported: %v", stale)
	}
	if len(documented) < 25 {
		t.Errorf("only %d metrics documented; the table did not parse", len(documented))
	}
}

// completeScheduleJob creates a schedule in the dev process's store, due
// now, and waits until the dev process has fired it and completed its job.
func completeScheduleJob(t *testing.T, dbPath string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sch, err := st.CreateSchedule(ctx, &intake.Schedule{
		Tenant: intake.DefaultTenant, SourceType: "filings",
		Config:     json.RawMessage(`{"cin":"U72200KA2009PTC049889","company_name":"Metrics Test"}`),
		Interval:   intake.Duration(time.Hour),
		NextFireAt: time.Now().UTC().Truncate(time.Millisecond),
	})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the schedule's job did not complete within 60s")
		}
		health, err := st.ScheduleHealth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range health {
			if h.ScheduleID == sch.ID && !h.LastCompletedAt.IsZero() {
				return
			}
		}
	}
}
