package detect

import (
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
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
	namespace, name      string
	uid                  types.UID
	workloadKind, wlName string
	lastSeen             time.Time
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
		ref = &podRef{namespace: pod.Namespace, name: pod.Name, uid: pod.UID, workloadKind: kind, wlName: name}
		d.pods[pod.UID] = ref
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
		d.readOnlyLocked(ref, cs.Name, SourceTerminationMessage, f.Path, term.Message, 1)
	}
}

func (d *Detector) observeEvent(obj any, initial bool) {
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return
	}
	now, unlock := d.lock()
	defer unlock()

	count := max(ev.Count, 1)
	if ev.Series != nil {
		count = max(count, ev.Series.Count)
	}
	prev := d.eventCounts[ev.UID]
	d.eventCounts[ev.UID] = eventSeen{count: max(count, prev.count), at: now}
	// Repetitions of an event raise its count: count what is new since it was last seen.
	delta := count - prev.count
	counts := !initial && delta > 0

	involved := ev.InvolvedObject
	switch {
	case involved.Kind == "Node" && involved.Name == d.opts.NodeName && nodeEventReasons[ev.Reason]:
		if counts {
			d.metrics.nodeEvents.WithLabelValues(ev.Reason).Add(float64(delta))
			d.opts.Logger.Warn("node storage pressure event", "node", d.opts.NodeName, "reason", ev.Reason, "message", ev.Message, "count", count)
		}
	case involved.Kind != "Pod" || !d.onThisNodeLocked(ev):
	case ev.Reason == ReadOnlyHintReason: // the agent's own hint
	case ev.Reason == "Evicted":
		// The pod, not the event, is what is counted: once, whichever of event and status comes first.
		d.evictionLocked(involved.UID, d.refForEventLocked(ev), ev.Message, ev.Annotations, "event", initial, now)
	default:
		if path, ok := ParseReadOnly(ev.Message); ok && counts {
			d.readOnlyLocked(d.refForEventLocked(ev), containerOf(involved.FieldPath), SourceEvent, path, ev.Message, delta)
		}
	}
}

// onThisNodeLocked: the kubelet of this node reported it, or it is about a pod of this node.
func (d *Detector) onThisNodeLocked(ev *corev1.Event) bool {
	if ev.Source.Host == d.opts.NodeName || ev.ReportingInstance == d.opts.NodeName {
		return true
	}
	_, ok := d.pods[ev.InvolvedObject.UID]
	return ok
}

func (d *Detector) refForEventLocked(ev *corev1.Event) *podRef {
	if ref := d.pods[ev.InvolvedObject.UID]; ref != nil {
		return ref
	}
	// A pod this agent never saw (deleted before it started): its workload is unknown.
	return &podRef{namespace: ev.InvolvedObject.Namespace, name: ev.InvolvedObject.Name, uid: ev.InvolvedObject.UID}
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
	d.metrics.evictions.WithLabelValues(ref.namespace, ref.workloadKind, ref.wlName, string(e.Cause), e.Volume, e.Container, e.Resource).Inc()
	attrs := []any{"node", d.opts.NodeName, "namespace", ref.namespace, "pod", ref.name, "uid", string(uid),
		"workload_kind", ref.workloadKind, "workload", ref.wlName, "cause", string(e.Cause), "source", source}
	for _, kv := range [][2]string{{"volume", e.Volume}, {"container", e.Container}, {"resource", e.Resource}, {"limit", e.Limit},
		{"threshold", e.Threshold}, {"available", e.Available}, {"usage", e.Usage}, {"condition", e.Condition}} {
		if kv[1] != "" {
			attrs = append(attrs, kv[0], kv[1])
		}
	}
	attrs = append(attrs, d.lastSeenUsage(string(uid), e)...)
	attrs = append(attrs, "message", message)
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
	d.metrics.readOnly.WithLabelValues(ref.namespace, ref.workloadKind, ref.wlName, container, source).Add(float64(n))
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
	ref := d.pods[uid]
	if ref == nil {
		ref = &podRef{namespace: namespace, name: pod, uid: uid}
	}
	d.readOnlyLocked(ref, container, SourceContainerLog, path, line, 1)
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
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
