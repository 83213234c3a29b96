package hub

import (
	"errors"
	"fmt"
)

// Code classifies an error for API clients. The values are those of
// errors[].extensions.code and UserError.code.
type Code string

const (
	CodeUnauthenticated Code = "UNAUTHENTICATED"
	CodeForbidden       Code = "FORBIDDEN"
	CodeNotFound        Code = "NOT_FOUND"
	CodeBadInput        Code = "BAD_USER_INPUT"
	CodeConflict        Code = "CONFLICT"
	CodeInternal        Code = "INTERNAL"
)

// Error is an error the caller can act on: it is safe to show, and Field
// (a path into the input, e.g. ["input", "email"]) says what to fix.
type Error struct {
	Code    Code
	Message string
	Field   []string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

func newErr(code Code, field string, format string, args ...any) *Error {
	e := &Error{Code: code, Message: fmt.Sprintf(format, args...)}
	if field != "" {
		e.Field = []string{"input", field}
	}
	return e
}

func errNotFound(field, what string) *Error {
	return newErr(CodeNotFound, field, "%s not found", what)
}

func errBadInput(field, format string, args ...any) *Error {
	return newErr(CodeBadInput, field, format, args...)
}

func errConflict(field, format string, args ...any) *Error {
	return newErr(CodeConflict, field, format, args...)
}

// ErrUnauthenticated is returned when a request carries no valid token.
var ErrUnauthenticated = &Error{Code: CodeUnauthenticated, Message: "a valid API token is required (Authorization: Bearer <token>)"}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// CodeOf returns the client-facing code of err; INTERNAL for anything that
// is not an *Error.
func CodeOf(err error) Code {
	if e, ok := AsError(err); ok {
		return e.Code
	}
	return CodeInternal
}
