package azureblob_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/blob/azureblob"
	"github.com/intake-dev/intake/internal/redact"
)

// Secrets the tests plant in URLs and connection strings; no error or
// printed Config may contain them.
const (
	secretKey = "c2VjcmV0LWFjY291bnQta2V5LXRoYXQtbXVzdC1ub3QtbGVhaw==" // base64 of a made-up key
	secretSig = "s3cr3tSIGnature%2Bxyz%3D"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	devConn := "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1"
	tests := []struct {
		name     string
		raw      string
		want     azureblob.Config
		wantCode string
		wantMsg  string
	}{
		{
			name: "account with SAS",
			raw:  "azblob://acct.blob.core.windows.net/docs?sv=2024-11-04&sp=rwdl&sig=" + secretSig,
			want: azureblob.Config{ServiceURL: "https://acct.blob.core.windows.net/?sv=2024-11-04&sp=rwdl&sig=" + secretSig, Container: "docs", CreateContainer: true},
		},
		{
			name: "account with SAS, create off, trailing slash",
			raw:  "azblob://acct.blob.core.windows.net/docs/?create=false&sig=" + secretSig,
			want: azureblob.Config{ServiceURL: "https://acct.blob.core.windows.net/?sig=" + secretSig, Container: "docs"},
		},
		{
			name: "azurite endpoint uses the well-known key",
			raw:  "azblob://documents?endpoint=http://127.0.0.1:10000/devstoreaccount1",
			want: azureblob.Config{ConnectionString: devConn, Container: "documents", CreateContainer: true},
		},
		{
			name: "escaped endpoint with SAS",
			raw:  "azblob://documents?endpoint=http%3A%2F%2F127.0.0.1%3A10001%2Fother&create=0&sig=" + secretSig,
			want: azureblob.Config{ServiceURL: "http://127.0.0.1:10001/other/?sig=" + secretSig, Container: "documents"},
		},
		{
			name: "container only: credentials come from elsewhere",
			raw:  "azblob://my-docs",
			want: azureblob.Config{Container: "my-docs", CreateContainer: true},
		},
		{
			name: "connection string",
			raw:  "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + secretKey + ";EndpointSuffix=core.windows.net",
			want: azureblob.Config{ConnectionString: "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + secretKey + ";EndpointSuffix=core.windows.net", Container: "documents", CreateContainer: true},
		},
		{
			name: "development storage shortcut",
			raw:  "UseDevelopmentStorage=true",
			want: azureblob.Config{ConnectionString: "UseDevelopmentStorage=true", Container: "documents", CreateContainer: true},
		},
		{name: "account without SAS", raw: "azblob://acct.blob.core.windows.net/docs", wantCode: intake.EINVALID, wantMsg: "needs a SAS token"},
		{name: "SAS without account", raw: "azblob://docs?sig=" + secretSig, wantCode: intake.EINVALID, wantMsg: "a SAS needs an account"},
		{name: "foreign endpoint without SAS", raw: "azblob://docs?endpoint=https://blob.example.test/acct", wantCode: intake.EINVALID, wantMsg: "needs a SAS token"},
		{name: "endpoint and host", raw: "azblob://acct.blob.core.windows.net/docs?endpoint=http://127.0.0.1:10000/devstoreaccount1&sig=x", wantCode: intake.EINVALID, wantMsg: "not both"},
		{name: "bad create", raw: "azblob://docs?create=maybe", wantCode: intake.EINVALID, wantMsg: "not a boolean"},
		{name: "bad container", raw: "azblob://Docs_1", wantCode: intake.EINVALID, wantMsg: "container name"},
		{name: "short container", raw: "azblob://ab", wantCode: intake.EINVALID, wantMsg: "container name"},
		{name: "user info in host", raw: "azblob://user:" + secretSig + "@acct.blob.core.windows.net/docs?sig=x", wantCode: intake.EINVALID, wantMsg: "needs a host"},
		{name: "connection string without key", raw: "DefaultEndpointsProtocol=https;AccountName=acct", wantCode: intake.EINVALID, wantMsg: "needs AccountKey or SharedAccessSignature"},
		{name: "connection string with a bad key", raw: "AccountName=acct;AccountKey=not*base64" + secretSig, wantCode: intake.EINVALID, wantMsg: "not valid base64"},
		{name: "connection string with a bad endpoint", raw: "BlobEndpoint=ftp://x;SharedAccessSignature=sig=" + secretSig, wantCode: intake.EINVALID, wantMsg: "http(s) URL"},
		{name: "connection string with a stray field", raw: "AccountName=acct;AccountKey=" + secretKey + ";garbage", wantCode: intake.EINVALID, wantMsg: "not name=value"},
		{name: "other scheme", raw: "s3://bucket?key=" + secretSig, wantCode: intake.EINVALID, wantMsg: "want azblob://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := azureblob.ParseURL(tt.raw)
			if tt.wantCode != "" {
				if code := intake.ErrorCode(err); code != tt.wantCode || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("ParseURL error = %v (code %q), want %s containing %q", err, code, tt.wantCode, tt.wantMsg)
				}
				noSecret(t, err.Error())
				return
			}
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			// Compare field by field: Config's String redacts the secrets.
			if got.ConnectionString != tt.want.ConnectionString || got.ServiceURL != tt.want.ServiceURL ||
				got.Container != tt.want.Container || got.CreateContainer != tt.want.CreateContainer {
				t.Errorf("ParseURL =\n  conn=%q url=%q container=%q create=%t\nwant\n  conn=%q url=%q container=%q create=%t",
					got.ConnectionString, got.ServiceURL, got.Container, got.CreateContainer,
					tt.want.ConnectionString, tt.want.ServiceURL, tt.want.Container, tt.want.CreateContainer)
			}
		})
	}
}

func TestConfigRedacts(t *testing.T) {
	t.Parallel()
	cfgs := []azureblob.Config{
		{ConnectionString: "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + secretKey + ";EndpointSuffix=core.windows.net", Container: "docs"},
		{ConnectionString: "BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=sv=1&sig=" + secretSig},
		{ServiceURL: "https://acct.blob.core.windows.net/?sv=1&sig=" + secretSig},
	}
	for i, cfg := range cfgs {
		var logged bytes.Buffer
		slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "cfg", cfg)
		for _, out := range []string{cfg.String(), fmt.Sprintf("%v|%+v|%#v|%s", cfg, cfg, cfg, cfg), logged.String()} {
			noSecret(t, out)
			if !strings.Contains(out, redact.Mask) {
				t.Errorf("config %d printed as %q, want %s in place of the secret", i, out, redact.Mask)
			}
		}
	}
}

// noSecret fails the test when s holds one of the planted secrets.
func noSecret(t *testing.T, s string) {
	t.Helper()
	for _, secret := range []string{secretKey, secretSig, "s3cr3tSIGnature"} {
		if strings.Contains(s, secret) {
			t.Errorf("%q leaks a secret", s)
		}
	}
}
