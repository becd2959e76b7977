// Package grafana generates intake's Grafana dashboard,
// dashboards/intake.json, from Go code, and lists its PromQL queries for
// tests that run them against Prometheus.
//
// The dashboard is built from small structs of this package rather than
// github.com/grafana/grafana-foundation-sdk: the SDK is not served by the
// module proxy this project builds against, and intake needs only two
// panel kinds, so a few structs are easier to pin and review than a
// generated SDK. Regenerate the file with
//
//	go test ./deploy/grafana -run TestDashboardUpToDate -update
//
// Queries follow docs/METRICS.md. The queue snapshot (intake_jobs,
// intake_queue_oldest_pending_age_seconds, intake_documents_stored,
// intake_documents_stored_bytes) is read from the shared store and
// exported identically by every API replica, so it is aggregated with max,
// never sum. Throughput that must be right when every worker is a
// short-lived `work --once` process, which exports no metrics, is derived
// from that snapshot with deriv over a subquery. Run counts, run durations
// and job completion times come from the run records in the store
// (intake_recorded_*), exported the same way by every API replica and so
// aggregated with max as well; worker counters (per source type) are
// shown beside them where long-running workers are scraped. Every panel
// answers when only `work --once` pods do the work.
package grafana

import (
	"bytes"
	"encoding/json"
	"strings"
)

// UID is the dashboard's uid; it is stable so that links to it survive
// regeneration.
const UID = "intake-overview"

// DatasourceUID is the uid of the Prometheus data source that
// provisioning/datasources/prometheus.yml provisions; it is the default of
// the dashboard's datasource variable.
const DatasourceUID = "prometheus"

// DashboardFile is the generated dashboard, relative to this package's
// directory.
const DashboardFile = "dashboards/intake.json"

// snapshotWindow is the subquery over which throughput is derived from the
// store snapshot: 5 minutes at a 15-second resolution. The resolution is
// explicit so that the result does not depend on Prometheus's global
// evaluation interval.
const snapshotWindow = "[5m:15s]"

// storeDeriv is the per-second rate of change of a snapshot gauge, taken
// over the replicas' max.
func storeDeriv(selector string) string {
	return "deriv(max(" + selector + ")" + snapshotWindow + ")"
}

func rate(selector string) string {
	return "rate(" + selector + "[$__rate_interval])"
}

func quantile(phi, by, bucket string) string {
	return "histogram_quantile(" + phi + ", sum by (" + by + ") (" + rate(bucket) + "))"
}

// recorded is the per-second rate of a run-record counter or histogram
// series, taken over the replicas' max: every API replica exports the same
// values from the store.
func recorded(selector, by string) string {
	return "max by (" + by + ") (" + rate(selector) + ")"
}

const (
	fromStore   = " Derived from the queue snapshot that `intake serve` reads from the store, so it includes the work of `work --once` pods."
	fromRecords = " From the run records in the store (`intake serve` exports them), so it includes every run of `work --once` pods."
	perSource   = " Series marked (long-running workers) come from the workers' own counters, per source type, where `intake work` pools are scraped."
)

// Dashboard returns the dashboard as Grafana JSON, indented, with a
// trailing newline: the content of dashboards/intake.json.
func Dashboard() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(build()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func build() *model {
	b := &builder{}

	b.section("Queue (store snapshot)", false)
	b.add(3, 4, stat("Pending", "Jobs waiting to be claimed.", "short", nil,
		q(`max(intake_jobs{status="pending"})`, "pending")))
	b.add(3, 4, stat("Processing", "Jobs leased by a worker now (active jobs, store-wide).", "short", nil,
		q(`max(intake_jobs{status="processing"})`, "processing")))
	b.add(3, 4, stat("Scheduled", "Jobs waiting for a retry backoff or a Retry-After to pass.", "short", nil,
		q(`max(intake_jobs{status="scheduled"})`, "scheduled")))
	b.add(3, 4, stat("Completed", "Jobs completed, all time.", "short", nil,
		q(`max(intake_jobs{status="completed"})`, "completed")))
	b.add(3, 4, stat("Failed", "Jobs that failed for good (attempts exhausted or a permanent error).", "short", warnAt(1, 10),
		q(`max(intake_jobs{status="failed"})`, "failed")))
	b.add(3, 4, stat("Oldest pending", "Time since the oldest pending job became claimable; 0 when none is pending.", "s", warnAt(300, 900),
		q(`max(intake_queue_oldest_pending_age_seconds)`, "age")))
	b.add(3, 4, stat("Documents stored", "Documents recorded in the store, all time.", "short", nil,
		q(`max(intake_documents_stored)`, "documents")))
	b.add(3, 4, stat("Bytes stored", "Total size of the recorded documents.", "bytes", nil,
		q(`max(intake_documents_stored_bytes)`, "bytes")))
	b.add(4, 4, stat("Snapshot up", "1 when every API replica's last read of the queue snapshot from the store succeeded (min over replicas).", "short",
		[]step{{Color: "red"}, {Color: "green", Value: ptr(1.0)}},
		q(`min(intake_queue_stats_up)`, "up")))
	b.add(5, 4, stat("Jobs created / min", "Jobs accepted by the API.", "opm", nil,
		q(`60 * sum(`+rate(`intake_jobs_created_total`)+`)`, "created")))
	b.add(5, 4, stat("Jobs completed / min", "Jobs completing."+fromStore, "opm", nil,
		q(`60 * `+storeDeriv(`intake_jobs{status="completed"}`), "completed")))
	b.add(5, 4, stat("Documents / s", "Documents stored per second."+fromStore, "ops", nil,
		q(storeDeriv(`intake_documents_stored`), "documents")))
	b.add(5, 4, stat("Build", "Versions running, with the number of processes on each.", "short", nil,
		q(`count by (version, revision) (intake_build_info)`, "{{version}} ({{revision}})")))

	b.section("Jobs: creation, status and completion", false)
	b.add(12, 8, timeseries("Job creation rate", "Jobs accepted by the API per source type, and creation requests refused or failed by reason.", "ops",
		q(`sum by (source_type) (`+rate(`intake_jobs_created_total`)+`)`, "created: {{source_type}}"),
		q(`sum by (reason) (`+rate(`intake_jobs_create_failures_total`)+`)`, "refused: {{reason}}")))
	b.add(12, 8, timeseries("Jobs by status", "Active (processing), pending, scheduled, completed, failed and cancelled jobs in the store.", "short",
		q(`max by (status) (intake_jobs)`, "{{status}}")))
	b.add(12, 8, timeseries("Job throughput (store-derived)", "Jobs created, completed and failed per minute."+fromStore, "opm",
		q(`60 * sum(`+rate(`intake_jobs_created_total`)+`)`, "created"),
		q(`60 * `+storeDeriv(`intake_jobs{status="completed"}`), "completed"),
		q(`60 * `+storeDeriv(`intake_jobs{status="failed"}`), "failed")))
	b.add(12, 8, timeseries("Job completion time", "Time from a job's creation to its completion."+fromRecords+perSource, "s",
		q(`histogram_quantile(0.5, `+recorded(`intake_recorded_job_completion_seconds_bucket`, "le")+`)`, "p50"),
		q(`histogram_quantile(0.95, `+recorded(`intake_recorded_job_completion_seconds_bucket`, "le")+`)`, "p95"),
		q(`histogram_quantile(0.99, `+recorded(`intake_recorded_job_completion_seconds_bucket`, "le")+`)`, "p99"),
		q(quantile("0.95", "le, source_type", `intake_job_completion_seconds_bucket`), "p95 {{source_type}} (long-running workers)")))
	b.add(12, 8, timeseries("Oldest pending job", "Time since the oldest pending job became claimable. Growing while workers run means they cannot keep up; growing with no claims means workers or KEDA are down.", "s",
		q(`max(intake_queue_oldest_pending_age_seconds)`, "oldest pending")))
	b.add(12, 8, timeseries("POST /create-job batch size", "num_jobs of accepted POST /create-job requests.", "short",
		q(`sum(`+rate(`intake_create_job_batch_size_sum`)+`) / sum(`+rate(`intake_create_job_batch_size_count`)+`)`, "mean"),
		q(quantile("0.95", "le", `intake_create_job_batch_size_bucket`), "p95")))

	b.section("Processing: documents and worker runs", false)
	b.add(12, 8, timeseries("Documents per second", "Documents stored per second (from the store: every worker, `work --once` included) and collected per source type (long-running workers only).", "ops",
		q(storeDeriv(`intake_documents_stored`), "stored (store)"),
		q(`sum by (source_type) (`+rate(`intake_documents_collected_total`)+`)`, "collected: {{source_type}}")))
	b.add(12, 8, timeseries("Document bytes per second", "Bytes of recorded documents per second, from the store and per source type (long-running workers only).", "Bps",
		q(storeDeriv(`intake_documents_stored_bytes`), "stored (store)"),
		q(`sum by (source_type) (`+rate(`intake_document_bytes_total`)+`)`, "collected: {{source_type}}")))
	b.add(8, 8, timeseries("Worker runs by outcome", "Runs (one batch of one job) ended per second by outcome: completed, batch_done, drained, rescheduled, failed, lease_expired, cancelled."+fromRecords, "ops",
		q(recorded(`intake_recorded_runs_total`, "outcome"), "{{outcome}}")))
	b.add(8, 8, timeseries("Run duration", "Claim to release of one run, all outcomes."+fromRecords+perSource, "s",
		q(`histogram_quantile(0.5, sum by (le) (`+recorded(`intake_recorded_run_duration_seconds_bucket`, "le, outcome")+`))`, "p50"),
		q(`histogram_quantile(0.95, sum by (le) (`+recorded(`intake_recorded_run_duration_seconds_bucket`, "le, outcome")+`))`, "p95"),
		q(quantile("0.95", "le, source_type", `intake_worker_run_duration_seconds_bucket`), "p95 {{source_type}} (long-running workers)")))
	b.add(8, 8, timeseries("Claims by result", "Runs ended per second (from the run records: every claim that ran), and claim attempts by result where long-running workers are scraped: claimed, empty (nothing pending) or error.", "ops",
		q(`sum(`+recorded(`intake_recorded_runs_total`, "outcome")+`)`, "runs ended (store)"),
		q(`sum by (result) (`+rate(`intake_worker_claims_total`)+`)`, "{{result}} (long-running workers)")))
	b.add(12, 8, timeseries("Active runs", "Runs in progress in long-running workers, against jobs processing store-wide (which includes `work --once` pods).", "short",
		q(`sum(intake_worker_active_runs)`, "active runs (long-running workers)"),
		q(`max(intake_jobs{status="processing"})`, "processing (store)")))
	b.add(12, 8, timeseries("Batch size", "Mean number of documents a run collected (from the run records), and a run set out to collect per source type (long-running workers).", "short",
		q(`max(`+rate(`intake_recorded_run_documents_total`)+`) / sum(`+recorded(`intake_recorded_runs_total`, "outcome")+`)`, "documents per run (store)"),
		q(`sum by (source_type) (`+rate(`intake_worker_batch_size_sum`)+`) / sum by (source_type) (`+rate(`intake_worker_batch_size_count`)+`)`, "{{source_type}} (long-running workers)")))

	b.section("Errors and failure analysis", false)
	b.add(12, 8, timeseries("Job failure ratio", "Share of jobs ending failed among jobs ending (from the store), and of runs ending failed (long-running workers only).", "percentunit",
		q(storeDeriv(`intake_jobs{status="failed"}`)+` / (`+storeDeriv(`intake_jobs{status="failed"}`)+` + `+storeDeriv(`intake_jobs{status="completed"}`)+`)`, "jobs (store)"),
		q(`(sum(`+rate(`intake_worker_runs_total{outcome="failed"}`)+`) or vector(0)) / sum(`+rate(`intake_worker_runs_total`)+`)`, "runs (long-running workers)")))
	b.add(12, 8, timeseries("Runs not finished cleanly", "Runs that were rescheduled, failed, lost their lease, were drained on shutdown or cancelled."+fromRecords+perSource, "ops",
		q(recorded(`intake_recorded_runs_total{outcome=~"rescheduled|failed|lease_expired|drained|cancelled"}`, "outcome"), "{{outcome}}"),
		// The worker's outcomes are not initialised at zero: show failed 0
		// per source type that ran.
		q(`sum by (source_type, outcome) (`+rate(`intake_worker_runs_total{outcome=~"failed|lease_lost|drained"}`)+`) or label_replace(0 * sum by (source_type) (`+rate(`intake_worker_runs_total`)+`), "outcome", "failed", "", "")`, "{{outcome}}: {{source_type}} (long-running workers)")))
	b.add(8, 8, timeseries("Document errors", "Runs ended by an error (from the run records: rescheduled for a retry, or failed), and failed collection steps per source type and kind where long-running workers are scraped: source, blob, store, retry_after (the job was put back) or permanent (the job failed).", "ops",
		q(recorded(`intake_recorded_runs_total{outcome=~"rescheduled|failed"}`, "outcome"), "runs {{outcome}} (store)"),
		q(`sum by (source_type, kind) (`+rate(`intake_document_errors_total`)+`)`, "{{kind}}: {{source_type}} (long-running workers)")))
	b.add(8, 8, timeseries("Lease expiries and maintenance", "Jobs the maintenance loop promoted or took back from crashed or stuck workers (lease_expired*), and failed maintenance passes.", "ops",
		q(`sum by (action) (`+rate(`intake_maintenance_jobs_total`)+`)`, "{{action}}"),
		// outcome="error" is not initialised at zero: fall back to 0 per task.
		q(`sum by (task) (`+rate(`intake_maintenance_runs_total{outcome="error"}`)+`) or 0 * sum by (task) (`+rate(`intake_maintenance_runs_total`)+`)`, "failed pass: {{task}}")))
	b.add(8, 8, timeseries("Store errors", "Job store calls that failed (outcome error: alert on these), and the expected non-ok outcomes such as lease_lost or conflict.", "ops",
		q(`sum by (operation) (`+rate(`intake_store_operations_total{outcome="error"}`)+`)`, "error: {{operation}}"),
		q(`sum by (outcome) (`+rate(`intake_store_operations_total{outcome!~"ok|error"}`)+`)`, "{{outcome}}")))

	b.section("Blob storage", false)
	b.add(8, 8, timeseries("Document uploads", "Documents uploaded to blob storage per second (long-running workers only), against documents stored (from the store, every worker).", "ops",
		q(`sum(`+rate(`intake_blob_operations_total{operation="put",outcome="ok"}`)+`)`, "uploads (long-running workers)"),
		q(storeDeriv(`intake_documents_stored`), "documents stored (store)")))
	b.add(8, 8, timeseries("Blob bytes", "Bytes written to (put) and read from (get) blob storage per second.", "Bps",
		q(`sum by (operation) (`+rate(`intake_blob_bytes_total`)+`)`, "{{operation}}")))
	b.add(8, 8, timeseries("Blob operations", "Blob storage calls per second by operation and outcome.", "ops",
		q(`sum by (operation, outcome) (`+rate(`intake_blob_operations_total`)+`)`, "{{operation}} {{outcome}}")))
	b.add(8, 8, timeseries("Blob latency", "95th and 99th percentile of blob storage calls per operation, in every scraped process: the API's downloads (get) and orphan sweeps (list, delete), and the uploads (put) of long-running workers; `work --once` pods export none.", "s",
		q(quantile("0.95", "le, operation", `intake_blob_operation_duration_seconds_bucket`), "p95 {{operation}}"),
		q(quantile("0.99", "le, operation", `intake_blob_operation_duration_seconds_bucket`), "p99 {{operation}}")))
	b.add(8, 8, timeseries("Blob error ratio", "Share of blob storage calls that failed, per operation.", "percentunit",
		q(`sum by (operation) (`+rate(`intake_blob_operations_total{outcome="error"}`)+`) / sum by (operation) (`+rate(`intake_blob_operations_total`)+`)`, "{{operation}}")))
	b.add(8, 8, timeseries("Orphan blobs deleted", "Blobs the maintenance loop deleted because no document references them (left by abandoned uploads).", "ops",
		q(`sum(`+rate(`intake_maintenance_orphan_blobs_deleted_total`)+`)`, "deleted")))

	b.section("API", false)
	b.add(12, 8, timeseries("Requests by route", "HTTP requests served per second by route pattern.", "reqps",
		q(`sum by (route) (`+rate(`intake_http_requests_total`)+`)`, "{{route}}")))
	b.add(12, 8, timeseries("Responses by status code", "HTTP responses per second by status code.", "reqps",
		q(`sum by (code) (`+rate(`intake_http_requests_total`)+`)`, "{{code}}")))
	b.add(8, 8, timeseries("5xx ratio", "Share of HTTP responses that were server errors.", "percentunit",
		q(`(sum(`+rate(`intake_http_requests_total{code=~"5.."}`)+`) or vector(0)) / sum(`+rate(`intake_http_requests_total`)+`)`, "5xx")))
	b.add(8, 8, timeseries("Latency", "Time to serve a request, every route but /metrics.", "s",
		q(quantile("0.5", "le", `intake_http_request_duration_seconds_bucket{route!="/metrics"}`), "p50"),
		q(quantile("0.95", "le", `intake_http_request_duration_seconds_bucket{route!="/metrics"}`), "p95"),
		q(quantile("0.99", "le", `intake_http_request_duration_seconds_bucket{route!="/metrics"}`), "p99")))
	b.add(8, 8, timeseries("Latency p95 by route", "95th percentile of the time to serve a request, per route pattern.", "s",
		q(quantile("0.95", "le, route", `intake_http_request_duration_seconds_bucket{route!="/metrics"}`), "{{route}}")))
	b.add(12, 8, timeseries("Requests in flight", "Requests being served, all replicas.", "short",
		q(`sum(intake_http_requests_in_flight)`, "in flight")))
	b.add(12, 8, timeseries("Queue snapshot per replica", "Whether each API replica's last read of the queue snapshot and of the run records from the store succeeded (1) or not (0).", "short",
		q(`intake_queue_stats_up`, "queue: {{instance}}"),
		q(`intake_run_stats_up`, "runs: {{instance}}")))

	b.section("Job store", true)
	b.add(12, 8, timeseries("Store operations", "Job store calls per second by operation.", "ops",
		q(`sum by (operation) (`+rate(`intake_store_operations_total`)+`)`, "{{operation}}")))
	b.add(12, 8, timeseries("Store latency p95", "95th percentile of job store call latency per operation.", "s",
		q(quantile("0.95", "le, operation", `intake_store_operation_duration_seconds_bucket`), "{{operation}}")))

	return &model{
		Annotations: annotations{List: []annotation{{
			BuiltIn:    1,
			Datasource: DatasourceRef{Type: "grafana", UID: "-- Grafana --"},
			Enable:     true,
			Hide:       true,
			IconColor:  "rgba(0, 211, 255, 1)",
			Name:       "Annotations & Alerts",
			Type:       "dashboard",
		}}},
		Description:  "intake: jobs, documents, worker runs, blob storage and the API. Generated by deploy/grafana (go test ./deploy/grafana -update); do not edit by hand.",
		Editable:     false,
		GraphTooltip: 1,
		Links:        []link{},
		Panels:       b.panels,
		Refresh:      "30s",
		// 39 is what Grafana 10.4 and 11 write; later versions migrate it.
		SchemaVersion: 39,
		Tags:          []string{"intake"},
		Templating: templating{List: []variable{{
			Current:    variableValue{Text: "Prometheus", Value: DatasourceUID},
			Hide:       0,
			IncludeAll: false,
			Label:      "Data source",
			Multi:      false,
			Name:       "datasource",
			Options:    []any{},
			Query:      "prometheus",
			Refresh:    1,
			Regex:      "",
			Type:       "datasource",
		}}},
		Time:     timeRange{From: "now-3h", To: "now"},
		Timezone: "browser",
		Title:    "intake",
		UID:      UID,
		Version:  1,
	}
}

// Query is one PromQL query of the dashboard.
type Query struct {
	Panel string // the panel's title
	RefID string
	Expr  string // as stored, with Grafana variables such as $__rate_interval
}

// Queries returns every query of a dashboard in Grafana JSON — such as
// dashboards/intake.json — including those of panels nested in collapsed
// rows, in panel order.
func Queries(dashboardJSON []byte) ([]Query, error) {
	var d struct {
		Panels []*Panel `json:"panels"`
	}
	if err := json.Unmarshal(dashboardJSON, &d); err != nil {
		return nil, err
	}
	var qs []Query
	var walk func([]*Panel)
	walk = func(ps []*Panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				qs = append(qs, Query{Panel: p.Title, RefID: t.RefID, Expr: t.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return qs, nil
}

// Expand substitutes the Grafana variables the dashboard's queries use, so
// that an expression can be sent to Prometheus directly. $__rate_interval
// is the only one; Grafana sets it to at least four scrape intervals, so
// rateInterval should be too (e.g. "1m" for a 15 s scrape interval).
func Expand(expr, rateInterval string) string {
	return strings.NewReplacer(
		"${__rate_interval}", rateInterval,
		"$__rate_interval", rateInterval,
	).Replace(expr)
}
