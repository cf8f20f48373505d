package kubelet

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
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

// redacted replaces a credential in text that came from the kubelet or from a server posing as
// one: an error body that echoes the request's headers must not put the token in the log.
const redacted = "[REDACTED]"

var (
	// An Authorization header echoed in any syntax (HTTP, JSON, Go's %v of a header map): the
	// rest of the line goes, whatever the scheme.
	authorizationEcho = regexp.MustCompile(`(?i)authorization[^\n]*`)
	// A bearer credential anywhere else ("Bearer x" in a message, a header value on its own).
	bearerCredential = regexp.MustCompile(`(?i)bearer\s+[^\s"',;\]\}]+`)
	// A JWT (service-account tokens are JWTs) even without its scheme; a cut JWT still matches.
	jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}(\.[A-Za-z0-9_-]*){0,2}`)
)

// redact removes token (when not empty) and anything shaped like a credential from s.
func redact(s, token string) string {
	if token != "" {
		s = strings.ReplaceAll(s, token, redacted)
	}
	s = authorizationEcho.ReplaceAllString(s, "Authorization: "+redacted)
	s = bearerCredential.ReplaceAllString(s, "Bearer "+redacted)
	return jwtLike.ReplaceAllString(s, redacted)
}
