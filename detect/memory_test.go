package detect

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// counters renders the detector's counters like the harness does, without informers.
func counters(t *testing.T, d *Detector) string {
	t.Helper()
	return (&harness{detector: d}).evictions(t)
}

func terminatedWith(message, id string) *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{ExitCode: 1, ContainerID: id, Message: message,
		FinishedAt: metav1.NewTime(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))}
}

// Every container's termination message is read (not the first container's only), each
// termination counts once however often the pod is delivered again, and what the detector
// remembers to dedupe is forgotten after forgetAfter, so it stays bounded.
func TestTerminationMessagesCountOnceAndAreForgotten(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	d := NewDetector(Options{NodeName: node, Now: func() time.Time { return now }})
	pod := deploymentPod("web-5d8f7-abcde", "uid-1")
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "sidecar"})
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{
		{Name: "app", State: corev1.ContainerState{Terminated: terminatedWith("exit 1: out of luck\n", "containerd://a")}},
		{Name: "sidecar", LastTerminationState: corev1.ContainerState{Terminated: terminatedWith(
			"open /var/log/side.log: read-only file system\n", "containerd://s")}},
	}
	for range 5 { // the same status, delivered again on every pod update
		d.observePod(pod, false)
	}
	assert.Equal(t,
		`ephemeral_storage_read_only_write_failures_total{container=sidecar,namespace=shop,source=termination_message,workload=web,workload_kind=Deployment} 1`,
		counters(t, d))

	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.1", Namespace: "shop", UID: "ev-1"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: pod.Name, UID: pod.UID},
		Reason:         "Failed", Count: 1, Message: "mkdir /data: read-only file system"}
	d.observeEvent(ev, false)
	d.mu.Lock()
	require.Len(t, d.terminated, 2)
	require.Len(t, d.eventCounts, 1)
	d.mu.Unlock()

	// The pod leaves the watch; after forgetAfter nothing of it is remembered.
	now = now.Add(forgetAfter + 10*time.Minute)
	_, unlock := d.lock()
	assert.Empty(t, d.terminated, "termination dedupe memory")
	assert.Empty(t, d.eventCounts, "event count memory")
	assert.Empty(t, d.pods, "pod memory")
	assert.Empty(t, d.evicted, "eviction memory")
	unlock()
}

// KeepEvent stores in full only Events about this node (in "default") or attributed to one of
// its pods.
func TestKeepEventOnlyThisNode(t *testing.T) {
	d := NewDetector(Options{NodeName: node})
	pod := deploymentPod("web-5d8f7-abcde", "uid-1")
	d.observePod(pod, true)
	nodeEvent := func(name, ns string) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: name}, Reason: "EvictionThresholdMet"}
	}
	podEvent := func(ns, name string, uid string) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: name, UID: types.UID(uid)}, Reason: "Evicted"}
	}
	for _, tc := range []struct {
		name string
		ev   *corev1.Event
		want bool
	}{
		{"this node", nodeEvent(node, metav1.NamespaceDefault), true},
		{"another node", nodeEvent("node-b", metav1.NamespaceDefault), false},
		{"this node, tenant namespace", nodeEvent(node, "shop"), false},
		{"this node's pod", podEvent("shop", pod.Name, string(pod.UID)), true},
		{"unknown pod", podEvent("shop", pod.Name, "uid-elsewhere"), false},
		{"same UID, other name", podEvent("shop", "other", string(pod.UID)), false},
	} {
		assert.Equal(t, tc.want, d.KeepEvent(tc.ev), tc.name)
	}
}
