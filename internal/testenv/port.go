package testenv

import (
	"net"
	"strconv"
	"testing"
)

// ClosedPort returns a loopback address that resets every connection at
// once, as a host whose server died does. The port stays held until the
// test ends: a port that was merely closed could be taken by another
// test's server, which would then answer.
func ClosedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // close with RST
			}
			_ = c.Close()
		}
	}()
	return ln.Addr().String()
}

// FreePort returns a loopback TCP port that was free a moment ago, for a
// server the test starts.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}

// FreeAddr returns a loopback address ("127.0.0.1:port") whose port was
// free a moment ago, for a server the test starts.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}
