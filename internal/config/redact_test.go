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
