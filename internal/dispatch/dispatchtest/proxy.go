package dispatchtest

import (
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intake-dev/intake"
)

// Proxy forwards TCP connections from a loopback port to a server, so that
// a test can take the server away from the Dispatchers that use the proxy
// without touching the server, which other tests share. It gives a
// Harness its Break and Dials.
type Proxy struct {
	target string
	ln     net.Listener
	dials  atomic.Int64
	wg     sync.WaitGroup

	mu     sync.Mutex
	broken bool
	conns  map[net.Conn]struct{}
}

// NewProxy starts a proxy to target (host:port) on a free loopback port;
// it stops at the end of the test.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &Proxy{target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

// Addr returns the host:port to give the Dispatchers instead of the
// server's.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Dials returns how many connections the proxy has accepted.
func (p *Proxy) Dials() int64 { return p.dials.Load() }

// Break resets every connection through the proxy and every new one until
// restore is called: to its clients the server is down. The port stays
// taken, so that restoring never races another test for it.
func (p *Proxy) Break() (restore func()) {
	p.mu.Lock()
	p.broken = true
	p.mu.Unlock()
	p.closeAll()
	return func() {
		p.mu.Lock()
		p.broken = false
		p.mu.Unlock()
	}
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed at cleanup
		}
		p.dials.Add(1)
		p.wg.Go(func() { p.forward(c) })
	}
}

// forward copies between c and a new connection to the target until
// either side ends or Break closes both.
func (p *Proxy) forward(c net.Conn) {
	p.mu.Lock()
	broken := p.broken
	p.mu.Unlock()
	if broken {
		reset(c)
		return
	}
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		reset(c)
		return
	}
	if !p.track(c, s) {
		reset(c)
		_ = s.Close()
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(s, c)
	go pipe(c, s)
	<-done
	p.untrack(c, s)
	_ = c.Close()
	_ = s.Close()
	<-done
}

// track registers a live pair of connections, unless Break came first.
func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken {
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		delete(p.conns, c)
	}
}

// closeAll resets every live connection.
func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		reset(c)
		delete(p.conns, c)
	}
}

// reset closes c with a TCP reset, as a server that went away does.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// ProxyURL starts a Proxy to the server that rawURL names and returns it,
// rawURL rewritten to go through it, and the password that URL carries.
// A URL without a password gets one for user (servers that trust loopback
// connections ignore it), so that the suite can check that no log or
// error shows it.
func ProxyURL(t testing.TB, rawURL, user string) (p *Proxy, proxied, password string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		t.Fatalf("proxy: %q is not a server URL", rawURL)
	}
	p = NewProxy(t, u.Host)
	u.Host = p.Addr()
	password, ok := u.User.Password()
	if !ok {
		if u.User.Username() != "" {
			user = u.User.Username()
		}
		password = "s3cret-intake-test-pw"
		u.User = url.UserPassword(user, password)
	}
	return p, u.String(), password
}

// ThroughProxy returns the Harness of an implementation whose server
// rawURL names: open opens a Dispatcher on the URL it is given, which
// leads through a Proxy (see ProxyURL) that Break takes away.
func ThroughProxy(t *testing.T, rawURL, user string, fanout Fanout,
	open func(t *testing.T, url string, logger *slog.Logger) (intake.Dispatcher, error)) *Harness {
	t.Helper()
	proxy, proxied, password := ProxyURL(t, rawURL, user)
	return &Harness{
		Open: func(t *testing.T, logger *slog.Logger) intake.Dispatcher {
			t.Helper()
			d, err := open(t, proxied, logger)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return d
		},
		Fanout: fanout,
		Break:  proxy.Break,
		Dials:  proxy.Dials,
		Secret: password,
	}
}
