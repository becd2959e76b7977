package main

import (
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/intake-dev/intake/internal/testenv"
)

// startRedis starts a private redis-server (no persistence) on port and
// waits until it accepts connections. It calls testenv.Missing when Debian's
// redis-server is not installed.
func startRedis(t *testing.T, port int) *proc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Missing(t, "redis-server", "apt-get install redis-server, or run scripts/test-services.sh up")
	}
	p := startProc(t, "redis-server", bin, nil,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes")
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			_ = c.Close()
			return p
		}
		if time.Now().After(deadline) || !p.running() {
			t.Fatalf("redis-server on port %d did not accept connections: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFaultKillRedis kills a private Redis with SIGKILL while serve and
// work run with Redis Streams dispatch, keeps it down for five seconds and
// starts it again. Meanwhile the API answers every status call and
// accepts new jobs (Redis only wakes workers; the store is the truth), and
// every job, also those created during the outage, completes intact.
func TestFaultKillRedis(t *testing.T) {
	t.Parallel()
	bin := testenv.IntakeBinary(t)
	port := testenv.FreePort(t)
	redis := startRedis(t, port)
	env := processEnv(append(sqliteFile(t).env,
		"INTAKE_REDIS_URL=redis://127.0.0.1:"+strconv.Itoa(port)+"/0",
		"INTAKE_DISPATCH=redis",
		"INTAKE_FILINGS_DELAY=30ms",
	)...)
	st := startFaultStack(t, bin, env)
	api := st.api

	redis.kill(t)
	var probe outageProbe
	created := 0
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		probe.probe(api, st.ids[0])
		if probe.calls%10 == 1 {
			var res struct {
				JobID string `json:"job_id"`
			}
			body := `{"source_type":"filings","config":{"cin":"L17110MH1973PLC019786","company_name":"Reliance Industries Limited"}}`
			code, _, err := api.do(http.MethodPost, "/api/v1/jobs/trigger", body, &res)
			if code != http.StatusAccepted || res.JobID == "" {
				t.Errorf("trigger with Redis down: HTTP %d: %v", code, err)
			} else {
				st.ids = append(st.ids, res.JobID)
				created++
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if probe.internal > 0 || probe.other > 0 {
		t.Errorf("status with Redis down: %v, want only 200 (or 503 with Retry-After)", probe.codes)
	}
	startRedis(t, port)

	st.complete(t)
	st.stop(t)
	t.Logf("Redis killed for 5s: %d status calls answered %v; %d jobs created meanwhile; all %d jobs completed",
		probe.calls, probe.codes, created, len(st.ids))
}
