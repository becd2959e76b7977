package config

import (
	"strings"
	"testing"
)

// TestRedactKeywordValue checks libpq's keyword/value form.
func TestRedactKeywordValue(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"host=db password=s3cret dbname=x", "host=db password='s3 cret'", "user=u PASSWORD = s3cret"} {
		if got := Redact(in); strings.Contains(got, "s3") {
			t.Errorf("Redact(%q) = %q leaks the password", in, got)
		}
	}
}

// TestRedactSchemelessUserinfo is the case FuzzDatabaseURL found.
func TestRedactSchemelessUserinfo(t *testing.T) {
	t.Parallel()
	if got := Redact("app:S3cretPassw0rd@db/intake"); strings.Contains(got, "S3cret") {
		t.Errorf("Redact = %q leaks the password", got)
	}
}
