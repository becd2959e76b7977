package webhook

import (
	"strings"
	"testing"
	"time"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/egress"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	base, maxWait := 5*time.Second, time.Hour
	none := func(int64) int64 { return 0 }
	all := func(n int64) int64 { return n - 1 }
	tests := []struct {
		attempts int
		nominal  time.Duration
	}{
		{0, 5 * time.Second}, {1, 10 * time.Second}, {2, 20 * time.Second}, {9, 2560 * time.Second},
		{10, time.Hour}, {14, time.Hour}, {63, time.Hour}, {1000, time.Hour},
	}
	for _, tt := range tests {
		if got := Backoff(base, maxWait, tt.attempts, none); got != tt.nominal {
			t.Errorf("Backoff(%d) without jitter = %s, want %s", tt.attempts, got, tt.nominal)
		}
		if got := Backoff(base, maxWait, tt.attempts, all); got != tt.nominal-tt.nominal/2 {
			t.Errorf("Backoff(%d) with the most jitter = %s, want %s", tt.attempts, got, tt.nominal-tt.nominal/2)
		}
	}
	d := &Deliverer{cfg: Config{BackoffBase: base, BackoffMax: maxWait}}
	for range 100 {
		if got := d.backoff(3); got < 20*time.Second || got > 40*time.Second {
			t.Fatalf("backoff(3) = %s, want within [20s, 40s]", got)
		}
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	def, _ := egress.NewPolicy(nil)
	local, _ := egress.NewPolicy([]string{"127.0.0.1"})
	tests := []struct {
		policy *egress.Policy
		url    string
		bad    string
	}{
		{def, "https://hooks.example.com/intake?token=x#frag", ""},
		{def, "http://8.8.8.8:8080/h", ""},
		{def, "http://127.0.0.1:9/h", "refused by the egress policy"},
		{local, "http://127.0.0.1:9/h", ""},
		{local, "http://[::1]:9/h", "refused by the egress policy"},
		{def, "http://169.254.169.254/latest", "refused by the egress policy"},
		{def, "http://2130706433/", "refused by the egress policy"},
		{def, "ftp://hooks.example.com/", "http or https"},
		{def, "https://user:pw@hooks.example.com/", "credentials"},
		{def, "/relative", "http or https"},
		{def, "https://hooks.example.com:99999/", "invalid port"},
		{def, "https://hooks.example.com/a b", "absolute http or https"},
	}
	for _, tt := range tests {
		u, err := CheckURL(tt.policy, tt.url)
		switch {
		case tt.bad == "" && err != nil:
			t.Errorf("CheckURL(%s) = %v, want ok", tt.url, err)
		case tt.bad == "" && u.Fragment != "":
			t.Errorf("CheckURL(%s) kept the fragment", tt.url)
		case tt.bad != "" && (err == nil || !strings.Contains(err.Error(), tt.bad)):
			t.Errorf("CheckURL(%s) = %v, want an error saying %q", tt.url, err, tt.bad)
		}
	}
}

func TestKeyLookup(t *testing.T) {
	t.Parallel()
	secrets := map[string]Secret{"HOOK": {Value: "whsec_aGVsbG8=", Hosts: []string{"hooks.example.com", "*.corp.example"}}, "BAD": {Value: "whsec_!", Hosts: []string{"x.example"}}}
	d := &Deliverer{secrets: secrets}
	open := &Deliverer{secrets: secrets, cfg: Config{AllowUnsigned: true}}
	tests := []struct {
		d      *Deliverer
		secret string
		host   string
		key    string
		bad    string
	}{
		{d, "hook", "hooks.example.com", "hello", ""},
		{d, "HOOK", "a.corp.example", "hello", ""},
		{d, "HOOK", "evil.example", "", "may not sign requests to evil.example"},
		{d, "OTHER", "hooks.example.com", "", "INTAKE_SECRET_OTHER"},
		{d, "BAD", "x.example", "", "base64"},
		{d, "", "hooks.example.com", "", "INTAKE_WEBHOOK_ALLOW_UNSIGNED"},
		{open, "", "hooks.example.com", "", ""},
	}
	for _, tt := range tests {
		key, err := tt.d.key(&intake.Notify{Secret: tt.secret}, tt.host)
		if tt.bad == "" {
			if err != nil || string(key) != tt.key {
				t.Errorf("key(%q, %s) = %q, %v; want %q", tt.secret, tt.host, key, err, tt.key)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.bad) {
			t.Errorf("key(%q, %s) = %v, want an error saying %q", tt.secret, tt.host, err, tt.bad)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	p, _ := egress.NewPolicy(nil)
	c, err := Config{Policy: p}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Timeout != DefaultTimeout || c.MaxAttempts != DefaultMaxAttempts || c.ClaimTTL != DefaultClaimTTL || c.BackoffBase != 5*time.Second || c.BackoffMax != time.Hour {
		t.Fatalf("defaults = %+v", c)
	}
	for _, bad := range []Config{{}, {Policy: p, MaxAttempts: -1}, {Policy: p, BackoffBase: time.Hour, BackoffMax: time.Minute}, {Policy: p, Batch: intake.MaxPageSize + 1}} {
		if _, err := bad.withDefaults(); intake.ErrorCode(err) != intake.EINVALID {
			t.Errorf("withDefaults(%+v) = %v, want EINVALID", bad, err)
		}
	}
}
