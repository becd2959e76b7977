package store

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/redact"
)

// passwordPosition matches forms whose %s is where a password goes: after
// a password keyword, in a URL's userinfo, or alone (a bare password in
// the wrong variable).
var passwordPosition = regexp.MustCompile(`(?i)(pass\w*\s*=\s*'?%s|:%s@|^%s$)`)

// FuzzDatabaseURL feeds arbitrary database URLs, libpq keyword/value
// strings included, with a password of the fuzzer's choosing: parse never
// panics, and neither its error nor the redacted URL repeats the password.
func FuzzDatabaseURL(f *testing.F) {
	for _, form := range []string{
		"postgres://app:%s@db:5432/intake", "postgres://u@db/intake?password=%s&sslmode=require",
		"host=db password=%s dbname=x", "host=db password='%s' dbname=x", "mongodb+srv://u:%s@cluster0.example.net/x",
		"sqlite://./data/%s.db", "app:%s@db/intake", "PASSWORD = %s", "oracle://u:%s@x", "%s",
	} {
		f.Add(form, "S3cretPassw0rd")
	}
	f.Fuzz(func(t *testing.T, form, pw string) {
		if len(pw) < 8 || strings.ContainsAny(pw, "@:/?#&=;'%\\") || strings.IndexFunc(pw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 ||
			strings.Count(form, "%s") != 1 || strings.HasPrefix(form, "sqlite") {
			return
		}
		if !passwordPosition.MatchString(form) {
			return // the password is not where a password goes
		}
		raw := strings.Replace(form, "%s", pw, 1)
		// The password may also occur by chance in the rest of the form
		// (a host of zeros): only more occurrences than that are a leak.
		elsewhere := strings.Count(strings.Replace(form, "%s", "", 1), pw)
		leaks := func(s string) bool { return strings.Count(s, pw) > elsewhere }
		if _, _, err := parse(raw); err != nil && leaks(err.Error()) {
			t.Fatalf("parse(%q) error repeats the password: %v", raw, err)
		}
		if r := redact.String(raw); leaks(r) {
			t.Fatalf("redact.String(%q) = %q", raw, r)
		}
	})
}

// FuzzDecodeCursor feeds arbitrary list cursors: each decodes to a valid
// job ID or is an EINVALID error, and the ID round-trips through a cursor.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(intake.NewID())))
	for _, s := range []string{"", "AAAA", "====", "%00", "MDFhMjMxN2EtOWUyZi03ODM4LTgxNzctZWMwZDdiMGMwMzAz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, c string) {
		id, err := decodeCursor(c)
		if err != nil {
			if intake.ErrorCode(err) != intake.EINVALID {
				t.Fatalf("decodeCursor(%q): %v, want EINVALID", c, err)
			}
			return
		}
		// The decoder skips line breaks, so only the ID round-trips.
		again, err := decodeCursor(base64.RawURLEncoding.EncodeToString([]byte(id)))
		if !intake.ValidID(id) || err != nil || again != id {
			t.Fatalf("decodeCursor(%q) = %q, which does not round-trip (%q, %v)", c, id, again, err)
		}
	})
}
