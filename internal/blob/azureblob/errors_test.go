package azureblob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/intake-dev/intake"
)

const leakySAS = "sv=2024-11-04&sig=TOPSECRETsignature%2B%3D"

// responseErr builds the *azcore.ResponseError the SDK returns for an HTTP
// response with the given status and x-ms-error-code, with a body that
// quotes the request's SAS (as a misbehaving proxy might).
func responseErr(status int, code string) error {
	return responseErrBody(status, code, "<Error><Message>bad request to ?"+leakySAS+"</Message></Error>")
}

func responseErrBody(status int, code, body string) error {
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPut,
		"https://acct.blob.core.windows.net/docs/jobs/x?"+leakySAS, nil)
	h := http.Header{}
	if code != "" {
		h.Set("x-ms-error-code", code)
	}
	return runtime.NewResponseError(&http.Response{
		StatusCode: status,
		Status:     fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Header:     h,
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    req,
	})
}

func TestClassify(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	transport := &url.Error{Op: "Put", URL: "https://acct.blob.core.windows.net/docs/k?" + leakySAS, Err: syscall.ECONNREFUSED}
	tests := []struct {
		name     string
		ctx      context.Context
		err      error
		wantCode string
		wantMsg  string
	}{
		{"blob not found", context.Background(), responseErr(404, string(bloberror.BlobNotFound)), intake.ENOTFOUND, "not found"},
		{"container not found", context.Background(), responseErr(404, string(bloberror.ContainerNotFound)), intake.ENOTFOUND, "not found"},
		{"bad key", context.Background(), responseErr(403, string(bloberror.AuthenticationFailed)), intake.EUNAVAILABLE, "refused the credentials (HTTP 403 AuthenticationFailed)"},
		{"SAS without permission", context.Background(), responseErr(403, string(bloberror.AuthorizationPermissionMismatch)), intake.EUNAVAILABLE, "check the account key, or the SAS"},
		{"server busy", context.Background(), responseErr(503, string(bloberror.ServerBusy)), intake.EUNAVAILABLE, "unavailable (HTTP 503 ServerBusy)"},
		{"internal error", context.Background(), responseErr(500, string(bloberror.InternalError)), intake.EUNAVAILABLE, "unavailable"},
		{"throttled", context.Background(), responseErr(429, ""), intake.EUNAVAILABLE, "unavailable"},
		{"container being deleted", context.Background(), responseErr(409, string(bloberror.ContainerBeingDeleted)), intake.EUNAVAILABLE, "unavailable"},
		{"blob changed", context.Background(), responseErr(412, string(bloberror.ConditionNotMet)), intake.ECONFLICT, "conflicting change"},
		{"other bad header", context.Background(), responseErr(400, "InvalidHeaderValue"), intake.EINTERNAL, "rejected the request (HTTP 400 InvalidHeaderValue)"},
		{"unsupported API version", context.Background(), responseErrBody(400, "InvalidHeaderValue",
			"<Error><Code>InvalidHeaderValue</Code><Message>The API version 2026-12-06 is not supported by Azurite.</Message></Error>"),
			intake.EUNAVAILABLE, "API version 2026-12-06 (Azurite: start it with --skipApiVersionCheck"},
		{"connection refused", context.Background(), transport, intake.EUNAVAILABLE, "unreachable"},
		{"DNS", context.Background(), &url.Error{Op: "Get", URL: "https://nope.invalid/?" + leakySAS, Err: &net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}}, intake.EUNAVAILABLE, "unreachable"},
		{"try timed out, caller still waiting", context.Background(), &url.Error{Op: "Put", URL: "https://x/?" + leakySAS, Err: context.DeadlineExceeded}, intake.EUNAVAILABLE, "unreachable"},
		{"caller cancelled", cancelled, &url.Error{Op: "Put", URL: "https://x/?" + leakySAS, Err: context.Canceled}, intake.EINTERNAL, "op"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := classify(tt.ctx, tt.err, "op %q", "k")
			if code := intake.ErrorCode(err); code != tt.wantCode || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("classify = %v (code %q), want %s containing %q", err, code, tt.wantCode, tt.wantMsg)
			}
			if strings.Contains(err.Error(), "TOPSECRET") {
				t.Errorf("classify = %q: leaks the SAS", err)
			}
			if !errors.Is(err, tt.err) && !errors.Is(err, errors.Unwrap(tt.err)) {
				t.Errorf("classify = %v: lost the cause", err)
			}
			if tt.ctx.Err() != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("classify = %v, want context.Canceled in the chain", err)
			}
		})
	}
}

func TestSanitizeKeepsCode(t *testing.T) {
	t.Parallel()
	err := sanitize(responseErr(404, string(bloberror.BlobNotFound)))
	if !bloberror.HasCode(err, bloberror.BlobNotFound) {
		t.Errorf("sanitize(%v) lost the error code", err)
	}
	if want := "azure blob storage: PUT /docs/jobs/x: HTTP 404 BlobNotFound"; err.Error() != want {
		t.Errorf("sanitize = %q, want %q", err, want)
	}
}
