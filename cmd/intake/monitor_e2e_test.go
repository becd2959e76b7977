package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/intake-dev/intake/internal/testenv"
)

// hookSecret is the receiver's signing secret in the Standard Webhooks
// form: whsec_ and the base64 of the key.
const hookSecret = "whsec_aW50YWtlLWUyZS13ZWJob29rLXNpZ25pbmcta2V5"

// hookReceiver is a webhook endpoint on loopback that checks every
// delivery's Standard Webhooks signature with its own implementation of
// the specification, and counts deliveries by webhook-id. It can go down
// (its listener closed, so connections are refused) and come back on the
// same address.
type hookReceiver struct {
	t    *testing.T
	addr string
	key  []byte

	mu       sync.Mutex
	srv      *http.Server
	received map[string]int            // webhook-id → deliveries
	events   map[string]map[string]int // job ID → event type → deliveries
	bad      []string                  // deliveries that failed verification
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(hookSecret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	r := &hookReceiver{t: t, key: key, received: map[string]int{}, events: map[string]map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	t.Cleanup(r.down)
	return r
}

func (r *hookReceiver) url() string { return "http://" + r.addr + "/hooks/intake" }

func (r *hookReceiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 5 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// down closes the listener and every connection: deliveries are refused.
func (r *hookReceiver) down() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// up listens on the same address again.
func (r *hookReceiver) up() {
	r.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger for a moment after Close
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			r.serve(ln)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Errorf("receiver: listen on %s again: %v", r.addr, err)
}

func (r *hookReceiver) handle(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := req.Header.Get("webhook-id")
	if err := r.verify(id, req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature"), body); err != nil {
		r.mu.Lock()
		r.bad = append(r.bad, fmt.Sprintf("%s: %v", id, err))
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var msg struct {
		Type string `json:"type"`
		Data struct {
			JobID string `json:"job_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || msg.Data.JobID == "" {
		r.mu.Lock()
		r.bad = append(r.bad, fmt.Sprintf("%s: body %q", id, body))
		r.mu.Unlock()
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.received[id]++
	if r.events[msg.Data.JobID] == nil {
		r.events[msg.Data.JobID] = map[string]int{}
	}
	r.events[msg.Data.JobID][msg.Type]++
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// verify checks a delivery as the Standard Webhooks specification says:
// the signature is base64(HMAC-SHA256(key, id.timestamp.body)), one of the
// space-separated "v1,<sig>" entries, and the timestamp is within five
// minutes.
func (r *hookReceiver) verify(id, ts, sigs string, body []byte) error {
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q: %w", ts, err)
	}
	if d := time.Since(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("webhook-timestamp %s is %s away", ts, d)
	}
	mac := hmac.New(sha256.New, r.key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("no valid signature")
}

func (r *hookReceiver) snapshot() (map[string]map[string]int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]map[string]int, len(r.events))
	for k, v := range r.events {
		m := make(map[string]int, len(v))
		for e, n := range v {
			m[e] = n
		}
		out[k] = m
	}
	return out, append([]string(nil), r.bad...)
}

// TestMonitorEndToEnd is continuous monitoring across replicas: a filings
// schedule every 2 s on PostgreSQL, fired by the maintenance loops of two
// serve and two work processes for 30 s, with a loopback webhook receiver
// that is down (connections refused) from 10 s to 20 s. Each tick is
// handled exactly once (the jobs plus the skips account for every tick,
// with no tick twice), the simulation's daily filings show up as changes,
// and every event of every ended job reaches the receiver, signed, at
// least once, none lost to the outage.
func TestMonitorEndToEnd(t *testing.T) {
	t.Parallel()
	bin := testenv.IntakeBinary(t)
	hook := newHookReceiver(t)
	blobs := t.TempDir()
	env := processEnv(append(postgresDatabase(t).env,
		"INTAKE_BLOB_URL=file://"+filepath.ToSlash(blobs),
		"INTAKE_FILINGS_DAY=100ms", // twenty simulated days a tick: changes are likely
		"INTAKE_FILINGS_DELAY=1ms",
		"INTAKE_WORKER_CONCURRENCY=4",
		"INTAKE_SOURCE_HTTP_ALLOW=127.0.0.1/32",
		"INTAKE_SECRET_HOOK="+hookSecret,
		"INTAKE_SECRET_HOOK_HOSTS=127.0.0.1",
	)...)
	migrateProc(t, bin, env, 2)
	serve1, api := startServe(t, bin, env)
	serve2, api2 := startServe(t, bin, env)
	work1, metrics1 := startWork(t, "work1", bin, env)
	work2, metrics2 := startWork(t, "work2", bin, env)

	var sched struct {
		ID string `json:"id"`
	}
	body := `{"name":"Reliance daily","source_type":"filings",
		"config":{"cin":"L17110MH1973PLC019786","company_name":"Reliance Industries Limited"},
		"interval":"2s","notify":{"url":"` + hook.url() + `","secret":"HOOK"}}`
	if code, _, err := api.do(http.MethodPost, "/api/v1/schedules", body, &sched); err != nil || code != http.StatusCreated {
		t.Fatalf("create schedule: HTTP %d: %v", code, err)
	}
	start := time.Now()
	time.Sleep(10 * time.Second)
	hook.down()
	time.Sleep(10 * time.Second)
	hook.up()
	time.Sleep(10 * time.Second)
	if code, _, err := api2.do(http.MethodPatch, "/api/v1/schedules/"+sched.ID, `{"paused":true}`, nil); err != nil || code != http.StatusOK {
		t.Fatalf("pause schedule: HTTP %d: %v", code, err)
	}
	ran := time.Since(start)

	// Every job the schedule made ends, and every event it owes arrives.
	jobs := waitScheduleJobs(t, api, sched.ID, 90*time.Second)
	deadline := time.Now().Add(90 * time.Second)
	var missing []string
	for {
		missing = missing[:0]
		events, bad := hook.snapshot()
		if len(bad) > 0 {
			t.Fatalf("deliveries that failed verification: %v", bad)
		}
		for _, j := range jobs {
			for _, e := range j.want {
				if events[j.ID][e] == 0 {
					missing = append(missing, j.ID+" "+e)
				}
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(missing) > 0 {
		t.Fatalf("%d events never arrived: %v", len(missing), missing)
	}

	// Exactly once per tick: four replicas' fires are the jobs, one each,
	// and fires plus skips cover every tick from the first to the last.
	var fires, skips float64
	for _, m := range []string{api.base, api2.base, metrics1, metrics2} {
		fires += metric(t, m+"/metrics", "intake_schedule_fires_total")
		skips += metric(t, m+"/metrics", "intake_schedule_skips_total")
	}
	if int(fires) != len(jobs) {
		t.Errorf("the replicas counted %v fires for %d jobs", fires, len(jobs))
	}
	ticks := int(ran/(2*time.Second)) - 1
	if handled := int(fires + skips); handled < ticks-1 || handled > ticks+2 {
		t.Errorf("%v fires + %v skips handled %d ticks in %s, want about %d", fires, skips, handled, ran.Round(time.Second), ticks)
	}
	if len(jobs) < ticks/3 {
		t.Errorf("only %d jobs for %d ticks", len(jobs), ticks)
	}

	// Changes: the filings evolve every 2 s, so some job saw some.
	changed := 0
	var failedAttempts int
	for _, j := range jobs {
		if j.changed {
			changed++
		}
		var d struct {
			Deliveries []struct {
				OK bool `json:"ok"`
			} `json:"deliveries"`
		}
		if _, _, err := api.do(http.MethodGet, "/api/v1/jobs/"+j.ID+"/deliveries?limit=500", "", &d); err != nil {
			t.Fatal(err)
		}
		for _, a := range d.Deliveries {
			if !a.OK {
				failedAttempts++
			}
		}
	}
	if changed == 0 {
		t.Errorf("none of %d jobs found a change", len(jobs))
	}
	if failedAttempts == 0 {
		t.Errorf("no delivery attempt failed while the receiver was down: the outage tested nothing")
	}
	events, _ := hook.snapshot()
	redelivered := 0
	for _, byEvent := range events {
		for _, n := range byEvent {
			redelivered += n - 1
		}
	}
	t.Logf("%s: %d jobs (%d with changes), %v fires, %v skips; %d failed attempts during the outage, %d duplicate deliveries",
		ran.Round(time.Second), len(jobs), changed, fires, skips, failedAttempts, redelivered)
	for _, p := range []*proc{work1, work2, serve1, serve2} {
		p.terminate(t)
	}
}

// scheduleJob is a job of the schedule that ended, with the events it
// owes the receiver.
type scheduleJob struct {
	ID      string
	changed bool
	want    []string
}

// waitScheduleJobs waits until every job of the schedule has ended and
// returns them; a failed or cancelled one fails the test.
func waitScheduleJobs(t *testing.T, api *apiClient, scheduleID string, timeout time.Duration) []scheduleJob {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var page struct {
			Jobs []struct {
				ID         string `json:"job_id"`
				ScheduleID string `json:"schedule_id"`
				Status     string `json:"status"`
				LastError  string `json:"last_error"`
				Previous   string `json:"previous_job_id"`
			} `json:"jobs"`
		}
		if _, _, err := api.do(http.MethodGet, "/api/v1/jobs?limit=500", "", &page); err != nil {
			t.Fatal(err)
		}
		var out []scheduleJob
		open := 0
		for _, j := range page.Jobs {
			if j.ScheduleID != scheduleID {
				continue
			}
			switch j.Status {
			case "completed":
			case "failed", "cancelled":
				t.Fatalf("job %s of the schedule ended %s: %s", j.ID, j.Status, j.LastError)
			default:
				open++
				continue
			}
			sj := scheduleJob{ID: j.ID, want: []string{"job.completed"}}
			if j.Previous != "" {
				var ch struct {
					Counts *struct {
						New, Changed, Removed int
					} `json:"counts"`
				}
				if _, _, err := api.do(http.MethodGet, "/api/v1/jobs/"+j.ID+"/changes", "", &ch); err != nil {
					t.Fatal(err)
				}
				if ch.Counts != nil && ch.Counts.New+ch.Counts.Changed+ch.Counts.Removed > 0 {
					sj.changed = true
					sj.want = append(sj.want, "job.changed")
				}
			}
			out = append(out, sj)
		}
		if open == 0 && len(out) > 0 {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs of the schedule still open after %s", open, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
