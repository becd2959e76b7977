package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Timing of the live parts.
const (
	every      = 1500 * time.Millisecond // a live frame, as often as the UI refreshes
	actTimeout = 90 * time.Second        // one browser action on a loaded machine
	jobsWait   = 4 * time.Minute         // jobs to complete
)

// demoCompany is the company of the job triggered from the form.
const (
	demoCIN     = "L17110MH1973PLC019786"
	demoCompany = "Reliance Industries Limited"
	createNum   = 5 // jobs made by the "Create 5" button
)

// director runs the scenes in one tab and records them.
type director struct {
	tab    context.Context
	st     *stack
	o      options
	logger *slog.Logger
	rec    *recorder
	guard  *netGuard

	jobID  string   // the job triggered from the form
	jobBy  []string // the workers that collected it
	jobs   int      // jobs created
	result runSummary
}

// record runs every scene and returns the frames.
func record(ctx context.Context, st *stack, o options, logger *slog.Logger) ([]frame, error) {
	dir := filepath.Join(o.work, "frames")
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	tab, closeTab, guard, err := openBrowser(ctx, o)
	if err != nil {
		return nil, err
	}
	defer closeTab()
	d := &director{tab: tab, st: st, o: o, logger: logger, rec: &recorder{dir: dir}, guard: guard}
	scenes := []struct {
		name string
		run  func() error
	}{
		{"title", d.title},
		{"web UI", d.webUI},
		{"trigger form", d.triggerForm},
		{"create jobs", d.createJobs},
		{"run history", d.runHistory},
		{"all completed", d.allCompleted},
		{"shared job", d.sharedJob},
		{"API docs", d.apiDocs},
		{"Prometheus targets", d.promTargets},
		{"dashboard numbers", d.stats},
		{"dashboard queries", d.dashboard},
		{"alerts", d.alerts},
		{"KEDA timeline", d.keda},
		{"closing", d.closing},
	}
	for _, s := range scenes {
		logger.Info("scene", "name", s.name, "frames", len(d.rec.frames))
		if err := s.run(); err != nil {
			return nil, fmt.Errorf("scene %s: %w", s.name, err)
		}
		if err := st.exited(); err != nil {
			return nil, err
		}
		if err := guard.err(); err != nil {
			return nil, err
		}
	}
	return d.rec.frames, nil
}

// openBrowser starts headless Chromium with the flags the brief of the
// demo names, a fixed viewport, and a guard that fails the recording on
// any request that would leave loopback. Host names other than localhost
// resolve to nothing, so the browser sends no DNS query either.
func openBrowser(ctx context.Context, o options) (context.Context, func(), *netGuard, error) {
	profile := filepath.Join(o.work, "chromium")
	if err := os.MkdirAll(profile, 0o750); err != nil {
		return nil, nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(o.chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-device-scale-factor", "1"),
		chromedp.Flag("lang", "en-GB"),
		chromedp.Env("TZ=UTC", "LANG=en_GB.UTF-8"),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(videoW, pageH),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancelTab := chromedp.NewContext(actx)
	g := &netGuard{}
	if err := chromedp.Listen(tab, g.event); err != nil {
		cancelTab()
		cancelAlloc()
		return nil, nil, nil, fmt.Errorf("start chromium: %w", err)
	}
	if err := chromedp.Do(tab, chromedp.EmulateViewport(videoW, pageH)); err != nil {
		cancelTab()
		cancelAlloc()
		return nil, nil, nil, fmt.Errorf("chromium viewport: %w", err)
	}
	return tab, func() { cancelTab(); cancelAlloc() }, g, nil
}

// netGuard records requests to anything but loopback, and the status
// codes of the API's answers, which captions state.
type netGuard struct {
	mu     sync.Mutex
	bad    []string
	status map[string][]int64 // by URL path
}

func (g *netGuard) event(ev any) {
	if e, ok := ev.(*network.EventResponseReceived); ok {
		if u, err := url.Parse(e.Response.URL); err == nil {
			g.mu.Lock()
			if g.status == nil {
				g.status = map[string][]int64{}
			}
			g.status[u.Path] = append(g.status[u.Path], e.Response.Status)
			g.mu.Unlock()
		}
		return
	}
	e, ok := ev.(*network.EventRequestWillBeSent)
	if !ok {
		return
	}
	u, err := url.Parse(e.Request.URL)
	if err != nil {
		g.add(e.Request.URL)
		return
	}
	switch u.Scheme {
	case "data", "file", "blob", "about":
		return
	case "http", "https", "ws", "wss":
		if h := u.Hostname(); h == "127.0.0.1" || h == "localhost" || h == "::1" {
			return
		}
	}
	g.add(e.Request.URL)
}

func (g *netGuard) add(u string) {
	g.mu.Lock()
	g.bad = append(g.bad, u)
	g.mu.Unlock()
}

// lastStatus waits until a response to path has arrived since n responses
// to it were seen, and returns its status code.
func (g *netGuard) lastStatus(ctx context.Context, path string, n int) (int64, error) {
	for {
		g.mu.Lock()
		got := g.status[path]
		g.mu.Unlock()
		if len(got) > n {
			return got[len(got)-1], nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return 0, fmt.Errorf("no answer to %s: %w", path, err)
		}
	}
}

// responses counts the responses to path so far.
func (g *netGuard) responses(path string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.status[path])
}

func (g *netGuard) err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.bad) > 0 {
		return fmt.Errorf("the browser requested non-loopback addresses: %s", strings.Join(g.bad, ", "))
	}
	return nil
}

// do runs browser actions with a timeout.
func (d *director) do(actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(d.tab, actTimeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](d *director, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(d.tab, actTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// until waits until a JavaScript expression is true.
func until(expr string, timeout time.Duration) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout))(ctx, t)
		if err != nil {
			return chromedp.Void{}, fmt.Errorf("waiting for %s: %w", expr, err)
		}
		return chromedp.Void{}, nil
	}
}

// js runs a JavaScript statement for its effect.
func js(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[any](expr)(ctx, t)
		return chromedp.Void{}, err
	}
}

// typeText types text into the field sel a few characters at a time, with
// a live frame after each burst.
func (d *director) typeText(sel, text string, c caption) error {
	seg := d.rec.newSegment()
	runes := []rune(text)
	for i := 0; i < len(runes); i += 7 {
		chunk := string(runes[i:min(i+7, len(runes))])
		if err := d.do(chromedp.SendKeys(chromedp.CSS(sel), chunk)); err != nil {
			return err
		}
		if err := d.rec.liveShot(d.tab, c, seg); err != nil {
			return err
		}
	}
	return nil
}

// clearField selects the text of a field and deletes it with Backspace.
func (d *director) clearField(sel string) error {
	return d.do(
		chromedp.Click(chromedp.CSS(sel)),
		js(fmt.Sprintf(`document.querySelector(%q).select()`, sel)),
		chromedp.SendKeys(chromedp.CSS(sel), kb.Backspace),
		until(fmt.Sprintf(`document.querySelector(%q).value === ""`, sel), actTimeout),
	)
}

// ---- Scenes -----------------------------------------------------------------

func (d *director) title() error {
	version, err := d.st.buildVersion(d.tab, d.o.intake)
	if err != nil {
		return err
	}
	page, err := writeCard(d.o.work, "title.html", card{
		Heading: "intake",
		Sub:     "compliance document collection — a live run, recorded " + time.Now().UTC().Format("2006-01-02"),
		Items: []string{
			fmt.Sprintf("intake dev (%s) on %s — API, web UI and a worker (%s); SQLite job store and file blobs in a temporary directory",
				version, strings.TrimPrefix(d.st.api, "http://"), count(devSlots, "job at a time", "jobs at a time")),
			fmt.Sprintf("%d × intake work (%s), %s each, on the same SQLite file and blob directory",
				len(workerIDs), strings.Join(workerIDs, ", "), count(workerSlots, "job at a time", "jobs at a time")),
			"The filings source simulates downloading a company's MCA filings: 1 s per document (the default INTAKE_FILINGS_DELAY)",
			fmt.Sprintf("Prometheus %s (Debian's package) scraping all three every %s, with the rule files in deploy/prometheus/rules", d.st.promVer, scrapeEvery),
			"Headless Chromium clicks and types in the web UI; a screenshot every 1.5 s during the live parts",
			"All traffic stays on loopback (127.0.0.1)",
		},
	})
	if err != nil {
		return err
	}
	if err := d.do(chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		return err
	}
	return d.rec.shot(d.tab, caption{"intake · demo",
		"Jobs are created in the web UI and collected by workers; Prometheus shows the dashboard's numbers; " +
			"then the KEDA scaling timeline from the Kubernetes test."}, 10*time.Second)
}

func (d *director) webUI() error {
	if err := d.do(
		chromedp.Navigate(d.st.api+"/"),
		until(`document.querySelectorAll("#source-type option").length > 0 && !document.getElementById("jobs-empty").hidden`, actTimeout),
	); err != nil {
		return err
	}
	return d.rec.shot(d.tab, caption{"The web UI of intake dev",
		"intake dev serves the web UI, the API and /metrics on one loopback port. No jobs yet; the job list refreshes every 1.5 s."},
		7*time.Second)
}

func (d *director) triggerForm() error {
	if err := d.do(
		js(`(() => { const s = document.getElementById("source-type"); s.value = "filings"; s.dispatchEvent(new Event("change")); })()`),
		until(`document.getElementById("source-config").value.includes("cin")`, actTimeout),
	); err != nil {
		return err
	}
	if err := d.rec.shot(d.tab, caption{"Trigger a job from the form",
		"Source type filings: the form shows that source's example config. We clear it and type our own."}, 5*time.Second); err != nil {
		return err
	}
	typing := caption{"Trigger a job from the form", "Typing a config that names the company's CIN but not its name."}
	if err := d.clearField("#source-config"); err != nil {
		return err
	}
	if err := d.typeText("#source-config", fmt.Sprintf(`{"cin": %q}`, demoCIN), typing); err != nil {
		return err
	}
	if err := d.submitTrigger(http.StatusUnprocessableEntity,
		`document.querySelector("#trigger-flash.err")?.textContent.includes("body.config.company_name")`); err != nil {
		return err
	}
	if err := d.rec.shot(d.tab, caption{"Validation before any job exists",
		"intake refuses the request with 422 and names the missing field, body.config.company_name; no job is created."},
		7*time.Second); err != nil {
		return err
	}
	typing = caption{"Trigger a job from the form", "Typing the full config: the CIN and the company name."}
	if err := d.clearField("#source-config"); err != nil {
		return err
	}
	if err := d.typeText("#source-config", fmt.Sprintf(`{"cin": %q, "company_name": %q}`, demoCIN, demoCompany), typing); err != nil {
		return err
	}
	if err := d.submitTrigger(http.StatusAccepted,
		`document.querySelector("#trigger-flash.ok") !== null && document.getElementById("detail-id").textContent.length > 0`); err != nil {
		return err
	}
	id, err := eval[string](d, `document.getElementById("detail-id").textContent`)
	if err != nil {
		return err
	}
	d.jobID, d.jobs = id, 1
	return d.rec.watch(d.tab, caption{"Job accepted",
		"202: the job is pending and its detail view opens. A worker claims it and starts the first run."},
		every, jobsWait, func(ctx context.Context) (bool, error) {
			return eval[bool](d, `document.querySelectorAll("#runs-body tr").length > 0`)
		})
}

// submitTrigger clicks Trigger, waits for the page to show the outcome and
// checks the API's status code, which the captions state.
func (d *director) submitTrigger(want int, shown string) error {
	const path = "/api/v1/jobs/trigger"
	n := d.guard.responses(path)
	if err := d.do(chromedp.Click(chromedp.CSS("#trigger-submit")), until(shown, actTimeout)); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(d.tab, actTimeout)
	defer cancel()
	got, err := d.guard.lastStatus(ctx, path, n)
	if err != nil {
		return err
	}
	if got != int64(want) {
		return fmt.Errorf("POST %s answered %d, want %d", path, got, want)
	}
	return nil
}

func (d *director) createJobs() error {
	if err := d.do(
		chromedp.Click(chromedp.CSS("#detail-close")),
		js(`window.scrollTo(0, 0)`),
		chromedp.Click(chromedp.CSS(fmt.Sprintf("#create-%d", createNum))),
		until(`document.querySelector("#create-flash.ok") !== null`, actTimeout),
		until(fmt.Sprintf(`document.querySelectorAll("#jobs-body tr").length === %d`, 1+createNum), actTimeout),
	); err != nil {
		return err
	}
	d.jobs += createNum
	if err := d.rec.live(d.tab, caption{fmt.Sprintf("Create %d", createNum),
		fmt.Sprintf("One POST /create-job makes %d filings jobs for random companies at once; each has 30–50 documents to collect.", createNum)},
		every, 9*time.Second); err != nil {
		return err
	}
	slots := devSlots + len(workerIDs)*workerSlots
	return d.rec.live(d.tab, caption{"Workers collect the jobs",
		fmt.Sprintf("%d jobs, %d worker slots: each worker claims the oldest pending job, collects 35 %% of its documents in one run, "+
			"and puts it back at the end of the queue.", d.jobs, slots)},
		every, 18*time.Second)
}

func (d *director) runHistory() error {
	if err := d.do(
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#jobs-body tr[data-job-id=%q]`, d.jobID))),
		until(`!document.getElementById("detail").hidden`, actTimeout),
		js(`document.getElementById("detail").scrollIntoView({block: "start"})`),
	); err != nil {
		return err
	}
	err := d.rec.watch(d.tab, caption{"A job's run history",
		"Each run is one claim by a worker: which worker, when, for how long, the batch, the documents collected and the outcome."},
		every, jobsWait, func(ctx context.Context) (bool, error) {
			return eval[bool](d, `!document.getElementById("docs-table").hidden`)
		})
	if err != nil {
		return err
	}
	job, err := d.st.jobStatus(d.tab, d.jobID)
	if err != nil {
		return err
	}
	if job.Status != "completed" {
		return fmt.Errorf("job %s is %s, want completed", d.jobID, job.Status)
	}
	var workers []string
	for _, r := range job.RunHistory {
		if !slices.Contains(workers, r.Worker) {
			workers = append(workers, r.Worker)
		}
	}
	if err := d.do(js(`document.getElementById("runs-note").scrollIntoView({block: "start"}); window.scrollBy(0, -60)`)); err != nil {
		return err
	}
	d.jobBy = workers
	by := "all by " + workers[0]
	if len(workers) > 1 {
		by = "by " + and(workers)
	}
	return d.rec.shot(d.tab, caption{"Completed",
		fmt.Sprintf("%d documents in %d runs, %s. Each document is in blob storage (files here) with its SHA-256, ready to download.",
			job.Progress.Collected, job.Runs, by)},
		8*time.Second)
}

func (d *director) allCompleted() error {
	if err := d.do(chromedp.Click(chromedp.CSS("#detail-close")), js(`window.scrollTo(0, 0)`)); err != nil {
		return err
	}
	err := d.rec.watch(d.tab, caption{"The other jobs",
		"The list keeps refreshing until every job is complete: status, progress and runs per job."},
		every, jobsWait, func(ctx context.Context) (bool, error) {
			return eval[bool](d, fmt.Sprintf(`[...document.querySelectorAll("#jobs-body tr")].filter(r => r.dataset.status === "completed").length === %d`, d.jobs))
		})
	if err != nil {
		return err
	}
	sum, err := d.st.summary(d.tab)
	if err != nil {
		return err
	}
	if sum.completed != d.jobs {
		return fmt.Errorf("%d of %d jobs completed", sum.completed, d.jobs)
	}
	d.result = sum
	return d.rec.shot(d.tab, caption{fmt.Sprintf("All %d jobs completed", d.jobs),
		fmt.Sprintf("%d documents in %d runs, shared by %s: %s.",
			sum.documents, sum.runs, count(len(sum.workers), "worker process", "worker processes"), and(sum.workers))},
		7*time.Second)
}

// sharedJob shows the run history of the job collected by the most worker
// processes, when one was collected by more than one.
func (d *director) sharedJob() error {
	best, workers := "", []string(nil)
	for id, ws := range d.result.jobWorkers {
		if len(ws) > len(workers) || (len(ws) == len(workers) && id < best) {
			best, workers = id, ws
		}
	}
	if len(workers) < 2 || len(d.jobBy) >= len(workers) {
		d.logger.Info("no job was collected by more workers than the one shown", "workers", workers)
		return nil
	}
	if err := d.do(
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#jobs-body tr[data-job-id=%q]`, best))),
		until(fmt.Sprintf(`document.getElementById("detail-id").textContent === %q && document.querySelectorAll("#runs-body tr").length > 0 && !document.getElementById("docs-table").hidden`, best), actTimeout),
		js(`document.getElementById("detail").scrollIntoView({block: "start"})`),
	); err != nil {
		return err
	}
	return d.rec.shot(d.tab, caption{"One job, several workers",
		fmt.Sprintf("Job …%s was collected by %s: any worker may claim a pending job, and a lease fences each run.",
			best[max(0, len(best)-12):], and(workers))},
		8*time.Second)
}

func (d *director) apiDocs() error {
	const trigger = `.swagger-ui .opblock-summary-path[data-path="/api/v1/jobs/trigger"]`
	if err := d.do(
		chromedp.Navigate(d.st.api+"/docs"),
		chromedp.WaitVisible(chromedp.CSS(".swagger-ui .info .title")),
		chromedp.WaitVisible(chromedp.CSS(trigger)),
	); err != nil {
		return err
	}
	if err := d.rec.shot(d.tab, caption{"API docs at /docs",
		"The OpenAPI 3.1 document intake serves (also /openapi.json and /openapi.yaml), in an offline Swagger UI."},
		7*time.Second); err != nil {
		return err
	}
	if err := d.do(
		chromedp.Click(chromedp.CSS(trigger)),
		until(`document.querySelector(".swagger-ui .opblock.is-open") !== null`, actTimeout),
		js(`document.querySelector(".swagger-ui .opblock.is-open").scrollIntoView({block: "start"})`),
	); err != nil {
		return err
	}
	return d.rec.shot(d.tab, caption{"POST /api/v1/jobs/trigger",
		"The body is a oneOf over the source types, with source_type as the discriminator; each source's config has its own schema."},
		8*time.Second)
}

// promPage opens a page of Prometheus's classic UI (Debian's package ships
// no other) and waits for cond.
func (d *director) promPage(path, cond string) error {
	return d.do(chromedp.Navigate(d.st.prom+"/classic"+path), until(cond, actTimeout))
}

// Prometheus's pages are laid out for a larger screen: they are shown at
// 72 %, on a 1778×856 CSS-pixel viewport that fills the same 1280×616 frame.
const (
	promScale = 0.72
	promW     = 1778 // videoW / promScale, rounded
	promH     = 856  // pageH / promScale, rounded
)

func (d *director) promTargets() error {
	if err := d.do(chromedp.EmulateViewport(promW, promH, chromedp.EmulateScale(promScale))); err != nil {
		return err
	}
	if err := d.promPage("/targets", `document.body.innerText.includes("intake-worker") && document.body.innerText.includes("intake-api")`); err != nil {
		return err
	}
	return d.rec.shot(d.tab, caption{"Prometheus scrapes intake",
		fmt.Sprintf("Prometheus %s scrapes intake dev and both workers every %s: deploy/prometheus/prometheus.yml with static loopback targets.",
			d.st.promVer, scrapeEvery)},
		7*time.Second)
}

// shownPanels are the dashboard panels the video shows, each by one of its
// queries (the index of the target).
var shownPanels = []struct {
	title  string
	target int
	note   string
}{
	{"Jobs by status", 0, "the queue snapshot intake reads from the store, jobs per status"},
	{"Oldest pending job", 0, "how long the oldest pending job has waited, from the same snapshot"},
	{"Documents per second", 0, "derived from the store's document count, so it counts every worker's work"},
	{"Worker runs by outcome", 0, "from the run records in the store: batch_done (put back) and completed"},
	{"Active runs", 0, "the long-running workers' own gauge, summed over every scraped process"},
	{"Responses by status code", 0, "the API's answers per second, by status code"},
	{"Blob latency", 0, "p95 of blob storage operations by operation"},
}

// shownStats are stat panels of the dashboard, shown together as
// Prometheus's console (table) view.
var shownStats = []string{"Completed", "Documents stored"}

func (d *director) stats() error {
	// The numbers must be in Prometheus before they are shown.
	if err := d.st.waitQuery(d.tab, `max(intake_jobs{status="completed"})`, float64(d.jobs), 90*time.Second); err != nil {
		return err
	}
	if err := d.st.waitQuery(d.tab, `max(intake_documents_stored)`, float64(d.result.documents), 90*time.Second); err != nil {
		return err
	}
	queries, err := dashboardQueries(filepath.Join(d.o.repo, "deploy", "grafana", "dashboards", "intake.json"))
	if err != nil {
		return err
	}
	q := url.Values{}
	for i, title := range shownStats {
		if len(queries[title]) == 0 {
			return fmt.Errorf("the dashboard has no panel %q", title)
		}
		q.Set(fmt.Sprintf("g%d.expr", i), expandGrafana(queries[title][0]))
		q.Set(fmt.Sprintf("g%d.tab", i), "1")
	}
	if err := d.promPage("/graph?"+q.Encode(),
		fmt.Sprintf(`document.querySelectorAll(".console_table tbody tr td").length >= %d`, 2*len(shownStats))); err != nil {
		return err
	}
	return d.rec.shot(d.tab, caption{"Dashboard stat panels: " + strings.Join(shownStats, ", "),
		fmt.Sprintf("Grafana is not available here: the intake dashboard's queries (deploy/grafana), in Prometheus: %d jobs, %d documents stored.",
			d.jobs, d.result.documents)},
		8*time.Second)
}

func (d *director) dashboard() error {
	queries, err := dashboardQueries(filepath.Join(d.o.repo, "deploy", "grafana", "dashboards", "intake.json"))
	if err != nil {
		return err
	}
	rng := fmt.Sprintf("%dm", int(time.Since(d.st.started).Minutes())+1)
	for _, p := range shownPanels {
		exprs := queries[p.title]
		if p.target >= len(exprs) {
			return fmt.Errorf("the dashboard has no panel %q with a query #%d (%d queries)", p.title, p.target+1, len(exprs))
		}
		expr := expandGrafana(exprs[p.target])
		q := url.Values{}
		q.Set("g0.expr", expr)
		q.Set("g0.tab", "0")
		q.Set("g0.stacked", "0")
		q.Set("g0.show_exemplars", "0")
		q.Set("g0.range_input", rng)
		if err := d.promPage("/graph?"+q.Encode(),
			`document.querySelectorAll("#graph_wrapper0 .legend .line").length > 0 && document.querySelector("#graph_wrapper0 .graph svg path.path") !== null`); err != nil {
			return fmt.Errorf("panel %q: %w", p.title, err)
		}
		// From the query to the legend.
		if err := d.do(js(`window.scrollTo(0, document.getElementById("expr0").getBoundingClientRect().top + window.scrollY - document.querySelector("nav").getBoundingClientRect().bottom - 10)`)); err != nil {
			return err
		}
		if err := d.rec.shot(d.tab, caption{"Dashboard panel “" + p.title + "”, as a Prometheus graph",
			"Grafana is not available here: this is the intake dashboard's query (deploy/grafana) in Prometheus — " + p.note + "."},
			7*time.Second); err != nil {
			return err
		}
	}
	return nil
}

func (d *director) alerts() error {
	rules, err := d.st.alertRules(d.tab)
	if err != nil {
		return err
	}
	if err := d.promPage("/alerts", `document.body.innerText.includes("IntakeAlertingWatchdog")`); err != nil {
		return err
	}
	var text string
	switch {
	case len(rules.firing) == 1 && rules.firing[0] == "IntakeAlertingWatchdog":
		text = fmt.Sprintf("The %d alerts of deploy/prometheus/rules are loaded. Only IntakeAlertingWatchdog fires: always, as a dead man's switch for alerting.", rules.total)
	default:
		text = fmt.Sprintf("The %d alerts of deploy/prometheus/rules are loaded; firing now: %s.", rules.total, strings.Join(rules.firing, ", "))
	}
	return d.rec.shot(d.tab, caption{"Alert rules", text}, 7*time.Second)
}

func (d *director) keda() error {
	timelines, err := kedaTimelines(filepath.Join(d.o.repo, "docs", "KUBERNETES.md"))
	if err != nil {
		return err
	}
	if err := d.do(chromedp.EmulateViewport(videoW, pageH)); err != nil {
		return err
	}
	for i, tl := range timelines {
		page, err := writeKEDAPage(d.o.work, d.o.repo, tl)
		if err != nil {
			return err
		}
		if err := d.do(chromedp.Navigate(page), until(`[...document.images].every(i => i.complete && i.naturalWidth > 0)`, actTimeout)); err != nil {
			return err
		}
		text := "Not live: recorded by the Kubernetes test, TestKEDAScenario — the chart on a real kube-apiserver with the KEDA operator, " +
			"each KEDA Job's pod run as an intake work --once process."
		if i > 0 {
			text = fmt.Sprintf("The same scenario with the %s trigger. Pending (red) falls as runs claim jobs; KEDA starts a Job per pending job; all complete.", tl.Trigger)
		}
		if err := d.rec.shot(d.tab, caption{fmt.Sprintf("KEDA scaling, %s trigger: %s", tl.Trigger, tl.Counts), text}, 12*time.Second); err != nil {
			return err
		}
	}
	return nil
}

func (d *director) closing() error {
	page, err := writeCard(d.o.work, "closing.html", card{
		Heading: "What this run did",
		Items: []string{
			fmt.Sprintf("%d jobs created in the web UI: 1 from the trigger form (after one refused config), %d with Create %d", d.jobs, createNum, createNum),
			fmt.Sprintf("%d documents collected in %d runs by %s", d.result.documents, d.result.runs, and(d.result.workers)),
			fmt.Sprintf("Prometheus, with the rules of deploy/prometheus, answered each of the %d dashboard queries shown", len(shownPanels)+len(shownStats)),
			"The KEDA timelines come from docs/KUBERNETES.md (go test ./deploy/helm -run TestKEDAScenario)",
			"Regenerate this video with make demo (scripts/demo.sh); it is not run in CI",
		},
	})
	if err != nil {
		return err
	}
	if err := d.do(chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		return err
	}
	return d.rec.shot(d.tab, caption{"intake · demo", "The README and docs/ describe how to run, test, deploy and operate intake; make demo records this video again."},
		9*time.Second)
}

// and renders "a", "a and b", "a, b and c".
func and(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// count renders "1 worker process" or "3 worker processes".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
