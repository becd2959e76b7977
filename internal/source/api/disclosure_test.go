package api

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/intake-dev/intake/internal/testenv"
)

// serverResolver fails every lookup the way a real resolver does: naming
// the DNS server it asked.
type serverResolver struct{}

func (serverResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: host, Server: "10.96.0.10:53", IsNotFound: true}
}

// TestErrorsDoNotDiscloseResolution collects from hosts that resolve to
// refused addresses, do not resolve, or refuse the connection: the job's
// error says what happened without the addresses a name resolved to or
// the resolver's address; the log keeps the detail for the operator.
func TestErrorsDoNotDiscloseResolution(t *testing.T) {
	t.Parallel()
	closedPort := testenv.FreePort(t) // nothing listens: connections are refused
	for _, tt := range []struct {
		name     string
		mod      func(*Options)
		url      string
		want     string
		secret   []string
		inTheLog string
	}{
		{"internal name", func(o *Options) {
			o.Allow = nil
			o.Resolver = &fakeResolver{then: map[string][]string{"internal.test": {"::ffff:127.0.0.1"}}}
		}, "http://internal.test/", "refused by the egress policy", []string{"127.0", "::ffff", "special-purpose"}, "special-purpose block"},
		{"private name", func(o *Options) {
			o.Allow = nil
			o.Resolver = &fakeResolver{then: map[string][]string{"db.test": {"10.1.2.3"}}}
		}, "http://db.test/", "refused by the egress policy", []string{"10.1.2.3", "10.0.0.0/8"}, "10.1.2.3"},
		{"unresolvable", func(o *Options) { o.Resolver = serverResolver{} },
			"http://gone.test/", "could not be resolved", []string{"10.96.0.10"}, "10.96.0.10"},
		{"connection refused", nil,
			"http://a.test:" + itoa(closedPort) + "/", "connection refused", []string{"127.0.0.1"}, "127.0.0.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t, func(o *Options) {
				o.MaxAttempts = 1
				if tt.mod != nil {
					tt.mod(o)
				}
			})
			cfg, _ := json.Marshal(map[string]any{"url": tt.url})
			ctx := t.Context()
			if err := b.src.Validate(ctx, cfg); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			_, cp, err := b.src.Plan(ctx, cfg)
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			_, err = b.src.Next(ctx, cfg, 1, cp)
			if err == nil {
				t.Fatal("Next succeeded")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q, want it to say %q", msg, tt.want)
			}
			for _, s := range tt.secret {
				if strings.Contains(msg, s) {
					t.Errorf("error %q discloses %q", msg, s)
				}
			}
			if !strings.Contains(b.logs.String(), tt.inTheLog) {
				t.Errorf("the log lacks the detail %q:\n%s", tt.inTheLog, b.logs.String())
			}
		})
	}
}
