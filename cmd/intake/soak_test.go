package main

// The soak test behind docs/RELIABILITY.md: mixed API load (create, status,
// list, cancel, content) against serve and two work processes on
// PostgreSQL for INTAKE_SOAK_DURATION, sampling each process's resident
// memory, goroutines and open file descriptors. It runs only when
// INTAKE_SOAK_DURATION is set (scripts/soak.sh sets it):
//
//	INTAKE_SOAK_DURATION=30m INTAKE_SOAK_OUT=soak.csv \
//	  go test -run TestSoak -timeout 2h -v ./cmd/intake

import (
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intake-dev/intake/internal/testenv"
)

func TestSoak(t *testing.T) {
	d, _ := time.ParseDuration(os.Getenv("INTAKE_SOAK_DURATION"))
	if d <= 0 {
		t.Skip("set INTAKE_SOAK_DURATION (scripts/soak.sh) to run the soak test")
	}
	bin := testenv.IntakeBinary(t)
	env := processEnv(append(postgresDatabase(t).env,
		"INTAKE_DATA_DIR="+t.TempDir(),
		"INTAKE_FILINGS_DELAY=50ms",
		"INTAKE_WORKER_CONCURRENCY=4",
	)...)
	migrateProc(t, bin, env, 1)
	serve, api := startServe(t, bin, env)
	w1, m1 := startWork(t, "work 1", bin, env)
	w2, m2 := startWork(t, "work 2", bin, env)
	targets := []struct{ name, url string }{{"serve", api.base + "/metrics"}, {"work1", m1 + "/metrics"}, {"work2", m2 + "/metrics"}}

	var (
		mu       sync.Mutex
		ids      []string
		counts   = map[string]map[int]int{} // operation → status → count
		errs     []string
		requests atomic.Int64
	)
	record := func(op string, code int, err error) {
		requests.Add(1)
		mu.Lock()
		defer mu.Unlock()
		if counts[op] == nil {
			counts[op] = map[int]int{}
		}
		counts[op][code]++
		// Expected answers: success, 404 for a document not collected yet,
		// 409 for cancelling a finished job or the result of an unfinished
		// one, and 429/503 (overload, outage) with Retry-After.
		switch {
		case code >= 200 && code < 300, code == 404, code == 409, code == 429, code == 503:
		default:
			if len(errs) < 20 {
				errs = append(errs, fmt.Sprintf("%s: HTTP %d: %v", op, code, err))
			}
		}
	}
	pick := func() string {
		mu.Lock()
		defer mu.Unlock()
		if len(ids) == 0 {
			return ""
		}
		return ids[rand.N(len(ids))] //nolint:gosec // load mix
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Go(func() {
			tick := time.NewTicker(100 * time.Millisecond) // 4 clients × 10 requests/s
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				id := pick()
				// Per 20 requests: 1 create, 1 cancel, 6 status, 4 list,
				// 2 result, 6 content; creation stays within what two
				// workers collect, so that the backlog does not grow.
				switch op := (n + c) % 20; {
				case op == 0 || id == "":
					var res struct {
						JobID string `json:"job_id"`
					}
					body := `{"source_type":"filings","config":{"cin":"L17110MH1973PLC019786","company_name":"Reliance Industries Limited"}}`
					code, _, err := api.do(http.MethodPost, "/api/v1/jobs/trigger", body, &res)
					record("create", code, err)
					if res.JobID != "" {
						mu.Lock()
						ids = append(ids, res.JobID)
						mu.Unlock()
					}
				case op == 1:
					code, _, err := api.do(http.MethodPost, "/api/v1/jobs/"+id+"/cancel", "", nil)
					record("cancel", code, err)
				case op <= 7:
					code, _, err := api.do(http.MethodGet, "/api/v1/jobs/status/"+id, "", nil)
					record("status", code, err)
				case op <= 11:
					code, _, err := api.do(http.MethodGet, "/api/v1/jobs?limit=20", "", nil)
					record("list", code, err)
				case op <= 13:
					code, _, err := api.do(http.MethodGet, "/api/v1/jobs/result/"+id, "", nil)
					record("result", code, err)
				default:
					code, _, err := api.do(http.MethodGet, fmt.Sprintf("/api/v1/jobs/%s/documents/%d/content", id, 1+rand.N(30)), "", nil) //nolint:gosec // load mix
					record("content", code, err)
				}
			}
		})
	}

	out := os.Getenv("INTAKE_SOAK_OUT")
	var rows [][]string
	rows = append(rows, []string{"elapsed_s", "process", "rss_bytes", "goroutines", "open_fds", "requests"})
	type sample struct{ rss, gor, fds float64 }
	first, last, peak := map[string]sample{}, map[string]sample{}, map[string]sample{}
	start := time.Now()
	every := max(time.Second, d/60)
	for {
		el := time.Since(start)
		for _, p := range targets {
			s := sample{
				rss: metric(t, p.url, "process_resident_memory_bytes"),
				gor: metric(t, p.url, "go_goroutines"),
				fds: metric(t, p.url, "process_open_fds"),
			}
			if _, ok := first[p.name]; !ok {
				first[p.name] = s
			}
			last[p.name] = s
			pk := peak[p.name]
			peak[p.name] = sample{max(pk.rss, s.rss), max(pk.gor, s.gor), max(pk.fds, s.fds)}
			rows = append(rows, []string{strconv.Itoa(int(el.Seconds())), p.name, fmt.Sprint(s.rss), fmt.Sprint(s.gor), fmt.Sprint(s.fds), fmt.Sprint(requests.Load())})
		}
		if el >= d {
			break
		}
		time.Sleep(every)
	}
	close(stop)
	wg.Wait()
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := csv.NewWriter(f).WriteAll(rows); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
	}
	for _, p := range targets {
		f, l, pk := first[p.name], last[p.name], peak[p.name]
		t.Logf("SOAK %s rss_mib first=%.1f last=%.1f peak=%.1f goroutines first=%.0f last=%.0f peak=%.0f fds first=%.0f last=%.0f peak=%.0f",
			p.name, f.rss/(1<<20), l.rss/(1<<20), pk.rss/(1<<20), f.gor, l.gor, pk.gor, f.fds, l.fds, pk.fds)
	}
	mu.Lock()
	t.Logf("SOAK duration=%s requests=%d jobs=%d answers=%v", d, requests.Load(), len(ids), counts)
	for _, e := range errs {
		t.Errorf("unexpected answer: %s", e)
	}
	mu.Unlock()
	w1.terminate(t)
	w2.terminate(t)
	serve.terminate(t)
}
