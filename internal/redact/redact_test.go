package redact

import (
	"errors"
	"io/fs"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// TestString is the one table of what counts as a secret, for every form
// intake logs: URLs, libpq keyword/value DSNs, connection strings, SAS and
// query tokens, and strings that are none of these.
func TestString(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", ""},
		{"url password", "postgres://app:s3cret@db:5432/intake", "postgres://app:xxxxx@db:5432/intake"},
		{"url user only", "postgres://app@db/intake", "postgres://app@db/intake"},
		{"url no secret", "sqlite://./data/intake.db", "sqlite://./data/intake.db"},
		{"url query password", "postgres://u@db/x?password=s3cret&sslmode=require", "postgres://u@db/x?password=xxxxx&sslmode=require"},
		{"url password with @", "mongodb+srv://u:s3cret@ss@cluster0.example.net/x", "mongodb+srv://u:xxxxx@cluster0.example.net/x"},
		{"url password with /", "postgres://u:s3cret/ss@db/intake", "postgres://u:xxxxx@db/intake"},
		{"url password escaped", "postgres://u:s3cret%40ss@db/intake?sslmode=disable", "postgres://u:xxxxx@db/intake?sslmode=disable"},
		{"url @ in query", "postgres://db/intake?x=a@b&Password=s3cret", "postgres://db/intake?x=a@b&Password=xxxxx"},
		{"mongodb srv", "mongodb+srv://u:s3cret@cluster0.example.net/x?authSource=admin", "mongodb+srv://u:xxxxx@cluster0.example.net/x?authSource=admin"},
		{"mongodb mechanism properties", "mongodb://h/x?authMechanismProperties=AWS_SESSION_TOKEN:s3cret", "mongodb://h/x?authMechanismProperties=xxxxx"},
		{"redis password only", "redis://:s3cret@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"sas token", "https://acct.blob.core.windows.net/c?sv=2024-01-01&sig=s3cret%3D&se=2030", "https://acct.blob.core.windows.net/c?sv=2024-01-01&sig=xxxxx&se=2030"},
		{"api token in query", "http://127.0.0.1/x?access_token=s3cret&page=2", "http://127.0.0.1/x?access_token=xxxxx&page=2"},
		{"api key in query", "http://127.0.0.1/x?apikey=s3cret", "http://127.0.0.1/x?apikey=xxxxx"},
		{"keyword before query", "a://password=s3cret", "a://password=xxxxx"},
		{"userinfo with path chars", "a://0#:s3cret@h", "a://xxxxx:xxxxx@h"},
		{"keyword/value", "host=db password=s3cret dbname=x", "host=db password=xxxxx dbname=x"},
		{"keyword/value quoted", "host=db password='s3cret with \\' quote' dbname=x", "host=db password=xxxxx dbname=x"},
		{"keyword/value unclosed", "host=db password='s3cret unclosed", "host=db password=xxxxx"},
		{"keyword/value spaced", "PASSWORD = s3cret host=db", "PASSWORD=xxxxx host=db"},
		{"keyword/value ssl", "host=db sslpassword=s3cret sslkey=/k", "host=db sslpassword=xxxxx sslkey=xxxxx"},
		{"keyword/value clean", "host=db dbname=x", "host=db dbname=x"},
		{"azure connection string", "DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=s3cret==;BlobEndpoint=http://127.0.0.1:10000/dev;",
			"DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=xxxxx;BlobEndpoint=http://127.0.0.1:10000/dev;"},
		{"azure sas connection string", "BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=1&sig=s3cret",
			"BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=xxxxx"},
		{"odbc pwd", "Server=db;Uid=app;Pwd=s3cret;", "Server=db;Uid=app;Pwd=xxxxx;"},
		{"connection string stray field", "AccountName=a;s3cret", "AccountName=a;xxxxx"},
		{"schemeless userinfo", "app:s3cret@db/intake", "xxxxx@db/intake"},
		{"bare password", "s3cret", "xxxxx"},
		{"path", "./data/intake.db", "./data/intake.db"},
		{"path with query", "./x?token=s3cret", "./x?token=xxxxx"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := String(tt.in)
			if got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if strings.Contains(got, "s3cret") {
				t.Errorf("String(%q) = %q leaks the secret", tt.in, got)
			}
		})
	}
}

// TestLocation checks that only scheme, host and path survive.
func TestLocation(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"https://u:s3cret@127.0.0.1:8443/v1/items?k=s3cret#frag", "https://127.0.0.1:8443/v1/items"},
		{"http://127.0.0.1/a%2Fb", "http://127.0.0.1/a%2Fb"},
		{"https://acct.blob.core.windows.net/c/blob?sig=s3cret", "https://acct.blob.core.windows.net/c/blob"},
		{"http://[::1", "(malformed URL)"},
	} {
		if got := Location(tt.in); got != tt.want {
			t.Errorf("Location(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestError checks that an error's text loses the secrets of its source
// and still unwraps to the original.
func TestError(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, source, text, want string
	}{
		{"userinfo", "postgres://app:s3cr%40t@db/x", "dial app:s3cr@t@db failed, tried s3cr%40t", "dial app:xxxxx@db failed, tried xxxxx"},
		{"query", "mongodb://h/x?password=s3cret&w=1", "auth failed for s3cret", "auth failed for xxxxx"},
		{"keyword/value", "host=db password='s3cret'", "bad password s3cret", "bad password xxxxx"},
		{"connection string", "AccountName=a;AccountKey=s3cretkey==;", "key s3cretkey== rejected", "key xxxxx rejected"},
		{"percent-encoded", "mongodb://intake:pa%24%24word@db/x", "auth as intake with pa$$word", "auth as intake with xxxxx"},
		{"mongodb options", "mongodb://h/?tlsCertificateKeyFilePassword=abc1&authMechanismProperties=AWS_SESSION_TOKEN:tok1",
			"key abc1, properties AWS_SESSION_TOKEN:tok1", "key xxxxx, properties xxxxx"},
		{"short secret kept", "postgres://a:pw@db/x", "pw is wrong", "pw is wrong"},
		{"nested secret", "postgres://u:abcabcdef@h/x?password=abc1", "abcabcdef and abc1", "xxxxx and xxxxx"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			base := errors.New(tt.text)
			err := Error(base, tt.source)
			if err.Error() != tt.want {
				t.Errorf("Error() = %q, want %q", err.Error(), tt.want)
			}
			if !errors.Is(err, base) {
				t.Errorf("Error(...) does not unwrap to the original")
			}
		})
	}
	if Error(nil, "postgres://a:s3cret@h") != nil {
		t.Error("Error(nil) != nil")
	}
	if err := Error(fs.ErrNotExist, "postgres://a:s3cret@h"); err != fs.ErrNotExist { //nolint:errorlint // the very error, not one wrapping it
		t.Errorf("an error without secrets was wrapped: %#v", err)
	}
}

// passwordPosition matches forms whose %s is where a password goes: after
// a password keyword, in a URL's userinfo, or alone (a bare password in
// the wrong variable).
var passwordPosition = regexp.MustCompile(`(?i)(pass\w*\s*=\s*'?%s|:%s@|^%s$)`)

// FuzzString feeds arbitrary URLs, DSNs and connection strings with a
// password of the fuzzer's choosing: String never repeats the password.
func FuzzString(f *testing.F) {
	for _, form := range []string{
		"postgres://app:%s@db:5432/intake", "postgres://u@db/intake?password=%s&sslmode=require",
		"host=db password=%s dbname=x", "host=db password='%s' dbname=x", "mongodb+srv://u:%s@cluster0.example.net/x",
		"app:%s@db/intake", "PASSWORD = %s", "oracle://u:%s@x", "%s", "AccountName=a;Password=%s;",
	} {
		f.Add(form, "S3cretPassw0rd")
	}
	f.Fuzz(func(t *testing.T, form, pw string) {
		if len(pw) < 8 || strings.ContainsAny(pw, "@:/?#&=;'%\\") || strings.IndexFunc(pw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 ||
			strings.Count(form, "%s") != 1 || !passwordPosition.MatchString(form) {
			return
		}
		raw := strings.Replace(form, "%s", pw, 1)
		// The password may also occur by chance in the rest of the form: only
		// more occurrences than that are a leak.
		elsewhere := strings.Count(strings.Replace(form, "%s", "", 1), pw)
		if r := String(raw); strings.Count(r, pw) > elsewhere {
			t.Fatalf("String(%q) = %q", raw, r)
		}
	})
}
