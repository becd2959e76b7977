package azureblob

import (
	"regexp"
	"strings"
	"testing"
)

// secretPosition matches forms whose %s is where a secret goes: an
// account key, a SAS signature or a URL's userinfo.
var secretPosition = regexp.MustCompile(`(?i)(accountkey\s*=\s*%s|sig=%s|sharedaccesssignature=[^;]*%s|://%s@)`)

// FuzzParseURL feeds arbitrary azblob:// URLs and connection strings to the
// parser with a key of the fuzzer's choosing: it never panics, and neither
// its error nor the parsed config's String repeats the key.
func FuzzParseURL(f *testing.F) {
	f.Add("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=%s;EndpointSuffix=core.windows.net", "c2VjcmV0a2V5dmFsdWU=")
	f.Add("UseDevelopmentStorage=true;AccountKey=%s", "c2VjcmV0a2V5dmFsdWU=")
	f.Add("BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;SharedAccessSignature=sv=2020&sig=%s", "c2VjcmV0a2V5dmFsdWU")
	f.Add("azblob://acct.blob.core.windows.net/container?sv=2020&sig=%s", "c2VjcmV0a2V5dmFsdWU")
	f.Add("azblob://%s@host/c", "c2VjcmV0a2V5dmFsdWU")
	f.Add("AccountName=a;AccountKey=%s;BlobEndpoint=ftp://x", "c2VjcmV0a2V5dmFsdWU=")
	f.Fuzz(func(t *testing.T, form, key string) {
		if len(key) < 12 || strings.ContainsAny(key, ";&?=%@/ \t") || strings.Count(form, "%s") != 1 || !secretPosition.MatchString(form) {
			return // a key must be long, distinctive and where a secret goes
		}
		raw := strings.Replace(form, "%s", key, 1)
		// The key may also occur by chance elsewhere in the form: only
		// more occurrences than that are a leak.
		elsewhere := strings.Count(strings.Replace(form, "%s", "", 1), key)
		leaks := func(s string) bool { return strings.Count(s, key) > elsewhere }
		cfg, err := ParseURL(raw)
		if err != nil {
			if leaks(err.Error()) {
				t.Fatalf("ParseURL(%q) error repeats the key: %v", raw, err)
			}
			return
		}
		if s := cfg.String(); leaks(s) {
			t.Fatalf("ParseURL(%q).String() = %q repeats the key", raw, s)
		}
	})
}
