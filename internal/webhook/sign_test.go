package webhook

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// The example of the Standard Webhooks specification's test vectors.
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specUnix   = 1614265330
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignSpecVector(t *testing.T) {
	t.Parallel()
	key, err := Key(specSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := Sign(key, specID, time.Unix(specUnix, 0), []byte(specBody)); got != specSig {
		t.Fatalf("Sign = %s, want %s", got, specSig)
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		secret string
		want   string
		bad    bool
	}{
		{"whsec_aGVsbG8=", "hello", false},
		{"raw-secret", "raw-secret", false},
		{"whsec_not base64!", "", true},
	} {
		got, err := Key(tt.secret)
		if (err != nil) != tt.bad || string(got) != tt.want {
			t.Errorf("Key(%q) = %q, %v; want %q, bad=%v", tt.secret, got, err, tt.want, tt.bad)
		}
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	key, _ := Key(specSecret)
	at := time.Unix(specUnix, 0)
	headers := func(sig string, unix string) http.Header {
		h := http.Header{}
		h.Set(HeaderID, specID)
		h.Set(HeaderTimestamp, unix)
		h.Set(HeaderSignature, sig)
		return h
	}
	const ts = "1614265330"
	tests := []struct {
		name string
		h    http.Header
		body string
		now  time.Time
		want error
	}{
		{"spec vector", headers(specSig, ts), specBody, at, nil},
		{"one of several signatures", headers("v1,Zm9v v1a,xyz "+specSig, ts), specBody, at, nil},
		{"within tolerance after", headers(specSig, ts), specBody, at.Add(Tolerance), nil},
		{"within tolerance before", headers(specSig, ts), specBody, at.Add(-Tolerance), nil},
		{"too old", headers(specSig, ts), specBody, at.Add(Tolerance + time.Second), ErrTimestampRange},
		{"from the future", headers(specSig, ts), specBody, at.Add(-Tolerance - time.Second), ErrTimestampRange},
		{"body changed", headers(specSig, ts), `{"test": 2432232315}`, at, ErrNoSignature},
		{"timestamp changed", headers(specSig, "1614265331"), specBody, at, ErrNoSignature},
		{"other scheme", headers("v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", ts), specBody, at, ErrNoSignature},
		{"no signature", headers("", ts), specBody, at, ErrNoSignature},
		{"malformed timestamp", headers(specSig, "soon"), specBody, at, ErrBadTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := Verify(key, tt.h, []byte(tt.body), tt.now); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSetHeadersRoundTrip(t *testing.T) {
	t.Parallel()
	key := []byte("raw key")
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"type":"job.completed"}`)
	h := http.Header{}
	SetHeaders(h, key, "msg_1", at, body)
	if err := Verify(key, h, body, at); err != nil {
		t.Fatalf("Verify of SetHeaders = %v", err)
	}
	if err := Verify([]byte("other key"), h, body, at); !errors.Is(err, ErrNoSignature) {
		t.Fatalf("Verify with another key = %v, want ErrNoSignature", err)
	}
	unsigned := http.Header{}
	SetHeaders(unsigned, nil, "msg_1", at, body)
	if unsigned.Get(HeaderSignature) != "" || unsigned.Get(HeaderID) != "msg_1" {
		t.Fatalf("unsigned headers = %v", unsigned)
	}
}
