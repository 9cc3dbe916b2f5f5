package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"connectrpc.com/connect"

	"github.com/orchd/orch/api"
)

// reasons maps Connect codes to the reason words of Kubernetes' status errors.
var reasons = map[connect.Code]string{
	connect.CodeNotFound:           "NotFound",
	connect.CodeAlreadyExists:      "AlreadyExists",
	connect.CodeAborted:            "Conflict",
	connect.CodeInvalidArgument:    "Invalid",
	connect.CodeFailedPrecondition: "Invalid",
	connect.CodePermissionDenied:   "Forbidden",
	connect.CodeUnauthenticated:    "Unauthorized",
	connect.CodeUnavailable:        "ServiceUnavailable",
	connect.CodeOutOfRange:         "Expired",
	connect.CodeDeadlineExceeded:   "Timeout",
	connect.CodeCanceled:           "Timeout",
	connect.CodeResourceExhausted:  "TooManyRequests",
	connect.CodeUnimplemented:      "MethodNotAllowed",
	connect.CodeInternal:           "InternalError",
	connect.CodeUnknown:            "InternalError",
	connect.CodeDataLoss:           "InternalError",
}

// reason is the Kubernetes reason word of a Connect code.
func reason(c connect.Code) string {
	if r := reasons[c]; r != "" {
		return r
	}
	return "BadRequest"
}

// StatusError is an error the API server returned, printed as kubectl prints one:
// `Error from server (NotFound): pods "web" not found`.
type StatusError struct {
	Code    connect.Code
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("Error from server (%s): %s", reason(e.Code), e.Message)
}

// unreachableError reports that no master answered at all.
type unreachableError struct {
	server string
	err    error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("cannot reach the orch API at %s: %v", e.server, e.err)
}

func (e *unreachableError) Unwrap() error { return e.err }

// codeOf returns the Connect code of err, or connect.CodeUnknown.
func codeOf(err error) connect.Code {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return connect.CodeOf(err)
}

func isNotFound(err error) bool { return err != nil && codeOf(err) == connect.CodeNotFound }

// serverError turns an error from a Connect call into a StatusError. what prefixes the
// message ("error when creating \"web.yaml\""), and for NotFound on a named object the
// message is kubectl's own (`pods "web" not found`), whatever the server said.
func (e *env) serverError(err error, what string, k *api.Kind, name string) error {
	if err == nil {
		return nil
	}
	if isUnreachable(err) {
		return &unreachableError{server: e.server, err: rootCause(err)}
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("the request timed out after %s (--request-timeout)", e.timeout)
		}
		return err
	}
	msg := ce.Message()
	if ce.Code() == connect.CodeNotFound && k != nil && name != "" {
		msg = fmt.Sprintf("%s %q not found", resourceName(k), name)
	}
	if ce.Code() == connect.CodeDeadlineExceeded && msg == "" {
		msg = "the request timed out"
	}
	if what != "" {
		msg = what + ": " + msg
	}
	return &StatusError{Code: ce.Code(), Message: msg}
}

// isUnreachable tells whether err is a failure to connect at all.
func isUnreachable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

func rootCause(err error) error {
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr
	}
	return err
}

// errorList is several independent failures (apply of many objects): each is printed.
type errorList []error

func (l errorList) Error() string {
	s := make([]string, len(l))
	for i, err := range l {
		s[i] = err.Error()
	}
	return strings.Join(s, "\n")
}

// errorLines renders an error for the terminal, one line per failure, as kubectl does:
// server errors as they are, others prefixed with "error: ".
func errorLines(err error) []string {
	var l errorList
	if errors.As(err, &l) {
		var out []string
		for _, e := range l {
			out = append(out, errorLines(e)...)
		}
		return out
	}
	var se *StatusError
	if errors.As(err, &se) {
		return []string{err.Error()}
	}
	var silent silentError
	if errors.As(err, &silent) {
		return nil
	}
	return []string{"error: " + err.Error()}
}

// silentError fails the command after its message was already printed.
type silentError struct{}

func (silentError) Error() string { return "failed" }

// isTransient tells whether a failed request is worth repeating: no leader yet, a master
// going away, a request that ran out of time.
func isTransient(err error) bool {
	switch codeOf(err) {
	case connect.CodeUnavailable, connect.CodeDeadlineExceeded, connect.CodeAborted:
		return true
	}
	return false
}

// add records err and reports whether to give up at once: when the API is unreachable,
// every further request would fail the same way.
func (l *errorList) add(err error) bool {
	*l = append(*l, err)
	var u *unreachableError
	return errors.As(err, &u)
}
