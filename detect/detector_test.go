package detect

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kube"
)

func TestMain(m *testing.M) {
	// The fake clientset cannot stream lists; informers fall back to list+watch as they do
	// against API servers without the feature.
	os.Setenv("KUBE_FEATURE_WatchListClient", "false")
	os.Exit(m.Run())
}

const node = "node-a"

func deploymentPod(name, uid string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID(uid),
			Labels:          map[string]string{"pod-template-hash": "5d8f7"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-5d8f7", Controller: ptr(true)}}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app"}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func ptr[T any](v T) *T { return &v }

func evicted(pod *corev1.Pod, message string) *corev1.Pod {
	p := pod.DeepCopy()
	p.Status.Phase, p.Status.Reason, p.Status.Message = corev1.PodFailed, "Evicted", message
	return p
}

func evictionEvent(pod *corev1.Pod, name, message string, annotations map[string]string) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: pod.Namespace, UID: types.UID("ev-" + name), Annotations: annotations},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Reason:         "Evicted", Message: message, Type: corev1.EventTypeWarning, Count: 1,
		Source: corev1.EventSource{Component: "kubelet", Host: node},
	}
}

// harness runs the detector behind real client-go informers on a fake clientset.
type harness struct {
	client   *fake.Clientset
	detector *Detector
	logs     *syncBuffer
	cancel   context.CancelFunc
	podWatch *controlledWatch
	// podsSeen and eventsSeen count the notifications the detector has finished handling, so a
	// test can wait for them instead of sleeping.
	podsSeen, eventsSeen atomic.Int64
}

// counted runs h, then counts the notification.
func counted(h cache.ResourceEventHandler, n *atomic.Int64) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    func(obj any, initial bool) { h.OnAdd(obj, initial); n.Add(1) },
		UpdateFunc: func(old, obj any) { h.OnUpdate(old, obj); n.Add(1) },
		DeleteFunc: func(obj any) { h.OnDelete(obj); n.Add(1) },
	}
}

// waitSeen waits until the detector has handled at least pods and events notifications.
func (h *harness) waitSeen(t *testing.T, pods, events int64) {
	t.Helper()
	require.Eventually(t, func() bool { return h.podsSeen.Load() >= pods && h.eventsSeen.Load() >= events },
		5*time.Second, 5*time.Millisecond, "pods %d/%d, events %d/%d handled", h.podsSeen.Load(), pods, h.eventsSeen.Load(), events)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// controlledWatch lets a test break the first pod watch with 410 Gone.
type controlledWatch struct {
	first  atomic.Pointer[watch.FakeWatcher]
	served atomic.Bool
}

// startHarness starts the informers; with controlPodWatch, the first pod watch is a fake watcher
// that the test drives and breaks.
func startHarness(t *testing.T, client *fake.Clientset, controlPodWatch bool) *harness {
	t.Helper()
	h := &harness{client: client, logs: &syncBuffer{}, podWatch: &controlledWatch{}}
	if controlPodWatch {
		fw := watch.NewFake()
		h.podWatch.first.Store(fw)
		client.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
			if h.podWatch.served.CompareAndSwap(false, true) {
				return true, fw, nil
			}
			return false, nil, nil
		})
	}
	h.detector = NewDetector(Options{NodeName: node, Logger: slog.New(slog.NewJSONHandler(h.logs, nil))})
	pods := kube.NewInformer(&corev1.Pod{}, fields.Everything(), 0,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.CoreV1().Pods("").List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return client.CoreV1().Pods("").Watch(ctx, o)
		})
	evs := kube.NewInformer(&corev1.Event{}, fields.Everything(), 0,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return client.CoreV1().Events("").List(ctx, o)
		},
		func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return client.CoreV1().Events("").Watch(ctx, o)
		})
	_, err := pods.AddEventHandler(counted(h.detector.PodHandler(), &h.podsSeen))
	require.NoError(t, err)
	_, err = evs.AddEventHandler(counted(h.detector.EventHandler(), &h.eventsSeen))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	t.Cleanup(cancel)
	go pods.RunWithContext(ctx)
	go evs.RunWithContext(ctx)
	require.True(t, cache.WaitForCacheSync(ctx.Done(), pods.HasSynced, evs.HasSynced))
	return h
}

func (h *harness) evictions(t *testing.T) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(h.detector.Collector())
	families, err := reg.Gather()
	require.NoError(t, err)
	var out []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				if l.GetValue() != "" && l.GetName() != "node" {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
			}
			out = append(out, fmt.Sprintf("%s{%s} %g", f.GetName(), strings.Join(labels, ","), m.GetCounter().GetValue()))
		}
	}
	return strings.Join(out, "\n")
}

func eventually(t *testing.T, h *harness, want string) {
	t.Helper()
	require.Eventually(t, func() bool { return h.evictions(t) == want }, 15*time.Second, 10*time.Millisecond,
		"want\n%s\ngot\n%s", want, h.evictions(t))
}

const emptyDirEvictionMessage = `Usage of EmptyDir volume "data" exceeds the limit "5Mi". `

func TestEvictionSeenAsEventAndPodStatusCountsOnce(t *testing.T) {
	pod := deploymentPod("web-5d8f7-abcde", "uid-1")
	h := startHarness(t, fake.NewClientset(pod), false)
	ctx := context.Background()

	_, err := h.client.CoreV1().Events("shop").Create(ctx, evictionEvent(pod, "web.1", emptyDirEvictionMessage, nil), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = h.client.CoreV1().Pods("shop").UpdateStatus(ctx, evicted(pod, emptyDirEvictionMessage), metav1.UpdateOptions{})
	require.NoError(t, err)
	want := `ephemeral_storage_evictions_total{cause=empty_dir,namespace=shop,volume=data,workload=web,workload_kind=Deployment} 1`
	eventually(t, h, want)

	// The event repeats (count 2) and the pod is deleted: still one eviction.
	ev2 := evictionEvent(pod, "web.1", emptyDirEvictionMessage, nil)
	ev2.Count = 2
	pods, evs := h.podsSeen.Load(), h.eventsSeen.Load()
	_, err = h.client.CoreV1().Events("shop").Update(ctx, ev2, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, h.client.CoreV1().Pods("shop").Delete(ctx, pod.Name, metav1.DeleteOptions{}))
	h.waitSeen(t, pods+1, evs+1)
	assert.Equal(t, want, h.evictions(t))

	// One structured line with what the metric leaves off.
	logs := h.logs.String()
	assert.Equal(t, 1, strings.Count(logs, `"msg":"pod evicted"`), logs)
	assert.Contains(t, logs, `"pod":"web-5d8f7-abcde"`)
	assert.Contains(t, logs, `"limit":"5Mi"`)
	assert.Contains(t, logs, `"message":"Usage of EmptyDir volume \"data\" exceeds the limit \"5Mi\". "`)
}

func TestNodePressureEvictionUsesEventAnnotations(t *testing.T) {
	pod := deploymentPod("web-5d8f7-abcde", "uid-1")
	h := startHarness(t, fake.NewClientset(pod), false)
	msg := "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 9Gi. "
	_, err := h.client.CoreV1().Events("shop").Create(context.Background(), evictionEvent(pod, "web.2", msg,
		map[string]string{AnnotationOffendingContainers: "app", AnnotationStarvedResource: "ephemeral-storage"}), metav1.CreateOptions{})
	require.NoError(t, err)
	eventually(t, h, `ephemeral_storage_evictions_total{cause=node_pressure,container=app,namespace=shop,resource=ephemeral-storage,workload=web,workload_kind=Deployment} 1`)
}

// Objects in the first list happened before this agent started: remembered, not counted, and
// not counted later either when they change.
func TestRestartDoesNotRecountPastEvictions(t *testing.T) {
	pod := deploymentPod("web-5d8f7-abcde", "uid-1")
	gone := evicted(pod, emptyDirEvictionMessage)
	h := startHarness(t, fake.NewClientset(gone, evictionEvent(pod, "web.1", emptyDirEvictionMessage, nil)), false)
	h.waitSeen(t, 1, 1)
	assert.Empty(t, h.evictions(t))

	ev := evictionEvent(pod, "web.1", emptyDirEvictionMessage, nil)
	ev.Count = 3
	_, err := h.client.CoreV1().Events("shop").Update(context.Background(), ev, metav1.UpdateOptions{})
	require.NoError(t, err)
	h.waitSeen(t, 1, 2)
	assert.Empty(t, h.evictions(t))
}

// A watch that ends with 410 Gone is followed by a re-list; objects delivered again are not
// counted again, and what changed while the watch was broken is counted once.
func TestWatchExpiryRelistCountsOnce(t *testing.T) {
	a := deploymentPod("web-5d8f7-aaaaa", "uid-a")
	b := deploymentPod("web-5d8f7-bbbbb", "uid-b")
	h := startHarness(t, fake.NewClientset(a, b), true)
	ctx := context.Background()
	fw := h.podWatch.first.Load()

	// a is evicted and seen through the watch.
	fw.Modify(evicted(a, emptyDirEvictionMessage))
	want := `ephemeral_storage_evictions_total{cause=empty_dir,namespace=shop,volume=data,workload=web,workload_kind=Deployment} 1`
	eventually(t, h, want)

	// While the watch is broken, both pods are evicted in the store; then the watch expires.
	// (Resource versions set by hand: the fake store does not, and a re-list only delivers what
	// changed version, as with a real API server.)
	a2, b2 := evicted(a, emptyDirEvictionMessage), evicted(b, `Container app exceeded its local ephemeral storage limit "1Gi". `)
	a2.ResourceVersion, b2.ResourceVersion = "7", "8"
	_, err := h.client.CoreV1().Pods("shop").UpdateStatus(ctx, a2, metav1.UpdateOptions{})
	require.NoError(t, err)
	_, err = h.client.CoreV1().Pods("shop").UpdateStatus(ctx, b2, metav1.UpdateOptions{})
	require.NoError(t, err)
	fw.Error(&metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired, Message: "too old resource version"})
	fw.Stop()

	eventually(t, h, `ephemeral_storage_evictions_total{cause=container_limit,container=app,namespace=shop,workload=web,workload_kind=Deployment} 1`+
		"\n"+want)
}

func TestReadOnlyFailures(t *testing.T) {
	pod := deploymentPod("web-5d8f7-abcde", "uid-1")
	h := startHarness(t, fake.NewClientset(pod), false)
	ctx := context.Background()

	// A container that died on a read-only root, its log tail in the termination message.
	crashed := pod.DeepCopy()
	crashed.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", RestartCount: 1,
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, ContainerID: "containerd://c1",
			FinishedAt: metav1.NewTime(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)),
			Message:    "nginx: [emerg] mkdir() \"/var/cache/nginx/client_temp\" failed (30: Read-only file system)\n"}}}}
	_, err := h.client.CoreV1().Pods("shop").UpdateStatus(ctx, crashed, metav1.UpdateOptions{})
	require.NoError(t, err)

	// The runtime failing to create a container over a read-only mount, repeated three times.
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.3", Namespace: "shop", UID: "ev-3"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: pod.Name, UID: pod.UID, FieldPath: "spec.containers{app}"},
		Reason:         "Failed", Type: corev1.EventTypeWarning, Count: 1, Source: corev1.EventSource{Component: "kubelet", Host: node},
		Message: "Error: failed to create containerd task: ... mkdir /run/containerd/x/rootfs/etc/app: read-only file system: unknown"}
	_, err = h.client.CoreV1().Events("shop").Create(ctx, ev, metav1.CreateOptions{})
	require.NoError(t, err)
	ev.Count = 3
	_, err = h.client.CoreV1().Events("shop").Update(ctx, ev, metav1.UpdateOptions{})
	require.NoError(t, err)

	// A read-only failure on another node's pod is not ours.
	other := ev.DeepCopy()
	other.Name, other.UID, other.Source.Host = "x.1", "ev-x", "node-b"
	other.InvolvedObject.UID = "uid-elsewhere"
	_, err = h.client.CoreV1().Events("shop").Create(ctx, other, metav1.CreateOptions{})
	require.NoError(t, err)

	eventually(t, h, strings.Join([]string{
		`ephemeral_storage_read_only_write_failures_total{container=app,namespace=shop,source=event,workload=web,workload_kind=Deployment} 3`,
		`ephemeral_storage_read_only_write_failures_total{container=app,namespace=shop,source=termination_message,workload=web,workload_kind=Deployment} 1`,
	}, "\n"))
	assert.Contains(t, h.logs.String(), `"path":"/var/cache/nginx/client_temp"`)
}

func TestNodeEvents(t *testing.T) {
	h := startHarness(t, fake.NewClientset(), false)
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "node-a.1", Namespace: "default", UID: "ev-n"},
		InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: node}, Reason: "EvictionThresholdMet",
		Message: "Attempting to reclaim ephemeral-storage", Type: corev1.EventTypeWarning, Count: 1}
	_, err := h.client.CoreV1().Events("default").Create(context.Background(), ev, metav1.CreateOptions{})
	require.NoError(t, err)
	eventually(t, h, `ephemeral_storage_node_eviction_events_total{reason=EvictionThresholdMet} 1`)
}

func TestMetricsLint(t *testing.T) {
	d := NewDetector(Options{NodeName: node})
	d.metrics.evictions.add("u", 1, "ns", "Deployment", "web", "empty_dir", "data", "", "")
	problems, err := testutil.CollectAndLint(d.Collector())
	require.NoError(t, err)
	assert.Empty(t, problems)
}
