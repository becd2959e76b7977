package azureblob_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob/azureblob"
	"github.com/intake-dev/intake/internal/blob/blobtest"
	"github.com/intake-dev/intake/internal/testenv"
)

// outageBound is how long any call may take to report an outage.
const outageBound = 30 * time.Second

// checkOutage runs every BlobStore call that talks to Azure, at once, and
// checks that each fails with EUNAVAILABLE within outageBound, without a
// secret in its error. The Put bodies are one block and three blocks long
// (for BlockSize 1 KiB), so that both Put Blob and Put Block are tried.
func checkOutage(t *testing.T, ctx context.Context, b intake.BlobStore, when string) {
	t.Helper()
	calls := map[string]func() error{
		"Put whole":  func() error { return putErr(b, ctx, "k") },
		"Put blocks": func() error { _, err := b.Put(ctx, "big", bytes.NewReader(make([]byte, 3<<10)), "x/y"); return err },
		"Get":        func() error { return getErr(b, ctx, "k") },
		"Delete":     func() error { return b.Delete(ctx, "k") },
		"List":       func() error { return b.List(ctx, "", func(*intake.BlobInfo) error { return nil }) },
		"Ping":       func() error { return b.Ping(ctx) },
	}
	type result struct {
		err     error
		elapsed time.Duration
	}
	results := make(map[string]result, len(calls))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, call := range calls {
		wg.Go(func() {
			start := time.Now()
			err := call()
			mu.Lock()
			results[name] = result{err, time.Since(start)}
			mu.Unlock()
		})
	}
	wg.Wait()
	var slowest time.Duration
	for name, r := range results {
		checkUnavailable(t, name+when, r.err, r.elapsed)
		slowest = max(slowest, r.elapsed)
	}
	t.Logf("every call failed%s with EUNAVAILABLE, the slowest after %s", when, slowest.Round(time.Millisecond))
}

// TestUnreachable points Buckets at a closed loopback port, as after
// Azurite or a network path died: every call fails with EUNAVAILABLE,
// after the SDK's retries but well within outageBound, and no error
// quotes the account key or SAS.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	addr := testenv.ClosedPort(t)
	tests := []struct {
		name string
		cfg  azureblob.Config
	}{
		{"shared key", azureblob.Config{ConnectionString: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + secretKey + ";BlobEndpoint=http://" + addr + "/devstoreaccount1"}},
		{"SAS", azureblob.Config{ServiceURL: "http://" + addr + "/devstoreaccount1/?sv=2024-11-04&sig=" + secretSig}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg.BlockSize = 1 << 10

			start := time.Now()
			withCreate := tt.cfg
			withCreate.CreateContainer = true
			_, err := azureblob.Open(t.Context(), withCreate)
			checkUnavailable(t, "Open with CreateContainer", err, time.Since(start))

			b, err := azureblob.Open(t.Context(), tt.cfg)
			if err != nil {
				t.Fatalf("Open without CreateContainer does no I/O, yet: %v", err)
			}
			defer b.Close()
			checkOutage(t, t.Context(), b, "")
		})
	}
}

// TestHungServer points a Bucket at a server that accepts connections and
// never answers: TryTimeout turns the hang into EUNAVAILABLE.
func TestHungServer(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	conns.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		l.Close()
		conns.Wait()
		for _, c := range open {
			c.Close()
		}
	})

	b, err := azureblob.Open(t.Context(), azureblob.Config{
		ConnectionString: "UseDevelopmentStorage=true;BlobEndpoint=http://" + l.Addr().String() + "/devstoreaccount1",
		BlockSize:        1 << 10,
		MaxRetries:       1,
		TryTimeout:       300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	checkOutage(t, t.Context(), b, "")
}

// TestServerErrors answers every request with one Azure error response:
// 5xx are retried MaxRetries times, then reported as EUNAVAILABLE; 403 is
// not retried.
func TestServerErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status       int
		code         string
		wantRequests int64
		wantCode     string
	}{
		{http.StatusServiceUnavailable, "ServerBusy", 3, intake.EUNAVAILABLE},
		{http.StatusInternalServerError, "InternalError", 3, intake.EUNAVAILABLE},
		{http.StatusForbidden, "AuthenticationFailed", 1, intake.EUNAVAILABLE},
		{http.StatusBadRequest, "InvalidHeaderValue", 1, intake.EINTERNAL},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			t.Parallel()
			var requests atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				requests.Add(1)
				w.Header().Set("x-ms-error-code", tt.code)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(tt.status)
				fmt.Fprintf(w, "<Error><Code>%s</Code><Message>echo sig=%s</Message></Error>", tt.code, secretSig)
			}))
			defer srv.Close()
			b, err := azureblob.Open(t.Context(), azureblob.Config{
				ServiceURL: srv.URL + "/acct/?sig=" + secretSig,
				MaxRetries: 2,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			_, err = b.Put(t.Context(), "k", strings.NewReader("x"), "text/plain")
			if code := intake.ErrorCode(err); code != tt.wantCode || !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d %s", tt.status, tt.code)) {
				t.Errorf("Put error = %v (code %q), want %s naming HTTP %d %s", err, code, tt.wantCode, tt.status, tt.code)
			}
			noSecret(t, err.Error())
			if n := requests.Load(); n != tt.wantRequests {
				t.Errorf("server saw %d requests, want %d", n, tt.wantRequests)
			}
		})
	}
}

// TestAzuriteOutage runs an Azurite of its own, stops it while a Bucket
// uses it, and starts it again: calls fail with EUNAVAILABLE within
// outageBound during the outage, and the same Bucket works, with the
// blobs written before, once Azurite is back.
func TestAzuriteOutage(t *testing.T) {
	t.Parallel()
	bin := testenv.Tool(t, "azurite-*/node_modules/.bin/azurite-blob", "Azurite")
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)

	stop := startAzurite(t, bin, port, dir, "--skipApiVersionCheck")
	b, err := azureblob.Open(t.Context(), azureblob.Config{
		ConnectionString: "UseDevelopmentStorage=true;BlobEndpoint=http://" + addr + "/devstoreaccount1",
		Container:        "outage",
		CreateContainer:  true,
	})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()
	ctx := t.Context()
	if _, err := b.Put(ctx, "before", strings.NewReader("written before the outage"), "text/plain"); err != nil {
		t.Fatalf("Put before the outage: %v", err)
	}

	stop()
	checkOutage(t, ctx, b, " during the outage")

	startAzurite(t, bin, port, dir, "--skipApiVersionCheck")
	if body, _ := blobtest.Read(t, b, "before"); string(body) != "written before the outage" {
		t.Errorf("Get after the outage = %q", body)
	}
	if _, err := b.Put(ctx, "after", strings.NewReader("x"), "text/plain"); err != nil {
		t.Errorf("Put after the outage: %v", err)
	}
}

// TestAzuriteAPIVersionCheck runs an Azurite without --skipApiVersionCheck,
// which refuses the SDK's newer API version: Open says what to do.
func TestAzuriteAPIVersionCheck(t *testing.T) {
	t.Parallel()
	bin := testenv.Tool(t, "azurite-*/node_modules/.bin/azurite-blob", "Azurite")
	addr := testenv.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	startAzurite(t, bin, port, t.TempDir())
	_, err := azureblob.Open(t.Context(), azureblob.Config{
		ConnectionString: "UseDevelopmentStorage=true;BlobEndpoint=http://" + addr + "/devstoreaccount1",
		CreateContainer:  true,
	})
	if code := intake.ErrorCode(err); code != intake.EUNAVAILABLE || !strings.Contains(err.Error(), "start it with --skipApiVersionCheck") {
		t.Errorf("Open error = %v (code %q), want %s advising --skipApiVersionCheck", err, code, intake.EUNAVAILABLE)
	}
}

// startAzurite starts azurite-blob on 127.0.0.1:port with its data in dir
// and the extra arguments,
// waits until it answers, and returns a function that stops it (also run
// at cleanup).
func startAzurite(t *testing.T, bin, port, dir string, extra ...string) (stop func()) {
	t.Helper()
	args := append([]string{"--blobHost", "127.0.0.1", "--blobPort", port, "--location", dir, "--disableProductStyleUrl", "--silent"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start azurite: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			// Its own process group: node may have children. SIGTERM
			// lets Azurite save its metadata, as test-services.sh's stop
			// does; SIGKILL if it lingers.
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
			}
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:" + port + "/devstoreaccount1?comp=list") //nolint:noctx // a readiness probe
		if err == nil {
			resp.Body.Close()
			return stop
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("azurite did not answer on port %s within 30s: %s", port, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func checkUnavailable(t *testing.T, op string, err error, elapsed time.Duration) {
	t.Helper()
	if code := intake.ErrorCode(err); code != intake.EUNAVAILABLE {
		t.Errorf("%s error = %v (code %q), want %s", op, err, code, intake.EUNAVAILABLE)
	}
	if elapsed > outageBound {
		t.Errorf("%s took %s to fail, want at most %s", op, elapsed, outageBound)
	}
	if err != nil {
		noSecret(t, err.Error())
	}
}
