package store

import (
	"strings"
	"testing"
)

// TestRedactKeywordValue checks libpq's keyword/value form, which a
// misconfigured INTAKE_DATABASE_URL may hold.
func TestRedactKeywordValue(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"host=db password=s3cret dbname=x", "host=db password=xxxxx dbname=x"},
		{"host=db password='s3cret with \\' quote' dbname=x", "host=db password=xxxxx dbname=x"},
		{"host=db password='s3cret unclosed", "host=db password=xxxxx"},
		{"PASSWORD = s3cret host=db", "PASSWORD=xxxxx host=db"},
		{"host=db sslpassword=s3cret sslkey=/k", "host=db sslpassword=xxxxx sslkey=xxxxx"},
		{"host=db dbname=x", "host=db dbname=x"},
	} {
		got := Redact(tt.in)
		if got != tt.want || strings.Contains(got, "s3cret") {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
