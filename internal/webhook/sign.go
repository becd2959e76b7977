package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a message's timestamp may be from the verifier's
// clock, either way.
const Tolerance = 5 * time.Minute

// secretPrefix marks a base64 secret, as the Standard Webhooks libraries
// generate them.
const secretPrefix = "whsec_"

// Errors of Verify.
var (
	ErrNoSignature    = errors.New("webhook: no valid signature")
	ErrBadTimestamp   = errors.New("webhook: timestamp missing or malformed")
	ErrTimestampRange = errors.New("webhook: timestamp outside the tolerance")
)

// Key returns the signing key of a secret: the base64-decoded rest of a
// "whsec_" secret, else the secret's bytes.
func Key(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return []byte(secret), nil
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: whsec_ secrets are base64: %w", err)
	}
	return key, nil
}

// Sign returns the webhook-signature value of a message: "v1," and the
// base64 HMAC-SHA256 under key of id, the Unix timestamp and the body,
// joined by dots.
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ts.Unix(), body))
}

func mac(key []byte, id string, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write([]byte(strconv.FormatInt(unix, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// SetHeaders sets the three Standard Webhooks headers on h; without a key
// (unsigned deliveries) it sets no signature.
func SetHeaders(h http.Header, key []byte, id string, ts time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	if key != nil {
		h.Set(HeaderSignature, Sign(key, id, ts, body))
	}
}

// Verify checks a received message as a Standard Webhooks receiver does:
// its timestamp is within Tolerance of now, and one of the space-separated
// v1 signatures of webhook-signature matches, compared in constant time.
func Verify(key []byte, h http.Header, body []byte, now time.Time) error {
	id := h.Get(HeaderID)
	unix, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil || id == "" {
		return ErrBadTimestamp
	}
	if d := now.Sub(time.Unix(unix, 0)); d > Tolerance || d < -Tolerance {
		return ErrTimestampRange
	}
	want := mac(key, id, unix, body)
	for sig := range strings.FieldsSeq(h.Get(HeaderSignature)) {
		v, b64, ok := strings.Cut(sig, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrNoSignature
}
