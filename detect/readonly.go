package detect

import (
	"regexp"
	"strings"
)

// readOnlyMarker finds the error in any message, any case: "read-only file system" is how Go,
// libc (strerror(EROFS)), the JVM, Python and nginx all spell it; EROFS is the errno's name.
var readOnlyMarker = regexp.MustCompile(`(?i)read-only file ?system|\bEROFS\b`)

// readOnlyPaths extract the path from the common shapes, most specific first.
var readOnlyPaths = []*regexp.Regexp{
	// nginx: open() "/var/cache/nginx/client_temp" failed (30: Read-only file system)
	regexp.MustCompile(`"(/[^"]+)" failed \(30: (?i:read-only file ?system)\)`),
	// Python: [Errno 30] Read-only file system: '/app/cache'
	regexp.MustCompile(`(?i:read-only file ?system): '(/[^']+)'`),
	// coreutils: touch: cannot touch '/x': Read-only file system
	regexp.MustCompile(`'(/[^']+)': (?i:read-only file ?system)`),
	// JVM: java.io.FileNotFoundException: /tmp/x (Read-only file system)
	regexp.MustCompile(`(/\S+) \((?i:read-only file ?system)\)`),
	// Go, runc, busybox: open /var/cache/x: read-only file system; can't create /tmp/x: Read-only file system
	regexp.MustCompile(`(/[^\s:'"]*[^\s:'".,]): (?i:read-only file ?system)`),
}

// ParseReadOnly reports whether message is a read-only filesystem write failure and, when the
// message names one, the path that could not be written.
func ParseReadOnly(message string) (path string, ok bool) {
	if !readOnlyMarker.MatchString(message) {
		return "", false
	}
	for _, re := range readOnlyPaths {
		if m := re.FindStringSubmatch(message); m != nil {
			return strings.TrimSpace(m[1]), true
		}
	}
	return "", true
}
