package driver

import (
	"errors"
	"fmt"
	"time"

	"github.com/intake-dev/intake"
)

// Classifier is a driver's Classify: an error's intake code and, for
// EUNAVAILABLE, how long a retry should wait.
type Classifier func(err error) (code string, retryAfter time.Duration)

// Wrap describes err with the formatted message and gives it the intake
// error code that classify finds, so that every store's errors read and
// classify alike. An *intake.Error in err's chain keeps its code. An
// EUNAVAILABLE error says "job store unavailable" and carries a RetryAfter
// (DefaultRetryAfter when classify names none), which the API sends as
// Retry-After. Drivers use it for the errors of their Open; store.Store for
// everything else.
func Wrap(err error, classify Classifier, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	var ie *intake.Error
	if errors.As(err, &ie) {
		return fmt.Errorf("%s: %w", msg, err)
	}
	code, retryAfter := classify(err)
	switch code {
	case intake.EUNAVAILABLE:
		if retryAfter <= 0 {
			retryAfter = DefaultRetryAfter
		}
		return &intake.Error{Code: code, Message: msg + ": job store unavailable", Err: err, RetryAfter: retryAfter}
	case "":
		code = intake.EINTERNAL
	}
	return intake.WrapError(code, err, "%s", msg)
}
