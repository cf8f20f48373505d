package detect

import (
	"bytes"
	"regexp"
	"strings"
)

// readOnlyPhrase is strerror(EROFS) as libc, Go, the JVM, Python, Node.js and nginx spell it, any
// case; "filesystem" is how some libraries write it (Rust's ErrorKind, for one).
const readOnlyPhrase = `(?i:read-only file ?system)`

// erofsCode is the errno's name where a program prints it as the error's code: Node.js
// ("EROFS: ..."), npm ("code EROFS"), JSON logs ("code":"EROFS"), Ruby (Errno::EROFS), after a colon
// ("write error: EROFS"). Case
// matters and a bare word is not enough: erofs-utils and the EROFS filesystem are not errors.
var erofsCode = regexp.MustCompile(`\bEROFS:|\bcode\W{1,4}EROFS\b|Errno::EROFS\b|:\s*EROFS\b`)

var (
	readOnlyPhraseRE = regexp.MustCompile(readOnlyPhrase)
	// An information line: mounting (something) as a read-only file system is no failure.
	mountInfo = regexp.MustCompile(`(?i)\b(?:as|mount(?:ing|ed)?|remount(?:ing|ed)?)\s+(?:an?\s+)?$`)
)

// readOnlyPaths extract the path from the shapes real programs print (testdata/readonly, recorded
// by hack/readonly-corpus/record.sh), most specific first. Paths are returned as printed: a
// relative path stays relative, the directory it is relative to is unknown here.
var readOnlyPaths = []*regexp.Regexp{
	// nginx: mkdir() "/var/cache/nginx/client_temp" failed (30: Read-only file system)
	regexp.MustCompile(`"([^"]+)" failed \(30: ` + readOnlyPhrase + `\)`),
	// Node.js, npm: EROFS: read-only file system, open '/app/x'
	regexp.MustCompile(readOnlyPhrase + `, \w+ '([^']+)'`),
	// Ruby: Read-only file system @ rb_sysopen - /app/x (Errno::EROFS)
	regexp.MustCompile(readOnlyPhrase + ` @ \w+ - (.+?) \(Errno::EROFS\)`),
	// Python: [Errno 30] Read-only file system: '/app/cache'
	regexp.MustCompile(readOnlyPhrase + `: '([^']+)'`),
	// coreutils, git: touch: cannot touch '/x': Read-only file system
	regexp.MustCompile(`'([^']+)': ` + readOnlyPhrase),
	// PostgreSQL, initdb: could not create lock file "/x/.s.PGSQL.5432.lock": Read-only file system
	regexp.MustCompile(`"([^"]+)": ` + readOnlyPhrase),
	// PHP: file_put_contents(/x): Failed to open stream: Read-only file system
	regexp.MustCompile(`\b\w+\(([^)]+)\): [^:]*: ` + readOnlyPhrase),
	// JVM: java.io.FileNotFoundException: /tmp/x (Read-only file system)
	regexp.MustCompile(`Exception: (.+?) \(` + readOnlyPhrase + `\)`),
	regexp.MustCompile(`(?:^|\s)(/\S+) \(` + readOnlyPhrase + `\)`),
	// GNU tar: tar: data.txt: Cannot open: Read-only file system
	regexp.MustCompile(`([^\s:]+): Cannot [^:]+: ` + readOnlyPhrase),
	// Redis: Can't open or create append-only dir appendonlydir: Read-only file system
	regexp.MustCompile(`append-only (?:dir|file) (\S+): ` + readOnlyPhrase),
	// Go, libc, bash, Perl, git, runc: open /var/cache/x: read-only file system
	regexp.MustCompile(`(?:^|[^\w./-])(/[^\s:'"]*[^\s:'".,]): ` + readOnlyPhrase),
	// Go with a relative path: open cache/x: read-only file system
	regexp.MustCompile(`\b(?:open|mkdir|mkdirat|openat|create|remove|unlinkat|chmod|truncate|symlink) ([^\s:'"/][^\s:'"]*): ` + readOnlyPhrase),
}

// plainQuotes undoes what log formats do to quotes: JSON escapes them, UTF-8 locales make them
// typographic (coreutils: ‘/x’).
var plainQuotes = strings.NewReplacer(`\"`, `"`, `\u2018`, `'`, `\u2019`, `'`, "‘", "'", "’", "'", "“", `"`, "”", `"`)

// ParseReadOnly reports whether message is a read-only filesystem write failure and, when the
// message names one, the path that could not be written.
func ParseReadOnly(message string) (path string, ok bool) {
	message = plainQuotes.Replace(message)
	if !isReadOnlyFailure(message) {
		return "", false
	}
	for _, re := range readOnlyPaths {
		if m := re.FindStringSubmatch(message); m != nil {
			return strings.TrimSpace(m[1]), true
		}
	}
	return "", true
}

// isReadOnlyFailure: the error code, or the phrase used as an error, not quoted as a mention and
// not describing a mount.
func isReadOnlyFailure(message string) bool {
	if erofsCode.MatchString(message) {
		return true
	}
	for _, loc := range readOnlyPhraseRE.FindAllStringIndex(message, -1) {
		if mountInfo.MatchString(message[:loc[0]]) {
			continue
		}
		if isQuotedMention(message, loc[0], loc[1]) {
			continue
		}
		return true
	}
	return false
}

// isQuotedMention: the phrase alone between quotes (after unquote), unless it is a value
// (err="read-only file system", Rust's message: "Read-only file system").
func isQuotedMention(message string, start, end int) bool {
	if start == 0 || end == len(message) {
		return false
	}
	q := message[start-1]
	if (q != '"' && q != '\'') || message[end] != q {
		return false
	}
	before := strings.TrimRight(message[:start-1], " ")
	return !strings.HasSuffix(before, "=") && !strings.HasSuffix(before, ":")
}

// ReadOnlyFailure is one failed write, however many lines its program printed about it.
type ReadOnlyFailure struct {
	Path    string // as printed; empty when no line of the failure names one
	Message string // the line that names the path, else the first line of the failure
}

// readOnlyMaxGap bounds how far apart two lines of one failure may be: a stack trace's frames
// between a Java exception and its cause, npm's "code EROFS" and its message line.
const readOnlyMaxGap = 256

// maxLinesPerFailure bounds the lines a failure remembers, to tell repetitions from continuations.
const maxLinesPerFailure = 16

// ReadOnlyGrouper turns the lines of one stream (one container's stdout, say) into failures,
// each counted once: npm prints a failure as a block with "code EROFS" and the message line,
// Node.js adds code: 'EROFS' after its stack, a Java exception may repeat the path in its cause.
// Lines of a failure are near each other, agree on the path (or name none), and differ from
// each other: the same line again is the program failing again (a retry loop), not more of the
// same failure. Digits are ignored in that comparison, timestamps being digits.
type ReadOnlyGrouper struct {
	open  bool
	cur   ReadOnlyFailure
	lines []string
	gap   int
}

// Line takes a line that may report a failure and returns the failure it closes, if any.
func (g *ReadOnlyGrouper) Line(line string) (closed ReadOnlyFailure, ok bool) {
	path, isFailure := ParseReadOnly(line)
	if !isFailure {
		return g.Other()
	}
	shape := withoutDigits(line)
	if g.open && g.gap <= readOnlyMaxGap && (path == "" || g.cur.Path == "" || path == g.cur.Path) && !g.seen(shape) {
		if g.cur.Path == "" && path != "" {
			g.cur = ReadOnlyFailure{Path: path, Message: line}
		}
		if len(g.lines) < maxLinesPerFailure {
			g.lines = append(g.lines, shape)
		}
		g.gap = 0
		return ReadOnlyFailure{}, false
	}
	closed, ok = g.Flush()
	g.open, g.cur, g.lines, g.gap = true, ReadOnlyFailure{Path: path, Message: line}, append(g.lines[:0], shape), 0
	return closed, ok
}

// Other takes a line that reports no failure: it may end one, when it is too far from its start.
func (g *ReadOnlyGrouper) Other() (closed ReadOnlyFailure, ok bool) {
	if !g.open {
		return ReadOnlyFailure{}, false
	}
	g.gap++
	if g.gap > readOnlyMaxGap {
		return g.Flush()
	}
	return ReadOnlyFailure{}, false
}

// Flush returns the failure still open, if any: at the end of what was written so far.
func (g *ReadOnlyGrouper) Flush() (ReadOnlyFailure, bool) {
	if !g.open {
		return ReadOnlyFailure{}, false
	}
	g.open = false
	return g.cur, true
}

func (g *ReadOnlyGrouper) seen(shape string) bool {
	for _, l := range g.lines {
		if l == shape {
			return true
		}
	}
	return false
}

func withoutDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, s)
}

// ReadOnlyFailures returns the failures a text reports (a termination message, a recorded log).
func ReadOnlyFailures(text string) []ReadOnlyFailure {
	var g ReadOnlyGrouper
	var out []ReadOnlyFailure
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		var f ReadOnlyFailure
		var ok bool
		if MayBeReadOnly([]byte(line)) {
			f, ok = g.Line(line)
		} else {
			f, ok = g.Other()
		}
		if ok {
			out = append(out, f)
		}
	}
	if f, ok := g.Flush(); ok {
		out = append(out, f)
	}
	return out
}

// MayBeReadOnly is a cheap filter before the regular expressions, as loose as they are: any case
// of "only file" (both spellings of file system), or EROFS.
func MayBeReadOnly(b []byte) bool {
	return bytes.Contains(b, []byte("EROFS")) || containsFoldASCII(b, "only file")
}

// containsFoldASCII reports whether b contains lower (lower-case ASCII) in any case, without
// allocating.
func containsFoldASCII(b []byte, lower string) bool {
	first, upper := lower[0], lower[0]-'a'+'A'
	for i := 0; i+len(lower) <= len(b); i++ {
		if c := b[i]; (c == first || c == upper) && bytes.EqualFold(b[i:i+len(lower)], []byte(lower)) {
			return true
		}
	}
	return false
}
