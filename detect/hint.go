package detect

import (
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
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

// Each pod's hint budget, as client-go's spam filter for Events (tools/record/events_cache.go,
// defaultSpamBurst and defaultSpamQPS): 25 at once, then one per five minutes.
const (
	hintBurst  = 25
	hintRefill = 5 * time.Minute
)

// ReadOnlyHint is one counted read-only failure of a pod on this node.
type ReadOnlyHint struct {
	Namespace, Pod         string
	UID                    types.UID
	WorkloadKind, Workload string
	Container, Path        string
}

// Hinter makes a Warning Event on the pod for each read-only failure, where `kubectl describe pod`
// and Event exporters show it: at most one per pod, container and path per interval, and at most
// hintBurst per pod, then one per hintRefill. post sends it and must not block. The agent posts
// through its core/v1 REST client rather than client-go's tools/record, whose correlator and
// strategic-merge patches would double the binary's dependencies and its resident memory.
type Hinter struct {
	post     func(*corev1.Event)
	source   corev1.EventSource
	interval time.Duration
	now      func() time.Time

	mu     sync.Mutex
	last   map[hintKey]time.Time
	budget map[types.UID]podBudget
}

type hintKey struct {
	uid             types.UID
	container, path string
}

// podBudget is a token bucket: tokens left at the time at.
type podBudget struct {
	tokens float64
	at     time.Time
}

// NewHinter returns a hinter whose Events come from source and go to post.
func NewHinter(post func(*corev1.Event), source corev1.EventSource, interval time.Duration, now func() time.Time) *Hinter {
	if now == nil {
		now = time.Now
	}
	return &Hinter{post: post, source: source, interval: interval, now: now,
		last: map[hintKey]time.Time{}, budget: map[types.UID]podBudget{}}
}

// ReadOnly posts the hint for h, unless one was posted for the same key within the interval or
// the pod's budget is spent.
func (hr *Hinter) ReadOnly(h ReadOnlyHint) {
	container, p := boundedText(h.Container, maxHintContainer), boundedText(h.Path, maxHintPath)
	now := hr.now()
	if !hr.admit(hintKey{uid: h.UID, container: container, path: p}, now) {
		return
	}
	dir, _ := SuggestMountDir([]string{h.Path})
	annotations := map[string]string{HintAnnotationContainer: container, HintAnnotationPath: p, HintAnnotationMountDir: dir}
	if h.WorkloadKind != "" && h.Workload != "" {
		annotations[HintAnnotationWorkloadKind] = h.WorkloadKind
		annotations[HintAnnotationWorkload] = h.Workload
	}
	hr.post(hr.event(h, annotations, HintMessage(container, p, dir), now))
}

// admit records a post for key at now, unless the key was posted within the interval, the pod's
// budget is spent, or the tables are full of live entries (a flood: the counters still count).
func (hr *Hinter) admit(key hintKey, now time.Time) bool {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	if at, ok := hr.last[key]; ok && now.Sub(at) < hr.interval {
		return false
	}
	if len(hr.last) >= maxHintKeys {
		for k, at := range hr.last {
			if now.Sub(at) >= hr.interval {
				delete(hr.last, k)
			}
		}
		if len(hr.last) >= maxHintKeys {
			return false
		}
	}
	b, ok := hr.budget[key.uid]
	if !ok {
		if len(hr.budget) >= maxHintKeys {
			for uid, pb := range hr.budget {
				if pb.refilled(now) >= hintBurst {
					delete(hr.budget, uid)
				}
			}
			if len(hr.budget) >= maxHintKeys {
				return false
			}
		}
		b = podBudget{tokens: hintBurst, at: now}
	}
	tokens := b.refilled(now)
	if tokens < 1 {
		return false
	}
	hr.budget[key.uid] = podBudget{tokens: tokens - 1, at: now}
	hr.last[key] = now
	return true
}

func (b podBudget) refilled(now time.Time) float64 {
	return min(hintBurst, b.tokens+float64(now.Sub(b.at))/float64(hintRefill))
}

// event is the Event client-go's recorder would make (tools/record/event.go, makeEvent and
// generateEvent): named after the pod and the time, counted once, from the agent on this node.
func (hr *Hinter) event(h ReadOnlyHint, annotations map[string]string, message string, now time.Time) *corev1.Event {
	t := metav1.NewTime(now)
	return &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: hintEventName(h.Pod, now), Namespace: h.Namespace, Annotations: annotations},
		InvolvedObject:      corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: h.Namespace, Name: h.Pod, UID: h.UID},
		Reason:              ReadOnlyHintReason,
		Message:             message,
		FirstTimestamp:      t,
		LastTimestamp:       t,
		Count:               1,
		Type:                corev1.EventTypeWarning,
		Source:              hr.source,
		ReportingController: hr.source.Component,
		ReportingInstance:   hr.source.Host,
	}
}

// hintEventName is "<pod>.<unix nanos in hex>" (client-go tools/record/util GenerateEventName),
// the pod's part shortened so that the name stays a DNS subdomain of at most 253 bytes.
func hintEventName(pod string, now time.Time) string {
	suffix := "." + strconv.FormatInt(now.UnixNano(), 16)
	if room := 253 - len(suffix); len(pod) > room {
		pod = strings.TrimRight(pod[:room], ".-")
	}
	return pod + suffix
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
