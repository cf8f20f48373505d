package detect

import (
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kube"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// Sources of a read-only write failure, the `source` label.
const (
	SourceEvent              = "event"
	SourceTerminationMessage = "termination_message"
	SourceContainerLog       = "container_log"
)

// Node event reasons counted for the node itself.
var nodeEventReasons = map[string]bool{"EvictionThresholdMet": true, "NodeHasDiskPressure": true}

// resources the kubelet's eviction manager names as starved (pkg/kubelet/eviction/helpers.go,
// signalToResource: v1.ResourceMemory, v1.ResourceEphemeralStorage, resourceInodes, resourcePids).
// Any other value in a message or annotation is a forgery or a new kubelet: labelled `other`.
var resources = map[string]bool{"memory": true, "ephemeral-storage": true, "inodes": true, "pids": true}

// Other is the label value for a container, volume or resource that an Event or message names but
// the pod's spec (or the closed set) does not have.
const Other = "other"

// maxEventDelta bounds what one observation of an Event can add to a counter. A genuine Event's
// count rises by one per repetition and the watch delivers each update; after a broken watch a few
// may be missed. A forged count (2147483647) adds at most this much.
const maxEventDelta = 10

// forgetAfter bounds the de-duplication state: Events live one hour in the API server, evicted pods
// are usually deleted sooner; anything not seen for this long cannot come back as new.
const forgetAfter = 3 * time.Hour

// Options configure a Detector.
type Options struct {
	NodeName string
	Logger   *slog.Logger
	// Snapshot, when set, gives the last storage snapshot, so that an eviction's log line carries
	// the usage and limit the agent saw last.
	Snapshot func() *model.Snapshot
	Now      func() time.Time
	// ReadOnlyHint, when set, is told of each read-only failure counted (the Event hint).
	ReadOnlyHint func(ReadOnlyHint)
}

// podRef is what the detector remembers of a pod: enough to label what happens to it after it is
// gone from the watch.
type podRef struct {
	uid                  types.UID
	namespace, name      string
	workloadKind, wlName string
	// containers and volumes are the names in the pod's spec: the only names an Event or message
	// about this pod may put in a label.
	containers, volumes map[string]bool
	lastSeen            time.Time
}

// container returns name if the pod's spec has such a container, "" for none, Other otherwise.
func (r *podRef) container(name string) string { return specName(r.containers, name) }

// volume: see container.
func (r *podRef) volume(name string) string { return specName(r.volumes, name) }

func specName(names map[string]bool, name string) string {
	switch {
	case name == "":
		return ""
	case names[name]:
		return name
	}
	return Other
}

// Detector counts evictions and read-only write failures on one node, each once.
//
// Objects present in the first list of a watch (the agent just started) are remembered, not
// counted: they happened before this process, and were counted by the previous one, whose counter
// Prometheus saw reset. Re-lists after a broken watch deliver known objects again; the UIDs and
// counts remembered make them no-ops.
type Detector struct {
	opts    Options
	metrics *metrics

	mu          sync.Mutex
	pods        map[types.UID]*podRef
	evicted     map[types.UID]time.Time
	eventCounts map[types.UID]eventSeen
	terminated  map[string]time.Time // container runs whose termination message was read
	lastPrune   time.Time
}

type eventSeen struct {
	count int32
	at    time.Time
}

// NewDetector returns a detector; register Collector() and attach the handlers before the
// informers start.
func NewDetector(o Options) *Detector {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Detector{
		opts: o, metrics: newMetrics(o.NodeName),
		pods: map[types.UID]*podRef{}, evicted: map[types.UID]time.Time{},
		eventCounts: map[types.UID]eventSeen{}, terminated: map[string]time.Time{},
	}
}

// Collector exports the counters.
func (d *Detector) Collector() prometheus.Collector { return d.metrics }

// PodHandler observes the node-scoped pod watch.
func (d *Detector) PodHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    func(obj any, initial bool) { d.observePod(obj, initial) },
		UpdateFunc: func(_, obj any) { d.observePod(obj, false) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			d.observePod(obj, false)
		},
	}
}

// EventHandler observes the Event watches.
func (d *Detector) EventHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    func(obj any, initial bool) { d.observeEvent(obj, initial) },
		UpdateFunc: func(_, obj any) { d.observeEvent(obj, false) },
	}
}

func (d *Detector) observePod(obj any, initial bool) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	now, unlock := d.lock()
	defer unlock()
	ref := d.rememberLocked(pod, now)
	if pod.Status.Phase == corev1.PodFailed && pod.Status.Reason == "Evicted" {
		d.evictionLocked(pod.UID, ref, pod.Status.Message, nil, "pod_status", initial, now)
	}
	for _, statuses := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range statuses {
			for _, term := range []*corev1.ContainerStateTerminated{cs.LastTerminationState.Terminated, cs.State.Terminated} {
				d.terminationLocked(pod, ref, cs, term, initial, now)
			}
		}
	}
}

func (d *Detector) rememberLocked(pod *corev1.Pod, now time.Time) *podRef {
	ref := d.pods[pod.UID]
	if ref == nil {
		kind, name := kube.Workload(pod)
		ref = &podRef{uid: pod.UID, namespace: pod.Namespace, name: pod.Name, workloadKind: kind, wlName: name,
			containers: map[string]bool{}, volumes: map[string]bool{}}
		d.pods[pod.UID] = ref
	}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			ref.containers[c.Name] = true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		ref.containers[c.Name] = true
	}
	for _, v := range pod.Spec.Volumes {
		ref.volumes[v.Name] = true
	}
	ref.lastSeen = now
	return ref
}

func (d *Detector) terminationLocked(pod *corev1.Pod, ref *podRef, cs corev1.ContainerStatus, term *corev1.ContainerStateTerminated, initial bool, now time.Time) {
	if term == nil || term.Message == "" {
		return
	}
	key := string(pod.UID) + "/" + cs.Name + "/" + term.ContainerID + "/" + term.FinishedAt.UTC().Format(time.RFC3339)
	if _, seen := d.terminated[key]; seen {
		return
	}
	d.terminated[key] = now
	if initial {
		return
	}
	// One count per failure, however many lines it prints (an npm block, a stack trace).
	for _, f := range ReadOnlyFailures(term.Message) {
		d.readOnlyLocked(ref, ref.container(cs.Name), SourceTerminationMessage, f.Path, term.Message, 1)
	}
}

func (d *Detector) observeEvent(obj any, initial bool) {
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return
	}
	now, unlock := d.lock()
	defer unlock()

	// Events are untrusted: anyone allowed to create Events in a namespace can write any field.
	// Only Events about this node or about a pod the agent knows on this node count, and only by
	// names of that pod's spec and closed sets.
	involved := ev.InvolvedObject
	var ref *podRef
	switch {
	case involved.Kind == "Node" && involved.Name == d.opts.NodeName && nodeEventReasons[ev.Reason] && ev.Namespace == metav1.NamespaceDefault:
		// The kubelet's node Events are recorded in "default" (client-go tools/record/event.go,
		// makeEvent: a cluster-scoped object's Events go to metav1.NamespaceDefault); an Event
		// about this node created in a tenant's namespace is not the kubelet's.
	case involved.Kind == "Pod":
		if ref = d.podOfEventLocked(ev); ref == nil {
			return
		}
	default:
		return
	}
	delta := d.eventDeltaLocked(ev, now)
	counts := !initial && delta > 0

	switch {
	case ref == nil:
		if counts {
			d.metrics.nodeEvents.add("", float64(delta), ev.Reason)
			d.opts.Logger.Warn("node storage pressure event", "node", d.opts.NodeName, "reason", ev.Reason, "message", truncate(ev.Message, 1024), "count", delta)
		}
	case ev.Reason == ReadOnlyHintReason: // the agent's own hint, not a failure
	case ev.Reason == "Evicted":
		// The pod, not the event, is what is counted: once, whichever of event and status comes first.
		d.evictionLocked(ref.uid, ref, ev.Message, ev.Annotations, "event", initial, now)
	default:
		if path, ok := ParseReadOnly(ev.Message); ok && counts {
			d.readOnlyLocked(ref, ref.container(containerOf(involved.FieldPath)), SourceEvent, path, ev.Message, delta)
		}
	}
}

// eventDeltaLocked returns what an Event adds since it was last seen: repetitions raise its count.
// The count remembered only rises, and one observation adds at most maxEventDelta.
func (d *Detector) eventDeltaLocked(ev *corev1.Event, now time.Time) int32 {
	count := max(ev.Count, 1)
	if ev.Series != nil {
		count = max(count, ev.Series.Count)
	}
	prev, seen := d.eventCounts[ev.UID]
	if !seen {
		prev.count = 0
	}
	if count <= prev.count {
		d.eventCounts[ev.UID] = eventSeen{count: prev.count, at: now}
		return 0
	}
	delta := min(int64(count)-int64(prev.count), maxEventDelta)
	d.eventCounts[ev.UID] = eventSeen{count: prev.count + int32(delta), at: now}
	return int32(delta)
}

// podOfEventLocked attributes an Event to a pod of this node: the Event, its involved object's
// namespace, name and UID must all match a pod the agent saw in its node-scoped pod watch. The
// reporting host (source.host) is not evidence: anyone can write it.
func (d *Detector) podOfEventLocked(ev *corev1.Event) *podRef {
	involved := ev.InvolvedObject
	ref := d.pods[involved.UID]
	if ref == nil || ref.namespace != involved.Namespace || ref.name != involved.Name || ev.Namespace != involved.Namespace {
		return nil
	}
	return ref
}

// KeepEvent tells whether an Event may matter to this node: about the node itself, or attributed
// to a pod of this node (podOfEventLocked). The Event informers store only these in full.
func (d *Detector) KeepEvent(ev *corev1.Event) bool {
	involved := ev.InvolvedObject
	if involved.Kind == "Node" {
		return involved.Name == d.opts.NodeName && ev.Namespace == metav1.NamespaceDefault
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return involved.Kind == "Pod" && d.podOfEventLocked(ev) != nil
}

// containerOf reads the container from an Event's fieldPath, e.g. spec.containers{app}.
func containerOf(fieldPath string) string {
	for i := 0; i < len(fieldPath); i++ {
		if fieldPath[i] == '{' && fieldPath[len(fieldPath)-1] == '}' {
			return fieldPath[i+1 : len(fieldPath)-1]
		}
	}
	return ""
}

func (d *Detector) evictionLocked(uid types.UID, ref *podRef, message string, annotations map[string]string, source string, initial bool, now time.Time) {
	if _, seen := d.evicted[uid]; seen {
		return
	}
	d.evicted[uid] = now
	if initial {
		return
	}
	e := ClassifyEviction(message, annotations)
	// The message and annotations are untrusted: names only from the pod's spec, the resource
	// from the kubelet's closed set.
	e.Volume, e.Container = ref.volume(e.Volume), ref.container(e.Container)
	if e.Resource != "" && !resources[e.Resource] {
		e.Resource = Other
	}
	d.metrics.evictions.add(uid, 1, ref.namespace, ref.workloadKind, ref.wlName, string(e.Cause), e.Volume, e.Container, e.Resource)
	attrs := []any{"node", d.opts.NodeName, "namespace", ref.namespace, "pod", ref.name, "uid", string(uid),
		"workload_kind", ref.workloadKind, "workload", ref.wlName, "cause", string(e.Cause), "source", source}
	for _, kv := range [][2]string{{"volume", e.Volume}, {"container", e.Container}, {"resource", e.Resource}, {"limit", e.Limit},
		{"threshold", e.Threshold}, {"available", e.Available}, {"usage", e.Usage}, {"condition", e.Condition}} {
		if kv[1] != "" {
			attrs = append(attrs, kv[0], kv[1])
		}
	}
	attrs = append(attrs, d.lastSeenUsage(string(uid), e)...)
	attrs = append(attrs, "message", truncate(message, 1024))
	d.opts.Logger.Warn("pod evicted", attrs...)
}

// lastSeenUsage returns what the last snapshot said of the evicted object: the numbers that
// were about to cross the line.
func (d *Detector) lastSeenUsage(uid string, e Eviction) []any {
	if d.opts.Snapshot == nil {
		return nil
	}
	snap := d.opts.Snapshot()
	if snap == nil {
		return nil
	}
	for i := range snap.Pods {
		p := &snap.Pods[i]
		if p.UID != uid {
			continue
		}
		attrs := optAttrs(nil, "last_pod_usage_bytes", p.Usage, "last_pod_limit_bytes", p.Limit)
		for _, v := range p.Volumes {
			if v.Name == e.Volume {
				attrs = optAttrs(attrs, "last_volume_used_bytes", v.Used, "last_volume_size_limit_bytes", v.SizeLimit)
			}
		}
		for _, c := range p.Containers {
			if c.Name == e.Container {
				attrs = optAttrs(attrs, "last_container_usage_bytes", c.Usage, "last_container_limit_bytes", c.Limit)
			}
		}
		return append(attrs, "last_seen", snap.Time)
	}
	return nil
}

func optAttrs(attrs []any, k1 string, v1 model.Opt, k2 string, v2 model.Opt) []any {
	if v1.OK {
		attrs = append(attrs, k1, strconv.FormatFloat(v1.Value, 'f', -1, 64))
	}
	if v2.OK {
		attrs = append(attrs, k2, strconv.FormatFloat(v2.Value, 'f', -1, 64))
	}
	return attrs
}

func (d *Detector) readOnlyLocked(ref *podRef, container, source, path, message string, n int32) {
	d.metrics.readOnly.add(ref.uid, float64(n), ref.namespace, ref.workloadKind, ref.wlName, container, source)
	d.opts.Logger.Warn("write failed on a read-only filesystem", "node", d.opts.NodeName, "namespace", ref.namespace, "pod", ref.name,
		"workload_kind", ref.workloadKind, "workload", ref.wlName, "container", container, "source", source, "path", path, "count", n,
		"message", truncate(message, 1024))
	if d.opts.ReadOnlyHint != nil && ref.uid != "" {
		d.opts.ReadOnlyHint(ReadOnlyHint{Namespace: ref.namespace, Pod: ref.name, UID: ref.uid,
			WorkloadKind: ref.workloadKind, Workload: ref.wlName, Container: container, Path: path})
	}
}

// ObserveLogLine counts a read-only failure found in a container's log; the scanner calls it.
func (d *Detector) ObserveLogLine(namespace, pod string, uid types.UID, container, line string) {
	path, ok := ParseReadOnly(line)
	if !ok {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// The log directory is the kubelet's, named after a pod of this node; its container name is
	// checked against the spec when the pod is known.
	if ref := d.pods[uid]; ref != nil {
		container = ref.container(container)
		d.readOnlyLocked(ref, container, SourceContainerLog, path, line, 1)
		return
	}
	d.readOnlyLocked(&podRef{uid: uid, namespace: namespace, name: pod}, container, SourceContainerLog, path, line, 1)
}

// lock takes the detector's lock for one observation, after forgetting what has expired.
func (d *Detector) lock() (now time.Time, unlock func()) {
	now = d.opts.Now()
	d.mu.Lock()
	d.pruneLocked(now)
	return now, d.mu.Unlock
}

// pruneLocked forgets what cannot be delivered again as new, every few minutes.
func (d *Detector) pruneLocked(now time.Time) {
	if now.Sub(d.lastPrune) < 5*time.Minute {
		return
	}
	d.lastPrune = now
	cutoff := now.Add(-forgetAfter)
	expired := func(at time.Time) bool { return at.Before(cutoff) }
	maps.DeleteFunc(d.pods, func(_ types.UID, ref *podRef) bool { return expired(ref.lastSeen) })
	maps.DeleteFunc(d.evicted, func(_ types.UID, at time.Time) bool { return expired(at) })
	maps.DeleteFunc(d.eventCounts, func(_ types.UID, s eventSeen) bool { return expired(s.at) })
	maps.DeleteFunc(d.terminated, func(_ string, at time.Time) bool { return expired(at) })
	// A series goes with the last pod behind it: forgetAfter after the pod left the watch.
	known := func(uid types.UID) bool { _, ok := d.pods[uid]; return ok }
	d.metrics.evictions.prune(known)
	d.metrics.readOnly.prune(known)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
