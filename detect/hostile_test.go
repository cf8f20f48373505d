package detect

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// direct drives a detector's handlers without informers: hostile inputs, one at a time.
type direct struct {
	d   *Detector
	now time.Time
}

func newDirect(pods ...*corev1.Pod) *direct {
	x := &direct{now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	x.d = NewDetector(Options{NodeName: node, Now: func() time.Time { return x.now }})
	for _, p := range pods {
		x.d.PodHandler().OnAdd(p, true)
	}
	return x
}

func (x *direct) event(ev *corev1.Event) { x.d.EventHandler().OnAdd(ev, false) }

// series renders the detector's counters as in the informer tests.
func (x *direct) series(t *testing.T) string {
	t.Helper()
	return (&harness{detector: x.d}).evictions(t)
}

func readOnlyEvent(pod *corev1.Pod, uid, fieldPath string, count int32) *corev1.Event {
	return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: uid, Namespace: pod.Namespace, UID: types.UID(uid)},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, FieldPath: fieldPath},
		Reason:         "Failed", Count: count, Source: corev1.EventSource{Component: "kubelet", Host: node},
		Message: "Error: mkdir /var/lib/app: read-only file system"}
}

// Forged Events: each must leave exactly the series listed (empty: none at all).
func TestForgedEvents(t *testing.T) {
	victim := deploymentPod("web-5d8f7-abcde", "uid-1")
	for _, tc := range []struct {
		name  string
		forge func() []*corev1.Event
		want  string
	}{
		{"event in another namespace naming the victim's pod and UID", func() []*corev1.Event {
			ev := evictionEvent(victim, "forged", emptyDirEvictionMessage, nil)
			ev.Namespace = "attacker"
			return []*corev1.Event{ev}
		}, ""},
		{"involved object in another namespace with the victim's UID", func() []*corev1.Event {
			ev := evictionEvent(victim, "forged", emptyDirEvictionMessage, nil)
			ev.Namespace, ev.InvolvedObject.Namespace = "attacker", "attacker"
			return []*corev1.Event{ev}
		}, ""},
		{"victim's namespace and name, foreign UID, this node as source.host", func() []*corev1.Event {
			ev := evictionEvent(victim, "forged", emptyDirEvictionMessage, nil)
			ev.InvolvedObject.UID = "uid-unknown"
			return []*corev1.Event{ev}
		}, ""},
		{"victim's UID under another pod name", func() []*corev1.Event {
			ev := evictionEvent(victim, "forged", emptyDirEvictionMessage, nil)
			ev.InvolvedObject.Name = "web-5d8f7-zzzzz"
			return []*corev1.Event{ev}
		}, ""},
		{"node event for another node", func() []*corev1.Event {
			return []*corev1.Event{{ObjectMeta: metav1.ObjectMeta{Name: "n", Namespace: "default", UID: "ev-n"},
				InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "node-b"}, Reason: "EvictionThresholdMet", Count: 5}}
		}, ""},
		{"node event about this node created in a tenant's namespace", func() []*corev1.Event {
			return []*corev1.Event{{ObjectMeta: metav1.ObjectMeta{Name: "n", Namespace: "attacker", UID: "ev-n"},
				InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: node}, Reason: "NodeHasDiskPressure", Count: 1}}
		}, ""},
		{"node event with a reason outside the closed set", func() []*corev1.Event {
			return []*corev1.Event{{ObjectMeta: metav1.ObjectMeta{Name: "n", Namespace: "default", UID: "ev-n"},
				InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: node}, Reason: "Evil\xff", Count: 5}}
		}, ""},
		{"huge count counts at most maxEventDelta", func() []*corev1.Event {
			return []*corev1.Event{readOnlyEvent(victim, "ev-big", "spec.containers{app}", 2147483647)}
		}, `ephemeral_storage_read_only_write_failures_total{container=app,namespace=shop,source=event,workload=web,workload_kind=Deployment} 10`},
		{"huge node event count", func() []*corev1.Event {
			return []*corev1.Event{{ObjectMeta: metav1.ObjectMeta{Name: "n", Namespace: "default", UID: "ev-n"},
				InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: node}, Reason: "NodeHasDiskPressure", Count: 2147483647}}
		}, `ephemeral_storage_node_eviction_events_total{reason=NodeHasDiskPressure} 10`},
		{"count going down adds nothing", func() []*corev1.Event {
			first, second := readOnlyEvent(victim, "ev-1", "spec.containers{app}", 3), readOnlyEvent(victim, "ev-1", "spec.containers{app}", 1)
			return []*corev1.Event{first, second, first}
		}, `ephemeral_storage_read_only_write_failures_total{container=app,namespace=shop,source=event,workload=web,workload_kind=Deployment} 3`},
		{"10,000 distinct volume names: one eviction, volume other", func() []*corev1.Event {
			var evs []*corev1.Event
			for i := range 10000 {
				evs = append(evs, evictionEvent(victim, "ev"+strconv.Itoa(i),
					`Usage of EmptyDir volume "v`+strconv.Itoa(i)+`" exceeds the limit "5Mi". `, nil))
			}
			return evs
		}, `ephemeral_storage_evictions_total{cause=empty_dir,namespace=shop,volume=other,workload=web,workload_kind=Deployment} 1`},
		{"unknown container, resource and 100 KB names", func() []*corev1.Event {
			msg := "The node was low on resource: " + strings.Repeat("r", 100<<10) + ". Container " + strings.Repeat("c", 100<<10) +
				" was using 1Gi, request is 0, has larger consumption of ephemeral-storage. "
			return []*corev1.Event{evictionEvent(victim, "big", msg, nil)}
		}, `ephemeral_storage_evictions_total{cause=node_pressure,container=other,namespace=shop,resource=other,workload=web,workload_kind=Deployment} 1`},
		{"forged starved_resource annotation", func() []*corev1.Event {
			return []*corev1.Event{evictionEvent(victim, "ann", "The node was low on resource: ephemeral-storage. ",
				map[string]string{AnnotationStarvedResource: "x\xff\xfe", AnnotationOffendingContainers: "app"})}
		}, `ephemeral_storage_evictions_total{cause=node_pressure,container=app,namespace=shop,resource=other,workload=web,workload_kind=Deployment} 1`},
		{"invalid UTF-8 in message, field path and annotations", func() []*corev1.Event {
			ro := readOnlyEvent(victim, "ev-utf", "spec.containers{\xff\xfe}", 1)
			ro.Message = "\xff read-only file system \xc3\x28"
			ro.Annotations = map[string]string{"\xff": "\xfe"}
			ev := evictionEvent(victim, "ev-utf-2", "Container \xff\xfe exceeded its local ephemeral storage limit \"1\xffGi\". ",
				map[string]string{AnnotationOffendingContainers: "\xff"})
			return []*corev1.Event{ro, ev}
		}, `ephemeral_storage_evictions_total{cause=container_limit,container=other,namespace=shop,workload=web,workload_kind=Deployment} 1` + "\n" +
			`ephemeral_storage_read_only_write_failures_total{container=other,namespace=shop,source=event,workload=web,workload_kind=Deployment} 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newDirect(victim)
			for _, ev := range tc.forge() {
				require.NotPanics(t, func() { x.event(ev) })
			}
			assert.Equal(t, tc.want, x.series(t))
		})
	}
}

// A series goes forgetAfter after the last pod behind it left the watch, at the next prune.
func TestSeriesPrunedWithTheirPods(t *testing.T) {
	a := deploymentPod("web-5d8f7-aaaaa", "uid-a")
	b := deploymentPod("web-5d8f7-bbbbb", "uid-b")
	x := newDirect(a, b)
	x.event(readOnlyEvent(a, "ev-a", "spec.containers{app}", 1))
	x.event(readOnlyEvent(b, "ev-b", "spec.containers{app}", 1))
	want := `ephemeral_storage_read_only_write_failures_total{container=app,namespace=shop,source=event,workload=web,workload_kind=Deployment} 2`
	require.Equal(t, want, x.series(t))

	// a is seen again later; b is not. Past forgetAfter from b's last sighting, a still holds the series.
	x.now = x.now.Add(forgetAfter / 2)
	x.d.PodHandler().OnUpdate(nil, a)
	x.now = x.now.Add(forgetAfter/2 + 10*time.Minute)
	x.d.PodHandler().OnUpdate(nil, a)
	assert.Equal(t, want, x.series(t))
	x.d.mu.Lock()
	_, bKnown := x.d.pods["uid-b"]
	x.d.mu.Unlock()
	assert.False(t, bKnown)

	// Once a is forgotten too, the series goes.
	x.now = x.now.Add(forgetAfter + 10*time.Minute)
	x.event(&corev1.Event{}) // any observation prunes
	assert.Empty(t, x.series(t))
}

// KeepEvent is what the Event informers store in full: Events of this node and of its pods only.
func TestKeepEvent(t *testing.T) {
	pod := deploymentPod("web-5d8f7-abcde", "uid-1")
	x := newDirect(pod)
	ours := readOnlyEvent(pod, "ev", "", 1)
	foreign := readOnlyEvent(pod, "ev", "", 1)
	foreign.InvolvedObject.UID = "uid-other-node"
	forgedNS := readOnlyEvent(pod, "ev", "", 1)
	forgedNS.Namespace = "attacker"
	assert.True(t, x.d.KeepEvent(ours))
	assert.False(t, x.d.KeepEvent(foreign))
	assert.False(t, x.d.KeepEvent(forgedNS))
	assert.True(t, x.d.KeepEvent(&corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "default"}, InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: node}}))
	assert.False(t, x.d.KeepEvent(&corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "attacker"}, InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: node}}))
	assert.False(t, x.d.KeepEvent(&corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "node-b"}}))
}

var _ prometheus.Collector = (*metrics)(nil)

// FuzzEventHandling: arbitrary Event fields never panic and never create a label value outside
// the closed sets and the known pod's spec names.
func FuzzEventHandling(f *testing.F) {
	f.Add("shop", "shop", "web-5d8f7-abcde", "uid-1", "Evicted", emptyDirEvictionMessage, "spec.containers{app}", "app", "ephemeral-storage", int32(1))
	f.Add("shop", "shop", "web-5d8f7-abcde", "uid-1", "Failed", "read-only file system", "spec.containers{x\xff}", "", "", int32(2147483647))
	f.Add("x", "shop", "web-5d8f7-abcde", "uid-1", "Evicted", "The node was low on resource: memory. Container evil was using 1, request is 0, has larger consumption of memory. ", "", "evil", "evil", int32(-5))
	pod := deploymentPod("web-5d8f7-abcde", "uid-1")
	allowed := map[string]map[string]bool{
		"namespace": {"shop": true}, "workload_kind": {"Deployment": true}, "workload": {"web": true},
		"container": {"": true, "app": true, Other: true}, "volume": {"": true, "data": true, Other: true},
		"resource": {"": true, Other: true, "memory": true, "ephemeral-storage": true, "inodes": true, "pids": true},
		"cause":    {}, "source": {SourceEvent: true}, "reason": {"EvictionThresholdMet": true, "NodeHasDiskPressure": true},
		"node": {node: true},
	}
	for _, c := range []Cause{CauseEmptyDir, CauseContainerLimit, CausePodLimit, CauseNodePressure, CauseAdmission, CauseUnknown} {
		allowed["cause"][string(c)] = true
	}
	f.Fuzz(func(t *testing.T, evNS, involvedNS, name, uid, reason, message, fieldPath, offending, starved string, count int32) {
		x := newDirect(pod)
		for _, kind := range []string{"Pod", "Node"} {
			ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: evNS, UID: types.UID(uid + kind),
				Annotations: map[string]string{AnnotationOffendingContainers: offending, AnnotationStarvedResource: starved}},
				InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: involvedNS, Name: name, UID: types.UID(uid), FieldPath: fieldPath},
				Reason:         reason, Message: message, Count: count, Series: &corev1.EventSeries{Count: count}}
			x.event(ev)
			x.d.EventHandler().OnUpdate(nil, ev)
		}
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(x.d.Collector())
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range families {
			for _, m := range mf.GetMetric() {
				if v := m.GetCounter().GetValue(); v > 2*maxEventDelta {
					t.Fatalf("%s counted %g from one Event", mf.GetName(), v)
				}
				for _, lp := range m.GetLabel() {
					if !allowed[lp.GetName()][lp.GetValue()] {
						t.Fatalf("%s{%s=%q}: outside the closed sets and the pod's spec", mf.GetName(), lp.GetName(), lp.GetValue())
					}
				}
			}
		}
	})
}
