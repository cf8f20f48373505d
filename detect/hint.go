package detect

import (
	"path"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
)

// ReadOnlyHintReason is the reason of the Event the agent posts on a pod whose container failed to
// write to its read-only root filesystem. The detector ignores Events with this reason: they are
// its own.
const ReadOnlyHintReason = "ReadOnlyWriteFailed"

// Annotations of the hint Event, read back by `advise --from-events`: the message is for people.
const (
	HintAnnotationContainer    = "ephemeral-storage-exporter.io/container"
	HintAnnotationPath         = "ephemeral-storage-exporter.io/path"
	HintAnnotationMountDir     = "ephemeral-storage-exporter.io/mount-dir"
	HintAnnotationWorkloadKind = "ephemeral-storage-exporter.io/workload-kind"
	HintAnnotationWorkload     = "ephemeral-storage-exporter.io/workload"
)

// Bounds of the tenant-controlled parts of a hint Event, in bytes.
const (
	maxHintPath      = 512
	maxHintContainer = 63 // a DNS label, like every container name the API server accepts
	maxHintKeys      = 4096
)

// ReadOnlyHint is one counted read-only failure of a pod on this node.
type ReadOnlyHint struct {
	Namespace, Pod         string
	UID                    types.UID
	WorkloadKind, Workload string
	Container, Path        string
}

// Hinter posts a Warning Event on the pod for each read-only failure, where `kubectl describe pod`
// and Event exporters show it: at most one per pod, container and path per interval. The
// recorder's correlator aggregates and rate-limits on top of that.
type Hinter struct {
	recorder record.EventRecorder
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	last map[hintKey]time.Time
}

type hintKey struct {
	uid             types.UID
	container, path string
}

// NewHinter returns a hinter posting through recorder.
func NewHinter(recorder record.EventRecorder, interval time.Duration, now func() time.Time) *Hinter {
	if now == nil {
		now = time.Now
	}
	return &Hinter{recorder: recorder, interval: interval, now: now, last: map[hintKey]time.Time{}}
}

// ReadOnly posts the hint for h, unless one was posted for the same key within the interval.
func (hr *Hinter) ReadOnly(h ReadOnlyHint) {
	container, p := boundedText(h.Container, maxHintContainer), boundedText(h.Path, maxHintPath)
	key := hintKey{uid: h.UID, container: container, path: p}
	now := hr.now()
	hr.mu.Lock()
	if at, ok := hr.last[key]; ok && now.Sub(at) < hr.interval {
		hr.mu.Unlock()
		return
	}
	if len(hr.last) >= maxHintKeys {
		for k, at := range hr.last {
			if now.Sub(at) >= hr.interval {
				delete(hr.last, k)
			}
		}
		if len(hr.last) >= maxHintKeys {
			hr.mu.Unlock()
			return // a flood of distinct paths: the counters still count them
		}
	}
	hr.last[key] = now
	hr.mu.Unlock()

	dir, _ := SuggestMountDir([]string{h.Path})
	pod := &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: h.Namespace, Name: h.Pod, UID: h.UID}
	annotations := map[string]string{HintAnnotationContainer: container, HintAnnotationPath: p, HintAnnotationMountDir: dir}
	if h.WorkloadKind != "" && h.Workload != "" {
		annotations[HintAnnotationWorkloadKind] = h.WorkloadKind
		annotations[HintAnnotationWorkload] = h.Workload
	}
	hr.recorder.AnnotatedEventf(pod, annotations, corev1.EventTypeWarning, ReadOnlyHintReason, "%s", HintMessage(container, p, dir))
}

// HintMessage is the Event's text. It avoids the words of a read-only error, so that the agent
// never parses its own hint as a failure.
func HintMessage(container, p, dir string) string {
	var b strings.Builder
	b.WriteString("Container ")
	b.WriteString(quoteOrUnknown(container))
	b.WriteString(" could not write ")
	b.WriteString(quoteOrUnknown(p))
	b.WriteString(": its root filesystem is read-only there. ")
	switch {
	case dir != "":
		b.WriteString("Mount a writable volume (emptyDir) at " + quoteOrUnknown(dir) + ", it will hide what the image has there. ")
	case p != "" && !path.IsAbs(p):
		b.WriteString("The path is relative to the container's working directory: mount a writable volume at that directory. ")
	default:
		b.WriteString("Mount a writable volume (emptyDir) at the directory it writes to. ")
	}
	b.WriteString("`ephemeral-storage-exporter advise --from-events -o patch` writes the patch.")
	return b.String()
}

func quoteOrUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return `"` + s + `"`
}

// boundedText makes tenant-controlled text safe to show: valid UTF-8, no control characters or
// quotes, at most max bytes cut at a rune boundary.
func boundedText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' || r == '`' || r == '\\' {
			return '_'
		}
		return r
	}, s)
	if len(s) <= max {
		return s
	}
	cut := max - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// neverMount are the directories an emptyDir must never hide: the image's system itself.
var neverMount = map[string]bool{"/": true, "/etc": true, "/usr": true, "/bin": true, "/sbin": true, "/lib": true,
	"/lib64": true, "/var": true, "/boot": true, "/proc": true, "/sys": true, "/dev": true}

// SuggestMountDir is the deepest directory holding all the failing paths, where a volume makes them
// writable; false when there is none that is safe to hide (a system directory, a relative path).
func SuggestMountDir(paths []string) (string, bool) {
	var shared []string
	for i, p := range paths {
		if !path.IsAbs(p) || strings.ContainsAny(p, "\x00") {
			return "", false
		}
		parts := strings.Split(strings.Trim(path.Dir(path.Clean(p)), "/"), "/")
		if i == 0 {
			shared = parts
			continue
		}
		n := 0
		for n < len(shared) && n < len(parts) && shared[n] == parts[n] {
			n++
		}
		shared = shared[:n]
	}
	if len(paths) == 0 {
		return "", false
	}
	dir := path.Clean("/" + strings.Join(shared, "/"))
	for _, top := range []string{"/proc/", "/sys/", "/dev/"} {
		if strings.HasPrefix(dir+"/", top) {
			return "", false
		}
	}
	if neverMount[dir] {
		return "", false
	}
	return dir, true
}
