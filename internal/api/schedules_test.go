package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/api"
	"github.com/intake-dev/intake/internal/egress"
)

// withWebhookSecret configures the secret ACME_HOOK for notify, bound to
// the hosts the tests' endpoints name.
func withWebhookSecret(_ *api.Config, d *api.Deps) {
	d.SecretHosts = map[string][]string{"acme_hook": {"hooks.example.com", "hooks.invalid", "127.0.0.1"}}
}

// scheduleJSON is the part of a schedule's JSON the tests read.
type scheduleJSON struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	SourceType string    `json:"source_type"`
	Cron       string    `json:"cron"`
	Interval   string    `json:"interval"`
	TimeZone   string    `json:"time_zone"`
	Jitter     string    `json:"jitter"`
	State      string    `json:"state"`
	Paused     bool      `json:"paused"`
	Misfire    string    `json:"misfire"`
	Overlap    string    `json:"overlap"`
	NextFireAt time.Time `json:"next_fire_at"`
	NextJobAt  time.Time `json:"next_job_at"`
	Version    int64     `json:"version"`
	Config     any       `json:"config"`
	Notify     *struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
		Secret string   `json:"secret"`
	} `json:"notify"`
	Links struct {
		Self string `json:"self"`
	} `json:"links"`
}

const scheduleBody = `{"source_type": "filings", "config": ` + validConfig + `, "name": "Reliance daily", "cron": "0 6 * * *", "time_zone": "Europe/London"}`

// createSchedule creates a schedule through the API.
func (b *bundle) createSchedule(t *testing.T, body string) scheduleJSON {
	t.Helper()
	r := b.do(t, request{method: http.MethodPost, path: "/api/v1/schedules", body: body})
	if r.status != http.StatusCreated {
		t.Fatalf("create schedule: %d %s", r.status, r.body)
	}
	var s scheduleJSON
	r.decode(t, &s)
	if loc := r.header.Get("Location"); loc != "/api/v1/schedules/"+s.ID || s.Links.Self != loc {
		t.Fatalf("Location %q, links.self %q, id %s", loc, s.Links.Self, s.ID)
	}
	return s
}

// TestScheduleValidation checks that a schedule body is validated like a
// trigger's (the same oneOf and the source's own rules) and its timing by
// the scheduler's rules, every problem located in the body.
func TestScheduleValidation(t *testing.T) {
	t.Parallel()
	b := newBundle(t, withSources, withWebhookSecret)
	notes := `"source_type": "notes", "config": {"title": "Q3", "count": 2}`
	tests := []struct {
		name          string
		body          string
		wantStatus    int
		wantLocations []string
	}{
		{"cron", `{` + notes + `, "cron": "*/5 * * * *"}`, http.StatusCreated, nil},
		{"interval with jitter", `{` + notes + `, "interval": "1h", "jitter": "5m", "misfire": "skip", "overlap": "queue_one"}`, http.StatusCreated, nil},
		{"descriptor in a zone", `{` + notes + `, "cron": "@daily", "time_zone": "America/New_York", "paused": true}`, http.StatusCreated, nil},
		{"signed notify", `{` + notes + `, "cron": "@hourly", "notify": {"url": "https://hooks.example.com/x", "events": ["job.changed"], "secret": "ACME_HOOK"}}`, http.StatusCreated, nil},
		{"neither cron nor interval", `{` + notes + `}`, http.StatusUnprocessableEntity, []string{"body.cron"}},
		{"both", `{` + notes + `, "cron": "@daily", "interval": "1h"}`, http.StatusUnprocessableEntity, []string{"body.interval"}},
		{"bad cron", `{` + notes + `, "cron": "61 * * * *"}`, http.StatusUnprocessableEntity, []string{"body.cron"}},
		{"zone in the expression", `{` + notes + `, "cron": "CRON_TZ=UTC 0 6 * * *"}`, http.StatusUnprocessableEntity, []string{"body.cron"}},
		{"unknown zone", `{` + notes + `, "cron": "@daily", "time_zone": "Mars/Olympus"}`, http.StatusUnprocessableEntity, []string{"body.time_zone"}},
		{"zone with interval", `{` + notes + `, "interval": "1h", "time_zone": "UTC"}`, http.StatusUnprocessableEntity, []string{"body.time_zone"}},
		{"interval too short", `{` + notes + `, "interval": "10ms"}`, http.StatusUnprocessableEntity, []string{"body.interval"}},
		{"interval not a duration", `{` + notes + `, "interval": "daily"}`, http.StatusUnprocessableEntity, []string{"body.interval"}},
		{"interval a number", `{` + notes + `, "interval": 3600}`, http.StatusUnprocessableEntity, []string{"body.interval"}},
		{"jitter over the period", `{` + notes + `, "interval": "1m", "jitter": "2m"}`, http.StatusUnprocessableEntity, []string{"body.jitter"}},
		{"unknown misfire", `{` + notes + `, "cron": "@daily", "misfire": "never"}`, http.StatusUnprocessableEntity, []string{"body.misfire"}},
		{"unknown overlap", `{` + notes + `, "cron": "@daily", "overlap": "stack"}`, http.StatusUnprocessableEntity, []string{"body.overlap"}},
		{"name too long", `{` + notes + `, "cron": "@daily", "name": "` + strings.Repeat("n", 201) + `"}`, http.StatusUnprocessableEntity, []string{"body.name"}},
		{"unknown source type", `{"source_type": "ftp", "config": {}, "cron": "@daily"}`, http.StatusUnprocessableEntity, []string{"body.source_type"}},
		{"config for another source", `{"source_type": "notes", "config": ` + validConfig + `, "cron": "@daily"}`, http.StatusUnprocessableEntity,
			[]string{"body.config.cin", "body.config.company_name", "body.config.count", "body.config.title"}},
		{"source's own rule", `{"source_type": "notes", "config": {"title": "Secret", "count": 2}, "cron": "@daily"}`, http.StatusUnprocessableEntity, []string{"body.config.title"}},
		{"extra property", `{` + notes + `, "cron": "@daily", "every": "day"}`, http.StatusUnprocessableEntity, []string{"body.every"}},
		{"case variant", `{` + notes + `, "Cron": "@daily"}`, http.StatusUnprocessableEntity, []string{"body.Cron"}},
		{"unsigned notify", `{` + notes + `, "cron": "@daily", "notify": {"url": "https://hooks.example.com/x"}}`, http.StatusUnprocessableEntity, []string{"body.notify.secret"}},
		{"notify to loopback", `{` + notes + `, "cron": "@daily", "notify": {"url": "http://127.0.0.1:9/x", "secret": "ACME_HOOK"}}`, http.StatusUnprocessableEntity, []string{"body.notify.url"}},
		{"malformed", `{"source_type": `, http.StatusBadRequest, []string{"body"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := b.do(t, request{method: http.MethodPost, path: "/api/v1/schedules", body: tt.body})
			if tt.wantStatus == http.StatusCreated {
				if r.status != http.StatusCreated {
					t.Fatalf("status %d, want 201; body %s", r.status, r.body)
				}
				return
			}
			p := r.wantProblem(t, tt.wantStatus)
			if got := locations(p); tt.wantLocations != nil && strings.Join(got, " ") != strings.Join(tt.wantLocations, " ") {
				t.Errorf("locations %q, want %q; body %s", got, tt.wantLocations, r.body)
			}
		})
	}
}

func locations(p problem) []string {
	var got []string
	for _, e := range p.Errors {
		got = append(got, e.Location)
	}
	return got
}

// TestScheduleLifecycle creates, reads, lists, pauses, resumes, retimes
// and deletes a schedule.
func TestScheduleLifecycle(t *testing.T) {
	t.Parallel()
	def := &intake.Notify{URL: "https://hooks.example.com/default", Secret: "ACME_HOOK"}
	b := newBundle(t, withWebhookSecret, func(_ *api.Config, d *api.Deps) { d.DefaultNotify = def })
	before := time.Now()
	s := b.createSchedule(t, scheduleBody)
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		t.Fatal(err)
	}
	next := s.NextFireAt.In(london)
	if !next.After(before) || next.Hour() != 6 || next.Minute() != 0 || next.Sub(before) > 25*time.Hour {
		t.Errorf("next_fire_at %s, want the next 06:00 in London after %s", next, before)
	}
	if s.State != "active" || s.Misfire != "fire_once" || s.Overlap != "skip" || s.Version != 1 || !s.NextJobAt.Equal(s.NextFireAt) {
		t.Errorf("created %+v", s)
	}
	if s.Notify == nil || s.Notify.URL != def.URL || s.Notify.Secret != "ACME_HOOK" {
		t.Errorf("notify %+v, want the deployment's default", s.Notify)
	}
	if s.Config != nil {
		t.Errorf("the config is shown: %v", s.Config)
	}

	var got scheduleJSON
	r := b.do(t, request{path: s.Links.Self})
	r.decode(t, &got)
	if r.status != http.StatusOK || got.ID != s.ID || r.header.Get("ETag") != `"1"` {
		t.Fatalf("get: %d %s, ETag %q", r.status, r.body, r.header.Get("ETag"))
	}

	// Pausing keeps the tick; so does resuming, so that misfire applies.
	paused := b.patchSchedule(t, s.ID, `{"paused": true}`, nil, http.StatusOK)
	if !paused.Paused || paused.State != "paused" || !paused.NextFireAt.Equal(s.NextFireAt) || paused.Version != 2 {
		t.Errorf("paused: %+v", paused)
	}
	resumed := b.patchSchedule(t, s.ID, `{"paused": false}`, map[string]string{"If-Match": `"2"`}, http.StatusOK)
	if resumed.Paused || !resumed.NextFireAt.Equal(s.NextFireAt) || resumed.Version != 3 {
		t.Errorf("resumed: %+v", resumed)
	}
	// A stale version is a conflict, by header or body.
	b.patchSchedule(t, s.ID, `{"name": "stale"}`, map[string]string{"If-Match": `"2"`}, http.StatusConflict)
	b.patchSchedule(t, s.ID, `{"name": "stale", "version": 1}`, nil, http.StatusConflict)

	// Switching to an interval moves the tick to the interval's next
	// epoch-anchored boundary, which can be the cron's tick too (in winter
	// 06:00 in London is 06:00 UTC, a 2h boundary: from 04:00 to 06:00 UTC
	// both ticks are the same); null removes cron and zone.
	patched := time.Now()
	iv := b.patchSchedule(t, s.ID, `{"cron": null, "time_zone": null, "interval": "2h", "version": 3}`, nil, http.StatusOK)
	if iv.Cron != "" || iv.TimeZone != "" || iv.Interval != "2h0m0s" || iv.Name != "Reliance daily" ||
		iv.NextFireAt.UnixMilli()%(2*time.Hour).Milliseconds() != 0 ||
		iv.NextFireAt.Before(patched) || iv.NextFireAt.After(time.Now().Add(2*time.Hour)) {
		t.Errorf("interval: %+v, want the first 2h boundary after %v", iv, patched)
	}
	// A patch is validated like a new schedule.
	for _, tt := range []struct{ body, loc string }{
		{`{"cron": "@daily"}`, "body.interval"},
		{`{"jitter": "3h"}`, "body.jitter"},
		{`{"config": {"cin": "nope"}}`, "body.config.cin"},
		{`{"source_type": "nope"}`, "body.source_type"},
		{`{"next_fire_at": "2030-01-01T00:00:00Z"}`, "body.next_fire_at"},
		{`{"notify": {"url": "https://hooks.example.com/x"}}`, "body.notify.secret"},
		{`{"version": "3"}`, "body.version"},
	} {
		r := b.do(t, request{method: http.MethodPatch, path: s.Links.Self, body: tt.body})
		if p := r.wantProblem(t, http.StatusUnprocessableEntity); !strings.Contains(strings.Join(locations(p), " "), tt.loc) {
			t.Errorf("patch %s: %s, want an error at %s", tt.body, r.body, tt.loc)
		}
	}
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded"} {
		r := b.do(t, request{method: http.MethodPatch, path: s.Links.Self, body: `{"paused": true}`, header: map[string]string{"Content-Type": ct}})
		r.wantProblem(t, http.StatusUnsupportedMediaType)
	}
	if m := b.patchSchedule(t, s.ID, `{"name": "merge patch"}`, map[string]string{"Content-Type": "application/merge-patch+json"}, http.StatusOK); m.Name != "merge patch" {
		t.Errorf("merge-patch+json: %+v", m)
	}
	b.patchSchedule(t, s.ID, `[{"op": "replace"}]`, nil, http.StatusUnprocessableEntity)
	b.patchSchedule(t, s.ID, `{"paused": `, nil, http.StatusBadRequest)
	// notify: null removes the notify (the default applies at creation only).
	if n := b.patchSchedule(t, s.ID, `{"notify": null}`, nil, http.StatusOK); n.Notify != nil {
		t.Errorf("notify after null: %+v", n.Notify)
	}

	if r := b.do(t, request{method: http.MethodDelete, path: s.Links.Self}); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	b.do(t, request{path: s.Links.Self}).wantProblem(t, http.StatusNotFound)
	b.do(t, request{method: http.MethodDelete, path: s.Links.Self}).wantProblem(t, http.StatusNotFound)
	b.patchSchedule(t, s.ID, `{"paused": true}`, nil, http.StatusNotFound)
	b.do(t, request{path: "/api/v1/schedules/not-a-uuid"}).wantProblem(t, http.StatusNotFound)
}

// patchSchedule PATCHes a schedule and checks the status; it returns the
// schedule on 200.
func (b *bundle) patchSchedule(t *testing.T, id, body string, header map[string]string, want int) scheduleJSON {
	t.Helper()
	r := b.do(t, request{method: http.MethodPatch, path: "/api/v1/schedules/" + id, body: body, header: header})
	var s scheduleJSON
	if want != http.StatusOK {
		r.wantProblem(t, want)
		return s
	}
	if r.status != http.StatusOK {
		t.Fatalf("patch %s: %d %s", body, r.status, r.body)
	}
	r.decode(t, &s)
	return s
}

// TestListSchedules pages through schedules newest first.
func TestListSchedules(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	var want []string
	for range 5 {
		want = append([]string{b.createSchedule(t, scheduleBody).ID}, want...)
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		var page struct {
			Schedules  []scheduleJSON `json:"schedules"`
			NextCursor string         `json:"next_cursor"`
		}
		r := b.do(t, request{path: "/api/v1/schedules?limit=2&cursor=" + cursor})
		if r.status != http.StatusOK {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		r.decode(t, &page)
		for _, s := range page.Schedules {
			got = append(got, s.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("listed %v, want %v", got, want)
	}
	b.do(t, request{path: "/api/v1/schedules?limit=0"}).wantProblem(t, http.StatusUnprocessableEntity)
	b.do(t, request{path: "/api/v1/schedules?cursor=%21%21"}).wantProblem(t, http.StatusUnprocessableEntity)
}

// TestTriggerNotify checks the notify of a trigger: a signed endpoint is
// stored and shown with the secret's name, an unsigned one only where the
// operator allows it, an IP literal only where the egress policy allows
// it, and the deployment's default applies when none is given.
func TestTriggerNotify(t *testing.T) {
	t.Parallel()
	allowLoopback := func(_ *api.Config, d *api.Deps) {
		p, err := egress.NewPolicy([]string{"127.0.0.1"})
		if err != nil {
			panic(err)
		}
		d.Egress = p
	}
	unsigned := func(_ *api.Config, d *api.Deps) { d.AllowUnsignedWebhooks = true }
	def := func(_ *api.Config, d *api.Deps) {
		d.DefaultNotify = &intake.Notify{URL: "https://hooks.example.com/default", Events: []intake.Event{intake.EventJobFailed}, Secret: "ACME_HOOK"}
	}
	strict := newBundle(t, withWebhookSecret, def)
	open := newBundle(t, withWebhookSecret, allowLoopback, unsigned)
	tests := []struct {
		name   string
		b      *bundle
		notify string
		// wantLoc is the error's location; "" for a 202.
		wantLoc string
		// wantURL and wantSecret are the job's notify after a 202.
		wantURL, wantSecret string
	}{
		{"signed", strict, `{"url": "https://hooks.example.com/a", "events": ["job.completed"], "secret": "acme_hook"}`, "", "https://hooks.example.com/a", "ACME_HOOK"},
		{"name not resolved", strict, `{"url": "https://hooks.invalid/a", "secret": "ACME_HOOK"}`, "", "https://hooks.invalid/a", "ACME_HOOK"},
		{"default", strict, ``, "", "https://hooks.example.com/default", "ACME_HOOK"},
		{"unsigned", strict, `{"url": "https://hooks.example.com/a"}`, "body.notify.secret", "", ""},
		{"unsigned allowed", open, `{"url": "https://hooks.example.com/a"}`, "", "https://hooks.example.com/a", ""},
		{"secret not bound to the host", strict, `{"url": "https://other.example.org/a", "secret": "ACME_HOOK"}`, "body.notify.secret", "", ""},
		{"bad port", strict, `{"url": "https://hooks.example.com:99999/a", "secret": "ACME_HOOK"}`, "body.notify.url", "", ""},
		{"unknown secret", strict, `{"url": "https://hooks.example.com/a", "secret": "OTHER"}`, "body.notify.secret", "", ""},
		{"secret not a name", strict, `{"url": "https://hooks.example.com/a", "secret": "acme-hook"}`, "body.notify.secret", "", ""},
		{"ftp", strict, `{"url": "ftp://hooks.example.com/a", "secret": "ACME_HOOK"}`, "body.notify.url", "", ""},
		{"relative", strict, `{"url": "/hooks", "secret": "ACME_HOOK"}`, "body.notify.url", "", ""},
		{"credentials", strict, `{"url": "https://u:p@hooks.example.com/a", "secret": "ACME_HOOK"}`, "body.notify.url", "", ""},
		{"loopback", strict, `{"url": "http://127.0.0.1:8080/a", "secret": "ACME_HOOK"}`, "body.notify.url", "", ""},
		{"metadata", strict, `{"url": "http://169.254.169.254/latest", "secret": "ACME_HOOK"}`, "body.notify.url", "", ""},
		{"ipv6 loopback", strict, `{"url": "http://[::1]:8080/a", "secret": "ACME_HOOK"}`, "body.notify.url", "", ""},
		{"numeric host", strict, `{"url": "http://2130706433/a", "secret": "ACME_HOOK"}`, "body.notify.url", "", ""},
		{"loopback allowed", open, `{"url": "http://127.0.0.1:8080/a", "secret": "ACME_HOOK"}`, "", "http://127.0.0.1:8080/a", "ACME_HOOK"},
		{"other private address", open, `{"url": "http://10.0.0.1/a", "secret": "ACME_HOOK"}`, "body.notify.url", "", ""},
		{"unknown event", strict, `{"url": "https://hooks.example.com/a", "events": ["job.started"], "secret": "ACME_HOOK"}`, "body.notify.events[0]", "", ""},
		{"not an object", strict, `"https://hooks.example.com/a"`, "body.notify", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := `{"source_type": "filings", "config": ` + validConfig
			if tt.notify != "" {
				body += `, "notify": ` + tt.notify
			}
			r := tt.b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/trigger", body: body + "}"})
			if tt.wantLoc != "" {
				p := r.wantProblem(t, http.StatusUnprocessableEntity)
				if got := locations(p); len(got) != 1 || got[0] != tt.wantLoc {
					t.Errorf("locations %q, want %s; body %s", got, tt.wantLoc, r.body)
				}
				return
			}
			if r.status != http.StatusAccepted {
				t.Fatalf("trigger: %d %s", r.status, r.body)
			}
			var out struct {
				JobID string `json:"job_id"`
			}
			r.decode(t, &out)
			var job struct {
				Notify *struct {
					URL    string `json:"url"`
					Secret string `json:"secret"`
				} `json:"notify"`
			}
			tt.b.do(t, request{path: "/api/v1/jobs/status/" + out.JobID}).decode(t, &job)
			if job.Notify == nil || job.Notify.URL != tt.wantURL || job.Notify.Secret != tt.wantSecret {
				t.Errorf("notify %+v, want %s signed with %q", job.Notify, tt.wantURL, tt.wantSecret)
			}
		})
	}
}

// TestTriggerNotifyIdempotency checks that notify is part of the request an
// Idempotency-Key stands for.
func TestTriggerNotifyIdempotency(t *testing.T) {
	t.Parallel()
	b := newBundle(t, withWebhookSecret)
	send := func(notify string) response {
		body := `{"source_type": "filings", "config": ` + validConfig + notify + `}`
		return b.do(t, request{method: http.MethodPost, path: "/api/v1/jobs/trigger", body: body, header: map[string]string{"Idempotency-Key": "k1"}})
	}
	a := `, "notify": {"url": "https://hooks.example.com/a", "secret": "ACME_HOOK"}`
	first, again := send(a), send(a)
	if first.status != http.StatusAccepted || again.status != http.StatusAccepted || !strings.Contains(string(again.body), jsonField(t, first.body, "job_id")) {
		t.Fatalf("replay: %d %s, %d %s", first.status, first.body, again.status, again.body)
	}
	send(`, "notify": {"url": "https://hooks.example.com/b", "secret": "ACME_HOOK"}`).wantProblem(t, http.StatusUnprocessableEntity)
	send(``).wantProblem(t, http.StatusUnprocessableEntity)
}

func jsonField(t *testing.T, body []byte, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[name].(string)
	if s == "" {
		t.Fatalf("no %s in %s", name, body)
	}
	return s
}
