package kubelet

import (
	"errors"
	"fmt"
)

// ErrorKind classifies a failed kubelet request for the self-metrics; the set is closed so the
// `kind` label stays bounded.
type ErrorKind string

const (
	ErrorTimeout    ErrorKind = "timeout"
	ErrorConnection ErrorKind = "connection"
	ErrorTLS        ErrorKind = "tls"
	ErrorAuth       ErrorKind = "auth"
	ErrorHTTPStatus ErrorKind = "http_status"
	ErrorTooLarge   ErrorKind = "too_large"
	ErrorDecode     ErrorKind = "decode"
)

// ErrorKinds lists every kind, so counters can be initialised to zero.
var ErrorKinds = []ErrorKind{ErrorTimeout, ErrorConnection, ErrorTLS, ErrorAuth, ErrorHTTPStatus, ErrorTooLarge, ErrorDecode}

// Error is a failed kubelet request: its kind, the HTTP status when there was one, and a short
// excerpt of the body so that a log line says what the kubelet answered.
type Error struct {
	Kind    ErrorKind
	Status  int
	Excerpt string
	Err     error
}

func (e *Error) Error() string {
	msg := string(e.Kind)
	if e.Status != 0 {
		msg += fmt.Sprintf(": status %d", e.Status)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Excerpt != "" {
		msg += fmt.Sprintf(": body %q", e.Excerpt)
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of a kubelet error, or "" for nil and foreign errors.
func KindOf(err error) ErrorKind {
	var kerr *Error
	if errors.As(err, &kerr) {
		return kerr.Kind
	}
	return ""
}
