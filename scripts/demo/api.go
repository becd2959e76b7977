package main

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"slices"
	"strings"
)

// jobView is what the demo reads of GET /api/v1/jobs/status/{id} and of
// the job list.
type jobView struct {
	JobID    string `json:"job_id"`
	Status   string `json:"status"`
	Runs     int    `json:"runs"`
	Progress struct {
		Collected int `json:"collected"`
	} `json:"progress"`
	RunHistory []struct {
		Worker  string `json:"worker"`
		Outcome string `json:"outcome"`
	} `json:"run_history"`
}

// jobStatus reads one job's status.
func (st *stack) jobStatus(ctx context.Context, id string) (jobView, error) {
	var j jobView
	err := getJSON(ctx, st.api+"/api/v1/jobs/status/"+url.PathEscape(id), &j)
	return j, err
}

// runSummary is what all the jobs of the run add up to.
type runSummary struct {
	completed, documents, runs int
	workers                    []string            // the worker processes named in the run histories
	jobWorkers                 map[string][]string // each job's workers, in run order
}

// summary reads every job (the run creates fewer than one page of them) and
// its run history.
func (st *stack) summary(ctx context.Context) (runSummary, error) {
	var list struct {
		Jobs       []jobView `json:"jobs"`
		NextCursor string    `json:"next_cursor"`
	}
	if err := getJSON(ctx, st.api+"/api/v1/jobs?limit=100", &list); err != nil {
		return runSummary{}, err
	}
	if list.NextCursor != "" {
		return runSummary{}, fmt.Errorf("more than 100 jobs in the demo's store")
	}
	s := runSummary{jobWorkers: map[string][]string{}}
	for _, j := range list.Jobs {
		full, err := st.jobStatus(ctx, j.JobID)
		if err != nil {
			return s, err
		}
		if full.Status == "completed" {
			s.completed++
		}
		s.documents += full.Progress.Collected
		s.runs += full.Runs
		for _, r := range full.RunHistory {
			if !slices.Contains(s.workers, r.Worker) {
				s.workers = append(s.workers, r.Worker)
			}
			if !slices.Contains(s.jobWorkers[j.JobID], r.Worker) {
				s.jobWorkers[j.JobID] = append(s.jobWorkers[j.JobID], r.Worker)
			}
		}
	}
	slices.Sort(s.workers)
	return s, nil
}

// alertSummary is what Prometheus says of the alerting rules.
type alertSummary struct {
	total  int
	firing []string
}

// alertRules reads the alerting rules Prometheus loaded and which fire.
func (st *stack) alertRules(ctx context.Context) (alertSummary, error) {
	var r struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name  string `json:"name"`
					Type  string `json:"type"`
					State string `json:"state"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := getJSON(ctx, st.prom+"/api/v1/rules?type=alert", &r); err != nil {
		return alertSummary{}, err
	}
	var s alertSummary
	for _, g := range r.Data.Groups {
		for _, rule := range g.Rules {
			s.total++
			if rule.State == "firing" {
				s.firing = append(s.firing, rule.Name)
			}
		}
	}
	if s.total == 0 {
		return s, fmt.Errorf("prometheus loaded no alerting rules")
	}
	return s, nil
}

// buildVersion is the first word after "intake" in `intake version`.
func (st *stack) buildVersion(ctx context.Context, intake string) (string, error) {
	out, err := exec.CommandContext(ctx, intake, "version").Output() //nolint:gosec // the binary scripts/demo.sh built
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(out))
	if len(f) >= 2 && f[0] == "intake" {
		return f[1], nil
	}
	if len(f) >= 1 {
		return f[0], nil
	}
	return "", fmt.Errorf("intake version printed nothing")
}
