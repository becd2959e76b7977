package egress

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func TestPolicyCheckAddr(t *testing.T) {
	t.Parallel()
	def, err := NewPolicy(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr    string
		refused bool
	}{
		{"0.0.0.0", true}, {"0.1.2.3", true}, {"10.0.0.1", true}, {"100.64.0.1", true}, {"100.127.255.254", true},
		{"127.0.0.1", true}, {"127.255.255.255", true}, {"169.254.169.254", true}, {"172.16.0.1", true},
		{"172.31.255.255", true}, {"192.0.0.1", true}, {"192.0.2.1", true}, {"192.31.196.1", true},
		{"192.52.193.1", true}, {"192.88.99.1", true}, {"192.168.1.1", true}, {"192.175.48.1", true},
		{"198.18.0.1", true}, {"198.19.255.255", true}, {"198.51.100.7", true}, {"203.0.113.9", true},
		{"224.0.0.1", true}, {"239.255.255.250", true}, {"240.0.0.1", true}, {"255.255.255.255", true},
		{"::", true}, {"::1", true}, {"::127.0.0.1", true}, {"::ffff:127.0.0.1", true}, {"::ffff:169.254.169.254", true},
		{"::ffff:10.1.2.3", true}, {"64:ff9b::7f00:1", true}, {"64:ff9b:1::1", true}, {"100::1", true},
		{"2001::1", true}, {"2001:0:4136:e378:8000:63bf:3fff:fdd2", true}, {"2001:db8::1", true},
		{"2002:7f00:1::1", true}, {"2620:4f:8000::1", true}, {"3fff::1", true}, {"5f00::1", true},
		{"fc00::1", true}, {"fd12:3456::1", true}, {"fe80::1", true}, {"fec0::1", true}, {"ff02::1", true},
		{"4000::1", true}, {"fe80::1%eth0", true},
		// Public addresses (decisions only; nothing is dialled).
		{"8.8.8.8", false}, {"1.1.1.1", false}, {"100.63.255.255", false}, {"100.128.0.0", false},
		{"172.32.0.1", false}, {"198.20.0.1", false}, {"::ffff:8.8.8.8", false}, {"2606:4700::1111", false},
		{"2001:4860:4860::8888", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			err := def.CheckAddr(netip.MustParseAddr(tt.addr))
			if got := err != nil; got != tt.refused {
				t.Fatalf("CheckAddr(%s) = %v, want refused=%v", tt.addr, err, tt.refused)
			}
			if err != nil && !errors.Is(err, ErrRefused) {
				t.Fatalf("error %v does not wrap ErrRefused", err)
			}
		})
	}
}

func TestPolicyAllow(t *testing.T) {
	t.Parallel()
	p, err := NewPolicy([]string{"10.1.0.0/16", "127.0.0.1", "::1", "api.internal", "*.corp.example"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr    string
		refused bool
	}{
		{"10.1.2.3", false}, {"10.2.0.1", true}, {"127.0.0.1", false}, {"::ffff:127.0.0.1", false},
		{"127.0.0.2", true}, {"::1", false}, {"169.254.169.254", true},
	}
	for _, tt := range tests {
		if got := p.CheckAddr(netip.MustParseAddr(tt.addr)) != nil; got != tt.refused {
			t.Errorf("CheckAddr(%s) refused=%v, want %v", tt.addr, got, tt.refused)
		}
	}
	for host, want := range map[string]bool{
		"api.internal": true, "API.Internal.": true, "x.api.internal": false,
		"a.corp.example": true, "corp.example": false, "evilcorp.example": false,
	} {
		if got := p.HostAllowed(host); got != want {
			t.Errorf("HostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "fe80::1%eth0", "bad host", "*.", "-x.example"} {
		if _, err := NewPolicy([]string{bad}); err == nil {
			t.Errorf("NewPolicy(%q) accepted", bad)
		}
	}
}

func TestPolicyCheckHost(t *testing.T) {
	t.Parallel()
	p, err := NewPolicy(nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host    string
		refused bool
	}{
		{"2130706433", true},       // decimal 127.0.0.1
		{"0x7f000001", true},       // hex
		{"0x7f.1", true},           // hex + short form
		{"017700000001", true},     // octal
		{"0177.0.0.1", true},       // octal first part
		{"127.1", true},            // short form
		{"127.0.0.1", true},        // canonical, but loopback
		{"127.0.0.1.", true},       // trailing dot
		{"0", true},                // 0.0.0.0
		{"999999999999", true},     // numeric but not IPv4
		{"1.2.3.0x4", true},        // hex last part
		{"[::1]", true},            // IPv6 loopback
		{"[::ffff:7f00:1]", true},  // mapped loopback
		{"[fe80::1%25eth0]", true}, // zone
		{"bad_host!", true},
		{"8.8.8.8", false},
		{"example.com", false},
		{"api.example.com.", false},
		{"1e100.net", false}, // last label is not numeric
		{"[2606:4700::1111]", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			_, err := p.CheckHost(tt.host)
			if got := err != nil; got != tt.refused {
				t.Fatalf("CheckHost(%q) = %v, want refused=%v", tt.host, err, tt.refused)
			}
		})
	}
}

func TestParseLooseIPv4(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"2130706433": "127.0.0.1", "0x7f.1": "127.0.0.1", "017700000001": "127.0.0.1",
		"0177.0.0.1": "127.0.0.1", "127.1": "127.0.0.1", "10.0x10.1": "10.16.0.1", "0xA9FEA9FE": "169.254.169.254",
	}
	for in, want := range tests {
		a, ok := parseLooseIPv4(in)
		if !ok || a.String() != want {
			t.Errorf("parseLooseIPv4(%q) = %v, %v; want %s", in, a, ok, want)
		}
	}
	for _, bad := range []string{"256.1.1.1", "1.2.3.4.5", "0x", "08", "1.16777216"} {
		if a, ok := parseLooseIPv4(bad); ok && bad != "0x" {
			t.Errorf("parseLooseIPv4(%q) = %v, want failure", bad, a)
		}
	}
}

// fakeResolver answers from a table, never from DNS. Its answers may change
// after the first lookup of a name, to simulate DNS rebinding.
type fakeResolver struct {
	first map[string][]string // the first answer per host
	then  map[string][]string // later answers
	calls atomic.Int32
}

func (r *fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	n := r.calls.Add(1)
	answer, ok := r.then[host]
	if first, okFirst := r.first[host]; okFirst && n == 1 {
		answer, ok = first, true
	}
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]net.IPAddr, len(answer))
	for i, a := range answer {
		out[i] = net.IPAddr{IP: net.ParseIP(a)}
	}
	return out, nil
}

func TestDialLoopback(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	tests := []struct {
		name     string
		allow    []string
		resolver map[string][]string
		host     string
		refused  bool
	}{
		{"loopback refused by default", nil, nil, "127.0.0.1", true},
		{"loopback allowed by CIDR", []string{"127.0.0.1/32"}, nil, "127.0.0.1", false},
		{"name resolving to loopback refused", nil, map[string][]string{"api.test": {"127.0.0.1"}}, "api.test", true},
		{"name resolving to mapped loopback refused", nil, map[string][]string{"api.test": {"::ffff:127.0.0.1"}}, "api.test", true},
		{"name allowed by host entry", []string{"api.test"}, map[string][]string{"api.test": {"127.0.0.1"}}, "api.test", false},
		{"name resolving to loopback allowed by CIDR", []string{"127.0.0.0/8"}, map[string][]string{"api.test": {"127.0.0.1"}}, "api.test", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := NewPolicy(tt.allow)
			if err != nil {
				t.Fatal(err)
			}
			d := &Dialer{policy: p, resolver: &fakeResolver{then: tt.resolver}, timeout: 10 * time.Second}
			conn, err := d.DialContext(t.Context(), "tcp", net.JoinHostPort(tt.host, strconv.Itoa(port)))
			if conn != nil {
				_ = conn.Close()
			}
			if got := err != nil; got != tt.refused {
				t.Fatalf("dial %s: %v, want refused=%v", tt.host, err, tt.refused)
			}
			if err != nil && !errors.Is(err, ErrRefused) {
				t.Fatalf("error %v does not wrap ErrRefused", err)
			}
		})
	}
}

// TestDialRebinding checks that a name whose answer changes to loopback
// after a first, public answer is refused when dialled.
func TestDialRebinding(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	p, _ := NewPolicy(nil)
	// A resolver that returns a public address first (the up-front check)
	// and loopback afterwards (the dial): the dial must still be refused.
	// The public answer is only judged, never dialled.
	r := &fakeResolver{first: map[string][]string{"rebind.test": {"93.184.215.14"}}, then: map[string][]string{"rebind.test": {"127.0.0.1"}}}
	d := &Dialer{policy: p, resolver: r, timeout: 10 * time.Second}
	if _, err := d.resolve(t.Context(), "rebind.test"); err != nil {
		t.Fatalf("first resolution: %v", err)
	}
	_, err = d.DialContext(t.Context(), "tcp", net.JoinHostPort("rebind.test", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)))
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("dial after rebinding: %v, want ErrRefused", err)
	}
}

func TestControlHook(t *testing.T) {
	t.Parallel()
	p, _ := NewPolicy([]string{"127.0.0.1/32"})
	d := &Dialer{policy: p}
	for _, tt := range []struct {
		addr        string
		hostAllowed bool
		refused     bool
	}{
		{"127.0.0.1:80", false, false},
		{"127.0.0.2:80", false, true},
		{"[::1]:80", false, true},
		{"[::ffff:10.0.0.1]:80", false, true},
		{"169.254.169.254:80", false, true},
		{"169.254.169.254:80", true, false},
		{"garbage", false, true},
	} {
		err := d.control(tt.hostAllowed)("tcp", tt.addr, nil)
		if (err != nil) != tt.refused {
			t.Errorf("control(%v)(%s) = %v, want refused=%v", tt.hostAllowed, tt.addr, err, tt.refused)
		}
	}
}

func TestHostMatches(t *testing.T) {
	t.Parallel()
	patterns := []string{"api.example.com", "*.corp.example", "Upper.Example."}
	for host, want := range map[string]bool{
		"api.example.com": true, "API.example.com.": true, "x.corp.example": true, "a.b.corp.example": true,
		"upper.example": true, "corp.example": false, "evilcorp.example": false, "example.com": false, "": false,
	} {
		if got := HostMatches(patterns, host); got != want {
			t.Errorf("HostMatches(%q) = %v, want %v", host, got, want)
		}
	}
}
