package api

import (
	"context"
	"net"
)

// fakeResolver answers from a table, never from DNS.
type fakeResolver struct {
	then map[string][]string
}

func (r *fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	answer, ok := r.then[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	out := make([]net.IPAddr, len(answer))
	for i, a := range answer {
		out[i] = net.IPAddr{IP: net.ParseIP(a)}
	}
	return out, nil
}
