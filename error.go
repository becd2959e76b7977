package intake

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Error codes shared by every layer. The HTTP edge maps each to one status;
// callers test codes with ErrorCode, never error strings.
const (
	ECONFLICT     = "conflict"     // the resource is not in a state that allows the operation
	EINTERNAL     = "internal"     // a bug or an unexpected failure; details only in logs
	EINVALID      = "invalid"      // the input is malformed or fails validation
	ENOTFOUND     = "not_found"    // the resource does not exist
	EUNAVAILABLE  = "unavailable"  // a dependency is down; retrying later may work
	EUNAUTHORIZED = "unauthorized" // the caller did not authenticate
	ELEASELOST    = "lease_lost"   // the caller's lease on a job is gone (expired, cancelled, or taken)
)

// Error is intake's application error: a code, a message safe to show to the
// caller, optional field errors, and the wrapped cause, which is never shown.
type Error struct {
	Code    string
	Message string
	// Fields holds per-field validation errors for EINVALID.
	Fields []FieldError
	// RetryAfter hints when an EUNAVAILABLE operation may succeed.
	RetryAfter time.Duration
	// Err is the underlying cause, for logs and errors.Is/As.
	Err error
}

// FieldError is one validation failure of a job's config, located by a
// JSON path relative to the config ("cin", "pagination.mode"; "" for the
// config itself). The HTTP API anchors it in the request body.
type FieldError struct {
	Location string `json:"location"`
	Message  string `json:"message"`
	Value    any    `json:"value,omitempty"`
}

// Error implements the error interface. It includes the cause for logs.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Code
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", msg, e.Err)
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error with the given code and message wrapping err.
func WrapError(code string, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// Invalid returns the EINVALID *Error of a config that fails validation:
// subject names what was checked ("api config"), fields say what is wrong
// and where. The message repeats the fields ("invalid api config: url: is
// required; max_pages: must be between 1 and 10000"), because it becomes a
// job's last_error when a source finds the problem while collecting, where
// the field list is not shown.
func Invalid(subject string, fields ...FieldError) *Error {
	var b strings.Builder
	b.WriteString("invalid " + subject)
	for i, f := range fields {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		b.WriteString(sep)
		if f.Location != "" {
			b.WriteString(f.Location + ": ")
		}
		b.WriteString(f.Message)
	}
	return &Error{Code: EINVALID, Message: b.String(), Fields: fields}
}

// ErrorCode returns the code of the first *Error in err's chain, "" for nil,
// and EINTERNAL for any other error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err: the message of the
// first *Error in its chain, or a generic text for anything else.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "internal error"
}

// Sentinel errors that stores and sources return (wrapped or as is).
var (
	// ErrNoJob is returned by Claim when no job is claimable.
	ErrNoJob = &Error{Code: ENOTFOUND, Message: "no job to claim"}
	// ErrLeaseLost is returned by fenced worker mutations when the caller no
	// longer holds the job: its lease expired and was taken over, or the job
	// was cancelled.
	ErrLeaseLost = &Error{Code: ELEASELOST, Message: "lease lost"}
	// ErrExhausted is returned by Source.Next when a source of unknown size
	// has no more documents.
	ErrExhausted = errors.New("source exhausted")
)

// PermanentError marks a source or collection error that retrying cannot
// fix: the job fails at once instead of being rescheduled.
type PermanentError struct{ Err error }

// Error implements the error interface.
func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err must not be retried: a PermanentError or
// an EINVALID error anywhere in its chain.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p) || ErrorCode(err) == EINVALID
}

// RetryAfterError asks the worker to put the job back and try again no
// earlier than After, without counting an attempt against it (for example a
// source's HTTP 429 with a long Retry-After). The lease is released rather
// than held while waiting.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

// Error implements the error interface.
func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("retry after %s: %v", e.After, e.Err)
}

// Unwrap returns the cause.
func (e *RetryAfterError) Unwrap() error { return e.Err }
