package azureblob

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/intake-dev/intake"
	"github.com/intake-dev/intake/internal/redact"
)

// classify wraps an error of the Azure SDK with the domain code that fits
// it and a message built from format and args:
//
//   - the caller's context ended: no code, the context's error wrapped;
//   - 404 (BlobNotFound, ContainerNotFound, …): ENOTFOUND;
//   - 401 and 403: EUNAVAILABLE, a configuration problem (wrong key, an
//     expired SAS or one without the permission) that an operator fixes;
//   - 408, 429, 5xx and ContainerBeingDeleted: EUNAVAILABLE;
//   - 400 InvalidHeaderValue for the API version (an emulator older than
//     the SDK, Azurite without --skipApiVersionCheck): EUNAVAILABLE;
//   - 409 and 412 (the blob changed under a conditional request): ECONFLICT;
//   - other responses: EINTERNAL, with Azure's error code in the message;
//   - no response at all (connection refused or reset, DNS, TLS, a try
//     that timed out): EUNAVAILABLE.
//
// The cause is sanitized: no response body, no request query (a SAS).
func classify(ctx context.Context, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	clean := sanitize(err)
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return fmt.Errorf("%s: %w", msg, clean)
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return intake.WrapError(intake.EUNAVAILABLE, clean, "%s: Azure Blob Storage is unreachable", msg)
	}
	status := fmt.Sprintf("HTTP %d %s", re.StatusCode, re.ErrorCode)
	switch {
	case re.StatusCode == http.StatusNotFound:
		return intake.WrapError(intake.ENOTFOUND, clean, "%s: not found", msg)
	case re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden:
		return intake.WrapError(intake.EUNAVAILABLE, clean,
			"%s: Azure Blob Storage refused the credentials (%s): check the account key, or the SAS token's expiry and permissions", msg, status)
	case re.StatusCode == http.StatusRequestTimeout, re.StatusCode == http.StatusTooManyRequests,
		re.StatusCode >= 500, bloberror.HasCode(err, bloberror.ContainerBeingDeleted):
		return intake.WrapError(intake.EUNAVAILABLE, clean, "%s: Azure Blob Storage is unavailable (%s)", msg, status)
	case unsupportedVersion(re) != "":
		return intake.WrapError(intake.EUNAVAILABLE, clean,
			"%s: the server does not support the Azure Storage API version %s (Azurite: start it with --skipApiVersionCheck, or upgrade it)", msg, unsupportedVersion(re))
	case re.StatusCode == http.StatusConflict, re.StatusCode == http.StatusPreconditionFailed:
		return intake.WrapError(intake.ECONFLICT, clean, "%s: conflicting change (%s)", msg, status)
	default:
		return intake.WrapError(intake.EINTERNAL, clean, "%s: Azure Blob Storage rejected the request (%s)", msg, status)
	}
}

// apiVersionRE finds the refused version in the message of Azure's (and
// Azurite's) InvalidHeaderValue error for x-ms-version.
var apiVersionRE = regexp.MustCompile(`API version (\d{4}-\d{2}-\d{2})`)

// unsupportedVersion returns the API version that the server refused, when
// re is that refusal, and "" otherwise.
func unsupportedVersion(re *azcore.ResponseError) string {
	if re.ErrorCode != "InvalidHeaderValue" || re.RawResponse == nil {
		return ""
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil {
		return ""
	}
	if m := apiVersionRE.FindSubmatch(body); m != nil {
		return string(m[1])
	}
	return ""
}

// responseError is what remains of an *azcore.ResponseError once the
// parts that may hold a secret or a lot of text are dropped: the response
// body and the request's query (a SAS). It unwraps to the original, so
// bloberror.HasCode still works, but only prints the safe parts.
type responseError struct {
	method, path string
	status       int
	code         string
	err          *azcore.ResponseError
}

func (e *responseError) Error() string {
	return fmt.Sprintf("azure blob storage: %s %s: HTTP %d %s", e.method, e.path, e.status, e.code)
}

func (e *responseError) Unwrap() error { return e.err }

// sanitize returns err without the parts that may hold a secret: a
// response error becomes a responseError, and a *url.Error (a transport
// failure, whose message quotes the request URL and so the SAS) keeps only
// its URL's scheme, host and path (redact.Location). Other errors pass unchanged.
func sanitize(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		out := &responseError{status: re.StatusCode, code: re.ErrorCode, err: re}
		if re.RawResponse != nil && re.RawResponse.Request != nil {
			out.method = re.RawResponse.Request.Method
			out.path = re.RawResponse.Request.URL.EscapedPath()
		}
		return out
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: redact.Location(ue.URL), Err: ue.Err}
	}
	return err
}
