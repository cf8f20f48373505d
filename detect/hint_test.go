package detect

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// TestHintEventLandsOnPod: through client-go's broadcaster, the hint is a Warning Event on the
// pod, its message and annotations exact.
func TestHintEventLandsOnPod(t *testing.T) {
	client := fake.NewClientset()
	broadcaster := record.NewBroadcaster()
	t.Cleanup(broadcaster.Shutdown)
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "ephemeral-storage-exporter", Host: "node-a"})
	h := NewHinter(recorder, time.Hour, nil)

	h.ReadOnly(ReadOnlyHint{Namespace: "shop", Pod: "web-5d8f7-abcde", UID: "uid-1", WorkloadKind: "Deployment", Workload: "web",
		Container: "nginx", Path: "/var/cache/nginx/client_temp"})

	var events []corev1.Event
	require.Eventually(t, func() bool {
		list, err := client.CoreV1().Events("shop").List(context.Background(), metav1.ListOptions{})
		require.NoError(t, err)
		events = list.Items
		return len(events) > 0
	}, 10*time.Second, 10*time.Millisecond)
	require.Len(t, events, 1)
	ev := events[0]
	assert.Equal(t, corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "shop", Name: "web-5d8f7-abcde", UID: "uid-1"}, ev.InvolvedObject)
	assert.Equal(t, corev1.EventTypeWarning, ev.Type)
	assert.Equal(t, "ReadOnlyWriteFailed", ev.Reason)
	assert.Equal(t, `Container "nginx" could not write "/var/cache/nginx/client_temp": its root filesystem is read-only there. `+
		`Mount a writable volume (emptyDir) at "/var/cache/nginx", it will hide what the image has there. `+
		"`ephemeral-storage-exporter advise --from-events -o patch` writes the patch.", ev.Message)
	assert.Equal(t, map[string]string{HintAnnotationContainer: "nginx", HintAnnotationPath: "/var/cache/nginx/client_temp",
		HintAnnotationMountDir: "/var/cache/nginx", HintAnnotationWorkloadKind: "Deployment", HintAnnotationWorkload: "web"}, ev.Annotations)
}

// TestHintOncePerInterval: one Event per pod, container and path per interval.
func TestHintOncePerInterval(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	rec := record.NewFakeRecorder(100)
	h := NewHinter(rec, 10*time.Minute, func() time.Time { return now })
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
		h.ReadOnly(step.hint)
		select {
		case got := <-rec.Events:
			assert.True(t, step.posts, "posted %q", got)
			assert.True(t, strings.HasPrefix(got, "Warning ReadOnlyWriteFailed Container \"app\" could not write \""+step.hint.Path+"\""), got)
		default:
			assert.False(t, step.posts, "nothing posted for %+v", step)
		}
	}
}

// TestHintBoundsTenantText: the path and container are tenant-controlled; the Event's parts are
// valid UTF-8, bounded, free of control characters and quotes, and never read back as a failure.
func TestHintBoundsTenantText(t *testing.T) {
	rec := record.NewFakeRecorder(10)
	h := NewHinter(rec, time.Hour, nil)
	path := "/tmp/\xff\x00\"x\n" + strings.Repeat("é", 2000) + ": Read-only file system"
	h.ReadOnly(ReadOnlyHint{Namespace: "shop", Pod: "p", UID: "uid-1", Container: strings.Repeat("c", 500), Path: path})
	got, _, _ := strings.Cut(<-rec.Events, " map[") // the fake recorder appends the annotations
	assert.True(t, utf8.ValidString(got))
	assert.NotContains(t, got, "\x00")
	assert.NotContains(t, got, "\n")
	assert.LessOrEqual(t, len(got), 1024)
	assert.Contains(t, got, `Container "`+strings.Repeat("c", 60)+`..." could not write "/tmp/`+"\uFFFD"+`__x_é`)

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
