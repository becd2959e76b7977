package api_test

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/source/filings"
	"github.com/intake-dev/intake/internal/testenv"
	"github.com/intake-dev/intake/internal/worker"
)

// browser starts headless Chromium for the test and returns a context that
// drives one tab. It records page errors, CSP violations and requests to
// any other origin than the test server; check them with done.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T, origin string) *browser {
	t.Helper()
	chrome := testenv.LookPath(t, "chromium", "install Debian's chromium package (apt-get install chromium)")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)

	b := &browser{ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			msg := ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
			b.report("uncaught exception: " + msg)
		case *cdplog.EventEntryAdded:
			// 401s are expected (the key prompt); a CSP violation or a
			// script error is not.
			if ev.Entry.Source == cdplog.EntrySourceSecurity || ev.Entry.Source == cdplog.EntrySourceJavascript {
				b.report(string(ev.Entry.Source) + ": " + ev.Entry.Text)
			}
		case *network.EventRequestWillBeSent:
			u, err := url.Parse(ev.Request.URL)
			if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Scheme+"://"+u.Host != origin {
				b.report("request to another origin: " + ev.Request.URL)
			}
		}
	})
	if err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

func (b *browser) report(s string) {
	b.mu.Lock()
	b.problems = append(b.problems, s)
	b.mu.Unlock()
}

// done fails the test on anything the page did wrong.
func (b *browser) done(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Error(p)
	}
}

// work runs the real worker pool against the bundle's store and blobs until
// ctx ends, with a small per-document delay so progress shows between polls.
func work(ctx context.Context, t *testing.T, bn *bundle) {
	w, err := worker.New(worker.Config{Concurrency: 2, PollInterval: 100 * time.Millisecond, Identity: "intake-worker-5b7c9-q2x8m"},
		bn.store, bn.blobs, intake.NewSources(filings.New(15*time.Millisecond)), bn.disp,
		slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Error(err)
		return
	}
	if err := w.Run(ctx); err != nil {
		t.Errorf("worker: %v", err)
	}
}

// TestWebUI drives the UI in headless Chromium: it answers the key prompt,
// clicks "Create 3", watches three rows reach 100 % while the real worker
// pool collects them, opens a job and sees its documents. With -update it writes
// docs/img/ui.png.
func TestWebUI(t *testing.T) {
	t.Parallel()
	bn := newBundle(t)
	br := newBrowser(t, bn.url)

	workCtx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { work(workCtx, t, bn) })
	t.Cleanup(func() { stop(); wg.Wait() })

	const allDone = `(() => {
		const rows = [...document.querySelectorAll("#jobs-body tr")];
		return rows.length === 3 && rows.every(r => r.dataset.status === "completed" && r.dataset.percent === "100");
	})()`
	err := chromedp.Do(br.ctx,
		chromedp.Navigate(bn.url+"/"),
		// The first API call answers 401: the page asks for a key.
		chromedp.WaitVisible("#key-dialog[open]"),
		chromedp.SendKeys("#key-input", testKey),
		chromedp.Click("#key-save"),
		chromedp.WaitNotPresent("#key-dialog[open]"),
		chromedp.WaitVisible("#jobs-empty"),
		void(chromedp.Poll[bool](`document.querySelectorAll("#source-type option").length > 0`, chromedp.WithPollingTimeout(10*time.Second))),
		// An invalid config is refused with the field named.
		chromedp.SetValue("#source-config", `{"cin": "L123", "company_name": "Acme"}`),
		chromedp.Click("#trigger-submit"),
		void(chromedp.Poll[bool](`document.querySelector("#trigger-flash.err")?.textContent.includes("body.config.cin")`, chromedp.WithPollingTimeout(10*time.Second))),
		void(chromedp.Evaluate[bool](`showExample(), document.getElementById("trigger-flash").replaceChildren(), true`)),
		chromedp.Click("#create-3"),
		void(chromedp.Poll[bool](`document.querySelectorAll("#jobs-body tr").length === 3`, chromedp.WithPollingTimeout(15*time.Second))),
		void(chromedp.Poll[bool](allDone, chromedp.WithPollingTimeout(90*time.Second))),
		chromedp.Click("#jobs-body tr:first-child"),
		chromedp.WaitVisible("#docs-table"),
	)
	if err != nil {
		t.Fatalf("drive the UI: %v", err)
	}
	sourceOptions, err := chromedp.Run(br.ctx, chromedp.Text("#source-type"))
	if err != nil {
		t.Fatal(err)
	}
	docRows, err := chromedp.Run(br.ctx, chromedp.Evaluate[int](`document.querySelectorAll("#docs-body tr").length`))
	if err != nil {
		t.Fatal(err)
	}
	// One evaluation: the live detail view may replace the node between a
	// query and a separate read of its text.
	detailStatus, err := chromedp.Run(br.ctx, chromedp.Evaluate[string](`document.querySelector("#detail-facts .badge")?.textContent ?? ""`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sourceOptions, "filings") {
		t.Errorf("source select offers %q", sourceOptions)
	}
	if docRows < 30 || docRows > 50 || detailStatus != "completed" {
		t.Fatalf("detail: status %q with %d documents, want completed with 30-50", detailStatus, docRows)
	}
	// The run history: three or four runs, the last one completed the job.
	runs, err := chromedp.Run(br.ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("#runs-body tr")].map(r => r.querySelector(".badge").textContent + " " + r.children[1].textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) < 3 || len(runs) > 4 || !strings.HasPrefix(runs[len(runs)-1], "completed ") {
		t.Errorf("run history rows %q, want 3 or 4 ending with completed", runs)
	}
	if *update {
		png, err := chromedp.Run(br.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(repoFile("docs", "img"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(repoFile("docs", "img", "ui.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	br.done(t)
}

// TestDocsUI loads /docs in Chromium with no network but the test server:
// Swagger UI must render the API from the embedded bundle and offer the
// bearer-key "Authorize" dialog.
func TestDocsUI(t *testing.T) {
	t.Parallel()
	bn := newBundle(t)
	br := newBrowser(t, bn.url)
	err := chromedp.Do(br.ctx,
		chromedp.Navigate(bn.url+"/docs"),
		chromedp.WaitVisible(".swagger-ui .info .title"),
		chromedp.WaitVisible(".swagger-ui .btn.authorize"),
		chromedp.Click(".swagger-ui .btn.authorize"),
		chromedp.WaitVisible(`.swagger-ui .auth-container input`),
		chromedp.WaitVisible(`.swagger-ui .opblock-summary-path[data-path="/api/v1/jobs/trigger"]`),
	)
	if err != nil {
		t.Fatalf("drive the docs UI: %v", err)
	}
	title, err := chromedp.Run(br.ctx, chromedp.Text(".swagger-ui .info .title"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(title, "intake") {
		t.Fatalf("docs title %q", title)
	}
	br.done(t)
}

// void drops an action's value so that it can run among other steps.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

// TestWebUIExamples checks that the trigger form shows the selected source
// type's example config, and switches it when the select changes.
func TestWebUIExamples(t *testing.T) {
	t.Parallel()
	bn := newBundle(t, withSources)
	br := newBrowser(t, bn.url)
	const pick = `(() => { const s = document.getElementById("source-type"); s.value = "notes"; s.dispatchEvent(new Event("change")); return true; })()`
	err := chromedp.Do(br.ctx,
		chromedp.Navigate(bn.url+"/"),
		chromedp.WaitVisible("#key-dialog[open]"),
		chromedp.SendKeys("#key-input", testKey),
		chromedp.Click("#key-save"),
		chromedp.WaitNotPresent("#key-dialog[open]"),
		void(chromedp.Poll[bool](`document.querySelectorAll("#source-type option").length === 3`, chromedp.WithPollingTimeout(10*time.Second))),
		void(chromedp.Poll[bool](`document.getElementById("source-config").value.includes("L17110MH1973PLC019786")`, chromedp.WithPollingTimeout(10*time.Second))),
		void(chromedp.Evaluate[bool](pick)),
		void(chromedp.Poll[bool](`document.getElementById("source-config").value.includes("Board minutes")`, chromedp.WithPollingTimeout(10*time.Second))),
	)
	if err != nil {
		t.Fatalf("drive the UI: %v", err)
	}
	br.done(t)
}

// TestWebUISchedulesAndChanges drives the schedules list (pause, then
// resume, a schedule) and a job's changes in the detail view: the four
// counts and the new, changed and removed documents.
func TestWebUISchedulesAndChanges(t *testing.T) {
	t.Parallel()
	bn := newBundle(t)
	_, next := changeFixture(t, bn)
	s := bn.createSchedule(t, scheduleBody)
	br := newBrowser(t, bn.url)
	row := `document.querySelector('#schedules-body tr[data-schedule-id="` + s.ID + `"]')`
	err := chromedp.Do(br.ctx,
		chromedp.Navigate(bn.url+"/"),
		chromedp.WaitVisible("#key-dialog[open]"),
		chromedp.SendKeys("#key-input", testKey),
		chromedp.Click("#key-save"),
		chromedp.WaitNotPresent("#key-dialog[open]"),
		void(chromedp.Poll[bool](row+`?.dataset.state === "active" && `+row+`.textContent.includes("0 6 * * * (Europe/London)")`, chromedp.WithPollingTimeout(10*time.Second))),
		void(chromedp.Evaluate[bool](row+`.querySelector("button.toggle").click(), true`)),
		void(chromedp.Poll[bool](row+`?.dataset.state === "paused" && `+row+`.querySelector("button.toggle").textContent === "Resume"`, chromedp.WithPollingTimeout(10*time.Second))),
	)
	if err != nil {
		t.Fatalf("pause a schedule: %v", err)
	}
	var got scheduleJSON
	bn.do(t, request{path: s.Links.Self}).decode(t, &got)
	if !got.Paused || got.Version != 2 || !got.NextFireAt.Equal(s.NextFireAt) {
		t.Errorf("after Pause: %+v", got)
	}
	err = chromedp.Do(br.ctx,
		void(chromedp.Evaluate[bool](row+`.querySelector("button.toggle").click(), true`)),
		void(chromedp.Poll[bool](row+`?.dataset.state === "active"`, chromedp.WithPollingTimeout(10*time.Second))),
		void(chromedp.Evaluate[bool](`openJob("`+next.ID+`"), true`)),
		void(chromedp.Poll[bool](`document.querySelectorAll("#changes-body tr").length === 4`, chromedp.WithPollingTimeout(10*time.Second))),
	)
	if err != nil {
		t.Fatalf("open a job's changes: %v", err)
	}
	counts, err := chromedp.Run(br.ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("#changes-counts div")].map(d => d.dataset.change + "=" + d.querySelector("dd").textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(counts, " ") != "new=2 changed=1 unchanged=1 removed=1" {
		t.Errorf("counts %q", counts)
	}
	changes, err := chromedp.Run(br.ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("#changes-body tr")].map(r => r.dataset.change + " " + r.children[3].textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(changes, ", ") != "changed b, new d, new e, removed c" {
		t.Errorf("changes %q", changes)
	}
	bn.do(t, request{path: s.Links.Self}).decode(t, &got)
	if got.Paused || got.Version != 3 {
		t.Errorf("after Resume: %+v", got)
	}
	br.done(t)
}
