package detect

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var hintSource = corev1.EventSource{Component: "ephemeral-storage-exporter", Host: "node-a"}

// collect returns a post function that keeps the Events.
func collect() (func(*corev1.Event), *[]*corev1.Event) {
	var posted []*corev1.Event
	return func(ev *corev1.Event) { posted = append(posted, ev) }, &posted
}

// TestHintEventLandsOnPod: the hint is the Warning Event client-go's recorder would make on the
// pod (tools/record/event.go, makeEvent), its message and annotations exact.
func TestHintEventLandsOnPod(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 5, time.UTC)
	post, posted := collect()
	h := NewHinter(post, hintSource, time.Hour, func() time.Time { return now })

	h.ReadOnly(ReadOnlyHint{Namespace: "shop", Pod: "web-5d8f7-abcde", UID: "uid-1", WorkloadKind: "Deployment", Workload: "web",
		Container: "nginx", Path: "/var/cache/nginx/client_temp"})

	require.Len(t, *posted, 1)
	at := metav1.NewTime(now)
	assert.Equal(t, &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f7-abcde.18ecf827830c0005", Namespace: "shop", Annotations: map[string]string{
			HintAnnotationContainer: "nginx", HintAnnotationPath: "/var/cache/nginx/client_temp", HintAnnotationMountDir: "/var/cache/nginx",
			HintAnnotationWorkloadKind: "Deployment", HintAnnotationWorkload: "web"}},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "shop", Name: "web-5d8f7-abcde", UID: "uid-1"},
		Reason:         "ReadOnlyWriteFailed",
		Message: `Container "nginx" could not write "/var/cache/nginx/client_temp": its root filesystem is read-only there. ` +
			`Mount a writable volume (emptyDir) at "/var/cache/nginx", it will hide what the image has there. ` +
			"`ephemeral-storage-exporter advise --from-events -o patch` writes the patch.",
		FirstTimestamp: at, LastTimestamp: at, Count: 1, Type: corev1.EventTypeWarning, Source: hintSource,
		ReportingController: "ephemeral-storage-exporter", ReportingInstance: "node-a",
	}, (*posted)[0])
}

// TestHintEventName: "<pod>.<nanos in hex>", at most 253 bytes, never ending the pod's part on a
// separator.
func TestHintEventName(t *testing.T) {
	now := time.Unix(0, 0x18ecf827830c0005)
	tests := []struct{ pod, want string }{
		{"web-1", "web-1.18ecf827830c0005"},
		{strings.Repeat("a", 236), strings.Repeat("a", 236) + ".18ecf827830c0005"},
		{strings.Repeat("a", 253), strings.Repeat("a", 236) + ".18ecf827830c0005"},
		{strings.Repeat("a", 235) + "-bbb", strings.Repeat("a", 235) + ".18ecf827830c0005"},
	}
	for _, tt := range tests {
		got := hintEventName(tt.pod, now)
		assert.Equal(t, tt.want, got)
		assert.LessOrEqual(t, len(got), 253)
	}
}

// TestHintOncePerInterval: one Event per pod, container and path per interval.
func TestHintOncePerInterval(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	post, posted := collect()
	h := NewHinter(post, hintSource, 10*time.Minute, func() time.Time { return now })
	a := ReadOnlyHint{Namespace: "shop", Pod: "p", UID: "uid-1", Container: "app", Path: "/tmp/a"}
	b := a
	b.Path = "/tmp/b"
	for _, step := range []struct {
		advance time.Duration
		hint    ReadOnlyHint
		posts   bool
	}{
		{0, a, true},
		{time.Minute, a, false},
		{0, b, true},
		{9 * time.Minute, a, true}, // 10 minutes after the first
		{time.Minute, b, true},
	} {
		now = now.Add(step.advance)
		before := len(*posted)
		h.ReadOnly(step.hint)
		if !step.posts {
			assert.Len(t, *posted, before, "nothing posted for %+v", step)
			continue
		}
		require.Len(t, *posted, before+1, "posted for %+v", step)
		got := (*posted)[before]
		assert.Equal(t, step.hint.Path, got.Annotations[HintAnnotationPath])
		assert.True(t, strings.HasPrefix(got.Message, "Container \"app\" could not write \""+step.hint.Path+"\""), got.Message)
	}
}

// TestHintPodBudget: a pod gets 25 hints at once, then one per five minutes, as client-go's spam
// filter allows; another pod has its own budget.
func TestHintPodBudget(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	post, posted := collect()
	h := NewHinter(post, hintSource, time.Hour, func() time.Time { return now })
	hint := func(uid types.UID, i int) ReadOnlyHint {
		return ReadOnlyHint{Namespace: "shop", Pod: string(uid), UID: uid, Container: "app", Path: "/tmp/" + strconv.Itoa(i)}
	}
	for i := range 30 {
		h.ReadOnly(hint("uid-1", i))
	}
	assert.Len(t, *posted, 25)
	h.ReadOnly(hint("uid-2", 0))
	assert.Len(t, *posted, 26)

	now = now.Add(5*time.Minute - time.Second)
	h.ReadOnly(hint("uid-1", 100))
	assert.Len(t, *posted, 26)
	now = now.Add(time.Second)
	h.ReadOnly(hint("uid-1", 101))
	h.ReadOnly(hint("uid-1", 102))
	require.Len(t, *posted, 27)
	assert.Equal(t, "/tmp/101", (*posted)[26].Annotations[HintAnnotationPath])
}

// TestHintBoundsTenantText: the path and container are tenant-controlled; the Event's parts are
// valid UTF-8, bounded, free of control characters and quotes, and never read back as a failure.
func TestHintBoundsTenantText(t *testing.T) {
	post, posted := collect()
	h := NewHinter(post, hintSource, time.Hour, nil)
	path := "/tmp/\xff\x00\"x\n" + strings.Repeat("é", 2000) + ": Read-only file system"
	h.ReadOnly(ReadOnlyHint{Namespace: "shop", Pod: "p", UID: "uid-1", Container: strings.Repeat("c", 500), Path: path})
	require.Len(t, *posted, 1)
	ev := (*posted)[0]
	for _, got := range []string{ev.Message, ev.Annotations[HintAnnotationPath], ev.Annotations[HintAnnotationContainer]} {
		assert.True(t, utf8.ValidString(got))
		assert.NotContains(t, got, "\x00")
		assert.NotContains(t, got, "\n")
		assert.LessOrEqual(t, len(got), 1024)
	}
	assert.Contains(t, ev.Message, `Container "`+strings.Repeat("c", 60)+`..." could not write "/tmp/`+"\uFFFD"+`__x_é`)

	for _, p := range []string{"/var/cache/nginx/client_temp", "relative.txt", "", path} {
		_, isFailure := ParseReadOnly(HintMessage("app", boundedText(p, maxHintPath), "/tmp"))
		assert.False(t, isFailure, p)
	}
}

func TestSuggestMountDir(t *testing.T) {
	tests := []struct {
		paths []string
		want  string
	}{
		{[]string{"/var/cache/nginx/client_temp"}, "/var/cache/nginx"},
		{[]string{"/var/cache/nginx/client_temp", "/var/cache/nginx/proxy_temp"}, "/var/cache/nginx"},
		{[]string{"/var/cache/nginx/client_temp", "/var/cache/app/x"}, "/var/cache"},
		{[]string{"/tmp/x", "/tmp/a/b/c"}, "/tmp"},
		{[]string{"/var/run/postgresql/.s.PGSQL.5432.lock"}, "/var/run/postgresql"},
		{[]string{"/app/../tmp/./x"}, "/tmp"},
		{[]string{"/tmp/x", "/var/log/x"}, ""}, // only / is shared
		{[]string{"/etc/app.conf"}, ""},
		{[]string{"/usr/x"}, ""},
		{[]string{"/bin/x"}, ""},
		{[]string{"/lib/x"}, ""},
		{[]string{"/x"}, ""},
		{[]string{"/var/x"}, ""},
		{[]string{"/proc/self/x/y"}, ""},
		{[]string{"relative.txt"}, ""},
		{[]string{"/tmp/x", ""}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.paths, ","), func(t *testing.T) {
			got, ok := SuggestMountDir(tt.paths)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.want != "", ok)
		})
	}
}

// TestDetectorHintsEachCountedFailure: the detector tells the hinter of each failure it counts,
// with the pod's UID and workload, and never counts its own hint Events.
func TestDetectorHintsEachCountedFailure(t *testing.T) {
	var hints []ReadOnlyHint
	d := NewDetector(Options{NodeName: node, ReadOnlyHint: func(h ReadOnlyHint) { hints = append(hints, h) }})
	pod := deploymentPod("web-5d8f7-abcde", "uid-1")
	d.observePod(pod, true)
	d.ObserveLogLine("shop", pod.Name, pod.UID, "app", "npm error rofs EROFS: read-only file system, open '/app/package.json'")
	own := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "h.1", UID: "ev-1"}, Reason: ReadOnlyHintReason,
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: pod.Name, UID: pod.UID},
		Source:         corev1.EventSource{Host: node}, Count: 1,
		Message: `Container "app" could not write "/a: Read-only file system": its root filesystem is read-only there.`}
	d.observeEvent(own, false)
	require.Len(t, hints, 1)
	kind, name := hints[0].WorkloadKind, hints[0].Workload
	assert.Equal(t, ReadOnlyHint{Namespace: "shop", Pod: pod.Name, UID: "uid-1", WorkloadKind: kind, Workload: name,
		Container: "app", Path: "/app/package.json"}, hints[0])
	assert.Equal(t, "Deployment", kind)
	assert.Equal(t, "web", name)
}
