package detect

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

const roMessage = `Error: failed to create containerd task: mkdir /run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs/etc/app: read-only file system: unknown`

// podEventOf is an Event about pod, as the kubelet records it.
func podEventOf(pod *corev1.Pod, name, reason, message string, count int32) *corev1.Event {
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: pod.Namespace, UID: types.UID("ev-" + name)},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			FieldPath: "spec.containers{app}"},
		Reason: reason, Message: message, Type: corev1.EventTypeWarning, Count: count,
	}
}

func nodeEventOf(nodeName, namespace, name, reason string, count int32) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: namespace, UID: types.UID("ev-" + name)},
		InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: nodeName, UID: types.UID(nodeName)},
		Reason:         reason, Message: "Attempting to reclaim ephemeral-storage", Type: corev1.EventTypeWarning, Count: count,
	}
}

// newClusterCounter is the events role's counter reading pods and nodes from a fake clientset
// holding objects; the clientset records every request.
func newClusterCounter(objects ...runtime.Object) (*ClusterCounter, *fake.Clientset, *time.Time) {
	client := fake.NewClientset(objects...)
	now := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	c := NewClusterCounter(ClusterOptions{
		Now: func() time.Time { return now },
		GetPod: func(ctx context.Context, ns, name string) (*corev1.Pod, error) {
			return client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		},
		GetNode: func(ctx context.Context, name string) (*corev1.Node, error) {
			return client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		},
		IsNotFound: apierrors.IsNotFound,
	})
	return c, client, &now
}

// gets counts the GET requests the counter made.
func gets(client *fake.Clientset) int {
	n := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "get" {
			n++
		}
	}
	return n
}

func TestClusterCounter(t *testing.T) {
	web := deploymentPod("web-5d8f7-abcde", "uid-web")
	web.Spec.NodeName = "node-b"
	unscheduled := deploymentPod("pending-1", "uid-pending")
	unscheduled.Spec.NodeName = ""
	nodeB := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-b", UID: "node-b-uid"}}
	forgedUID := podEventOf(web, "forged-uid", "Failed", roMessage, 1)
	forgedUID.InvolvedObject.UID = "uid-of-nothing"
	otherNS := podEventOf(web, "other-ns", "Failed", roMessage, 1)
	otherNS.Namespace = "tenant"
	badContainer := podEventOf(web, "bad-container", "Failed", roMessage, 1)
	badContainer.InvolvedObject.FieldPath = "spec.containers{not-in-spec}"
	gone := deploymentPod("gone-1", "uid-gone")
	roSeries := func(container string, v int) string {
		return `ephemeral_storage_read_only_write_failures_total{container="` + container + `",namespace="shop",node="node-b",source="event",workload="web",workload_kind="Deployment"} ` + strconv.Itoa(v) + "\n"
	}
	const roHeader = "# HELP ephemeral_storage_read_only_write_failures_total Writes that failed with Read-only file system (EROFS), by where they were seen.\n# TYPE ephemeral_storage_read_only_write_failures_total counter\n"
	const nodeHeader = "# HELP ephemeral_storage_node_eviction_events_total Node events EvictionThresholdMet and NodeHasDiskPressure for this node.\n# TYPE ephemeral_storage_node_eviction_events_total counter\n"
	unattributed := func(reason string, v int) string {
		return "# HELP ephemeral_storage_events_unattributed_total Events the events role would count but could not attribute to an existing pod or node, by why.\n# TYPE ephemeral_storage_events_unattributed_total counter\n" +
			`ephemeral_storage_events_unattributed_total{reason="` + reason + `"} ` + strconv.Itoa(v) + "\n"
	}
	type obs struct {
		ev      *corev1.Event
		initial bool
	}
	for _, tc := range []struct {
		name   string
		events []obs
		want   string // the whole exposition of the three counters
		gets   int    // GET requests to the API server
	}{
		{name: "read-only Failed Event of a Deployment's pod", events: []obs{{ev: podEventOf(web, "ro", "Failed", roMessage, 1)}},
			want: roHeader + roSeries("app", 1), gets: 1},
		{name: "repetitions add what the count rose by, a forged count at most 10, one lookup", events: []obs{
			{ev: podEventOf(web, "ro", "Failed", roMessage, 1)}, {ev: podEventOf(web, "ro", "Failed", roMessage, 3)},
			{ev: podEventOf(web, "ro", "Failed", roMessage, 2)}, {ev: podEventOf(web, "ro", "Failed", roMessage, 2147483647)}},
			want: roHeader + roSeries("app", 13), gets: 1},
		{name: "first list: remembered, not counted, no lookup; a later rise counts", events: []obs{
			{ev: podEventOf(web, "ro", "Failed", roMessage, 4), initial: true}, {ev: podEventOf(web, "ro", "Failed", roMessage, 5)}},
			want: roHeader + roSeries("app", 1), gets: 1},
		{name: "first list only", events: []obs{{ev: podEventOf(web, "ro", "Failed", roMessage, 4), initial: true},
			{ev: nodeEventOf("node-b", "default", "n", "EvictionThresholdMet", 1), initial: true}}},
		{name: "image pull failure: not read-only, no lookup", events: []obs{{ev: podEventOf(web, "pull", "Failed", "Failed to pull image \"x\": not found", 1)}}},
		{name: "Evicted Event: held for the pod's terminal status, nothing counted or read yet", events: []obs{
			{ev: podEventOf(web, "ev", "Evicted", roMessage, 1)}, {ev: evictionEvent(web, "ev2", `Usage of EmptyDir volume "data" exceeds the limit "1Mi". `, nil)}}},
		{name: "the agent's own hint is not a failure", events: []obs{{ev: podEventOf(web, "hint", ReadOnlyHintReason, roMessage, 1)}}},
		{name: "forged UID: the pod exists but is another", events: []obs{{ev: forgedUID}}, want: unattributed(UnattributedMismatch, 1), gets: 1},
		{name: "Event in another namespace than its pod", events: []obs{{ev: otherNS}}},
		{name: "pod not bound to a node", events: []obs{{ev: podEventOf(unscheduled, "u", "Failed", roMessage, 1)}}, want: unattributed(UnattributedMismatch, 1), gets: 1},
		{name: "pod gone: not counted, repetitions cost no second lookup", events: []obs{
			{ev: podEventOf(gone, "g", "Failed", roMessage, 1)}, {ev: podEventOf(gone, "g", "Failed", roMessage, 2)}},
			want: unattributed(UnattributedNotFound, 2), gets: 1},
		{name: "a container the spec does not have is other", events: []obs{{ev: badContainer}}, want: roHeader + roSeries(Other, 1), gets: 1},
		{name: "node Events of an existing node, by reason", events: []obs{
			{ev: nodeEventOf("node-b", "default", "n1", "EvictionThresholdMet", 1)}, {ev: nodeEventOf("node-b", "default", "n1", "EvictionThresholdMet", 2)},
			{ev: nodeEventOf("node-b", "default", "n2", "NodeHasDiskPressure", 1)}},
			want: nodeHeader + `ephemeral_storage_node_eviction_events_total{node="node-b",reason="EvictionThresholdMet"} 2` + "\n" +
				`ephemeral_storage_node_eviction_events_total{node="node-b",reason="NodeHasDiskPressure"} 1` + "\n", gets: 1},
		{name: "node Event in a tenant's namespace, or another reason", events: []obs{
			{ev: nodeEventOf("node-b", "tenant", "n1", "EvictionThresholdMet", 1)}, {ev: nodeEventOf("node-b", "default", "n2", "NodeReady", 1)}}},
		{name: "node Event of a node that does not exist", events: []obs{{ev: nodeEventOf("node-\xff-forged", "default", "n1", "NodeHasDiskPressure", 1)}},
			want: unattributed(UnattributedNotFound, 1), gets: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, client, _ := newClusterCounter(web, unscheduled, nodeB)
			for _, o := range tc.events {
				c.Observe(context.Background(), o.ev, o.initial)
			}
			require.NoError(t, testutil.CollectAndCompare(c.Collector(), strings.NewReader(tc.want)))
			assert.Equal(t, tc.gets, gets(client), "GET requests")
		})
	}
}

// TestClusterCounterForgetsPods: a pod's series and what is known of it go forgetAfter after its
// last Event; a pod that was not found is looked up again after negativeTTL.
func TestClusterCounterForgetsPods(t *testing.T) {
	web := deploymentPod("web-5d8f7-abcde", "uid-web")
	gone := deploymentPod("gone-1", "uid-gone")
	c, client, now := newClusterCounter(web)
	c.Observe(context.Background(), podEventOf(web, "ro", "Failed", roMessage, 1), false)
	c.Observe(context.Background(), podEventOf(gone, "g", "Failed", roMessage, 1), false)
	require.Equal(t, 1, testutil.CollectAndCount(c.Collector(), "ephemeral_storage_read_only_write_failures_total"))
	require.Equal(t, 2, gets(client))

	*now = now.Add(negativeTTL)
	c.Observe(context.Background(), podEventOf(gone, "g", "Failed", roMessage, 2), false)
	assert.Equal(t, 3, gets(client), "looked up again after negativeTTL")

	*now = now.Add(forgetAfter + time.Minute)
	c.Observe(context.Background(), nodeEventOf("n", "tenant", "x", "NodeReady", 1), false) // ignored, no prune
	c.remember(podEventOf(gone, "other", "Failed", roMessage, 1))                           // takes the lock: prunes
	assert.Equal(t, 0, testutil.CollectAndCount(c.Collector(), "ephemeral_storage_read_only_write_failures_total"), "the series went with its pod")
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.Empty(t, c.pods)
}

// TestClusterCounterEvictions: an Evicted Event is decided once its pod is terminal; it is the
// agent's when the status shows it (Failed, Evicted), counted here otherwise.
func TestClusterCounterEvictions(t *testing.T) {
	const msg = `Usage of EmptyDir volume "data" exceeds the limit "1Mi". `
	running := deploymentPod("web-5d8f7-abcde", "uid-web")
	succeeded := running.DeepCopy()
	succeeded.Status.Phase = corev1.PodSucceeded // exited 0 on SIGTERM: no reason, no message
	const evHeader = "# HELP ephemeral_storage_evictions_total Pods evicted by the kubelet, counted once per pod, by cause.\n# TYPE ephemeral_storage_evictions_total counter\n"
	counted := evHeader + `ephemeral_storage_evictions_total{cause="empty_dir",container="",namespace="shop",node="node-a",resource="",volume="data",workload="web",workload_kind="Deployment"} 1` + "\n"
	unattributed := func(reason string) string {
		return "# HELP ephemeral_storage_events_unattributed_total Events the events role would count but could not attribute to an existing pod or node, by why.\n# TYPE ephemeral_storage_events_unattributed_total counter\n" +
			`ephemeral_storage_events_unattributed_total{reason="` + reason + `"} 1` + "\n"
	}
	for _, tc := range []struct {
		name    string
		pod     *corev1.Pod // the pod as the API server has it at the checks; nil: deleted
		initial bool
		after   time.Duration // clock advance before the second check
		want    string
		gets    int
	}{
		{name: "status shows the eviction: the agent's", pod: evicted(running, msg), gets: 1},
		{name: "Succeeded without reason: only the Event tells, counted here", pod: succeeded, want: counted, gets: 1},
		{name: "first list: not counted", pod: succeeded, initial: true},
		{name: "still running: undecided", pod: running, gets: 2},
		{name: "still running after the patience: given up", pod: running, after: evictionPatience, want: unattributed(UnattributedError), gets: 2},
		{name: "deleted before it was terminal", want: unattributed(UnattributedNotFound), gets: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objects []runtime.Object
			if tc.pod != nil {
				objects = append(objects, tc.pod)
			}
			c, client, now := newClusterCounter(objects...)
			ev := evictionEvent(running, "ev", msg, nil)
			c.Observe(context.Background(), ev, tc.initial)
			c.Observe(context.Background(), evictionEvent(running, "ev-again", msg, nil), false) // a second Evicted Event: one pod, one eviction
			c.CheckEvictions(context.Background())
			*now = now.Add(tc.after)
			c.CheckEvictions(context.Background())
			require.NoError(t, testutil.CollectAndCompare(c.Collector(), strings.NewReader(tc.want)))
			assert.Equal(t, tc.gets, gets(client), "GET requests")
		})
	}
}

// TestEvictionCountedOnceAcrossRoles: an eviction reaches the agent as pod status and the events
// role as the kubelet's Evicted Event; the sum over both registries is exactly one, as Prometheus
// sums them. With --events.cluster-watch (the agent also sees the Event) it is still one.
func TestEvictionCountedOnceAcrossRoles(t *testing.T) {
	const msg = `Usage of EmptyDir volume "data" exceeds the limit "1Mi". `
	pod := deploymentPod("web-5d8f7-abcde", "uid-web")
	succeeded := pod.DeepCopy()
	succeeded.Status.Phase = corev1.PodSucceeded
	for _, tc := range []struct {
		name         string
		final        *corev1.Pod // the pod's terminal status
		clusterWatch bool        // the agent also watches Events (and the role is not deployed)
	}{
		{name: "status shows the eviction", final: evicted(pod, msg)},
		{name: "status Succeeded, only the Event tells", final: succeeded},
		{name: "agent with --events.cluster-watch", final: evicted(pod, msg), clusterWatch: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agent := NewDetector(Options{NodeName: node})
			role, _, _ := newClusterCounter(tc.final)
			agent.observePod(pod, true)
			ev := evictionEvent(pod, "ev", msg, nil)
			// The kubelet records the Event first, then writes the status (evictPod).
			if tc.clusterWatch {
				agent.observeEvent(ev, false)
			} else {
				role.Observe(context.Background(), ev, false)
			}
			agent.observePod(tc.final, false)
			role.CheckEvictions(context.Background())

			total := 0.0
			for _, c := range []prometheus.Collector{agent.Collector(), role.Collector()} {
				reg := prometheus.NewPedanticRegistry()
				require.NoError(t, reg.Register(c))
				families, err := reg.Gather()
				require.NoError(t, err)
				for _, f := range families {
					if f.GetName() == "ephemeral_storage_evictions_total" {
						for _, m := range f.GetMetric() {
							total += m.GetCounter().GetValue()
						}
					}
				}
			}
			assert.Equal(t, 1.0, total)
		})
	}
}
