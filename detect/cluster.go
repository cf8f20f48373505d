package detect

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kube"
)

// Which path owns which signal (docs/architecture.md, "Roles"). Each occurrence is counted by
// exactly one of them, so sums across the agents and the events role never double count:
//
//   - the agent (node-scoped pod watch, no Event watch by default): evictions, from the pod's
//     status (phase Failed, reason Evicted, the kubelet's message), and read-only failures seen in
//     termination messages and container logs;
//   - the events role (one cluster-wide Event watch): what only Events show, the node's
//     EvictionThresholdMet and NodeHasDiskPressure Events and container creation failing on a
//     read-only filesystem (Failed Events, source="event").
//
// An eviction is the agent's when the pod's terminal status says so (phase Failed, reason
// Evicted), and the events role's otherwise: the kubelet records the Evicted Event before it
// writes the status (pkg/kubelet/eviction/eviction_manager.go, evictPod: AnnotatedEventf, then
// killPodFunc with the status), and a pod whose containers exit 0 on SIGTERM can end Succeeded
// without reason or message (kubelet v1.34.2, seen in make e2e), the Event its only trace. So the
// role holds each Evicted Event until the pod's phase is terminal and counts it only if that
// status does not show the eviction: one predicate on a final status decides, so exactly one path
// counts each eviction.

// Why an Event was not counted, the `reason` label of ephemeral_storage_events_unattributed_total.
const (
	UnattributedNotFound = "object_not_found" // its pod or node does not exist (any more)
	UnattributedMismatch = "object_mismatch"  // the object exists but is not the one named (UID, namespace) or is not on a node
	UnattributedError    = "lookup_failed"    // the API server did not answer
)

// negativeTTL is how long an object that could not be found is not looked up again: an Event's
// repetitions must not each cost a GET.
const negativeTTL = time.Minute

// Evictions wait for the pod's terminal status: looked up every EvictionCheckInterval, given up
// (not counted) after evictionPatience, when the pod is still not terminal.
const (
	EvictionCheckInterval = 5 * time.Second
	evictionPatience      = 30 * time.Minute
)

// maxClusterObjects bounds what the events role remembers of pods and nodes; past it, Events about
// objects not yet known are not counted (and logged) until pruning makes room.
const maxClusterObjects = 100_000

// ClusterOptions configure a ClusterCounter.
type ClusterOptions struct {
	Logger *slog.Logger
	Now    func() time.Time
	// GetPod and GetNode read one object from the API server (the events role's RBAC: pods get,
	// nodes get). An Event names objects; only what these return may become a label.
	GetPod  func(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	GetNode func(ctx context.Context, name string) (*corev1.Node, error)
	// IsNotFound tells a missing object from a failed request.
	IsNotFound func(error) bool
}

// podKey is an Event's involved pod as the Event names it. Results are remembered under the whole
// name, so that an Event naming a real pod's UID with another name cannot hide the real pod.
type podKey struct {
	uid             types.UID
	namespace, name string
}

// clusterPod is what the events role remembers of a pod named by an Event: verified against the
// API server, with the node it runs on.
type clusterPod struct {
	ref  *podRef // nil: looked up and not found or not matching
	node string
	why  string
	at   time.Time
}

// ClusterCounter counts, once for the cluster, what only Events show (see the ownership above),
// labelled with the node and the workload of the object the Event is about.
type ClusterCounter struct {
	opts    ClusterOptions
	metrics *clusterMetrics

	mu          sync.Mutex
	pods        map[podKey]*clusterPod // what an Event's involved object led to, found or not
	nodes       map[string]time.Time   // nodes that exist, when last confirmed
	eventCounts map[types.UID]eventSeen
	// pending are Evicted Events waiting for their pod's terminal status, by pod UID; evicted the
	// pods whose eviction was decided (counted here or left to the agent).
	pending   map[types.UID]pendingEviction
	evicted   map[types.UID]time.Time
	lastPrune time.Time
}

type pendingEviction struct {
	involved    corev1.ObjectReference
	message     string
	annotations map[string]string
	since       time.Time
}

// NewClusterCounter returns a counter; register Collector() and attach Handler() before the
// informers start.
func NewClusterCounter(o ClusterOptions) *ClusterCounter {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &ClusterCounter{opts: o, metrics: newClusterMetrics(),
		pods: map[podKey]*clusterPod{}, nodes: map[string]time.Time{}, eventCounts: map[types.UID]eventSeen{},
		pending: map[types.UID]pendingEviction{}, evicted: map[types.UID]time.Time{}}
}

// Collector exports the counters.
func (c *ClusterCounter) Collector() prometheus.Collector { return c.metrics }

// Handler observes the Event watches.
func (c *ClusterCounter) Handler(ctx context.Context) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerDetailedFuncs{
		AddFunc:    func(obj any, initial bool) { c.Observe(ctx, obj, initial) },
		UpdateFunc: func(_, obj any) { c.Observe(ctx, obj, false) },
	}
}

// Keep tells whether an Event may count: the informers store only these in full (kube.StripEvent).
func (c *ClusterCounter) Keep(ev *corev1.Event) bool {
	if ev.InvolvedObject.Kind == "Node" {
		return nodeEventReasons[ev.Reason]
	}
	if ev.Reason == "Evicted" {
		return true
	}
	_, ok := ParseReadOnly(ev.Message)
	return ok
}

// Observe counts one observation of an Event. Events in the first list of a watch (initial) are
// remembered, not counted, and cost no lookup: they were counted by the previous leader.
func (c *ClusterCounter) Observe(ctx context.Context, obj any, initial bool) {
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return
	}
	involved := ev.InvolvedObject
	switch {
	case involved.Kind == "Node" && nodeEventReasons[ev.Reason] && ev.Namespace == metav1.NamespaceDefault:
		// The kubelet records its node's Events in "default" (client-go tools/record/event.go,
		// makeEvent); one about a node in a tenant's namespace is not the kubelet's.
		c.observeNodeEvent(ctx, ev, initial)
	case involved.Kind == "Pod" && ev.Reason == "Evicted" && ev.Namespace == involved.Namespace:
		c.observeEviction(ev, initial)
	case involved.Kind == "Pod" && ev.Reason != ReadOnlyHintReason && ev.Namespace == involved.Namespace:
		// Only read-only failures are counted: parse before any lookup, so that the many other
		// Failed Events (image pulls) cost no request.
		if path, ok := ParseReadOnly(ev.Message); ok {
			c.observePodEvent(ctx, ev, path, initial)
		}
	}
}

func (c *ClusterCounter) observeNodeEvent(ctx context.Context, ev *corev1.Event, initial bool) {
	name := ev.InvolvedObject.Name
	if initial {
		c.remember(ev)
		return
	}
	if why := c.verifyNode(ctx, name); why != "" {
		c.unattributed(ev, why)
		return
	}
	now, unlock := c.lock()
	defer unlock()
	if delta := c.deltaLocked(ev, now); delta > 0 {
		c.metrics.nodeEvents.add("", float64(delta), name, ev.Reason)
		c.opts.Logger.Warn("node storage pressure event", "node", name, "reason", ev.Reason, "message", truncate(ev.Message, 1024), "count", delta)
	}
}

func (c *ClusterCounter) observePodEvent(ctx context.Context, ev *corev1.Event, path string, initial bool) {
	if initial {
		c.remember(ev)
		return
	}
	pod := c.verifyPod(ctx, ev.InvolvedObject)
	if pod.ref == nil {
		c.unattributed(ev, pod.why)
		return
	}
	now, unlock := c.lock()
	defer unlock()
	delta := c.deltaLocked(ev, now)
	if delta <= 0 {
		return
	}
	ref := pod.ref
	container := ref.container(containerOf(ev.InvolvedObject.FieldPath))
	c.metrics.readOnly.add(ref.uid, float64(delta), pod.node, ref.namespace, ref.workloadKind, ref.wlName, container, SourceEvent)
	c.opts.Logger.Warn("write failed on a read-only filesystem", "node", pod.node, "namespace", ref.namespace, "pod", ref.name,
		"workload_kind", ref.workloadKind, "workload", ref.wlName, "container", container, "source", SourceEvent, "path", path,
		"count", delta, "message", truncate(ev.Message, 1024))
}

// observeEviction holds an Evicted Event until its pod is terminal (CheckEvictions). An eviction
// in the first list is the previous leader's, or the agent's: only remembered.
func (c *ClusterCounter) observeEviction(ev *corev1.Event, initial bool) {
	now, unlock := c.lock()
	defer unlock()
	uid := ev.InvolvedObject.UID
	if _, done := c.evicted[uid]; done {
		return
	}
	if _, waiting := c.pending[uid]; waiting {
		return
	}
	if initial {
		c.evicted[uid] = now
		return
	}
	if len(c.pending) >= maxClusterObjects {
		c.metrics.unattributed.add("", 1, UnattributedError)
		return
	}
	c.pending[uid] = pendingEviction{involved: ev.InvolvedObject, message: ev.Message, annotations: ev.Annotations, since: now}
}

// RunEvictionChecks calls CheckEvictions every EvictionCheckInterval until ctx ends.
func (c *ClusterCounter) RunEvictionChecks(ctx context.Context) {
	t := time.NewTicker(EvictionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.CheckEvictions(ctx)
		}
	}
}

// CheckEvictions reads the pod of each pending eviction and decides it once the pod is terminal:
// the agent's when the status shows the eviction (phase Failed, reason Evicted, which is exactly
// what the agent counts), counted here otherwise.
func (c *ClusterCounter) CheckEvictions(ctx context.Context) {
	c.mu.Lock()
	pending := make([]pendingEviction, 0, len(c.pending))
	for _, p := range c.pending {
		pending = append(pending, p)
	}
	c.mu.Unlock()
	for _, p := range pending {
		c.checkEviction(ctx, p)
	}
}

func (c *ClusterCounter) checkEviction(ctx context.Context, p pendingEviction) {
	involved := p.involved
	pod, err := c.opts.GetPod(ctx, involved.Namespace, involved.Name)
	now, unlock := c.lock()
	defer unlock()
	why := ""
	switch {
	case err != nil && c.opts.IsNotFound != nil && c.opts.IsNotFound(err):
		// Deleted: if its last status showed the eviction, the agent counted it from the delete.
		why = UnattributedNotFound
	case err != nil:
		return // retried at the next check
	case pod.UID != involved.UID || pod.Namespace != involved.Namespace || pod.Name != involved.Name || pod.Spec.NodeName == "":
		why = UnattributedMismatch
	case pod.Status.Phase != corev1.PodFailed && pod.Status.Phase != corev1.PodSucceeded:
		if now.Sub(p.since) < evictionPatience {
			return
		}
		why = UnattributedError
	}
	delete(c.pending, involved.UID)
	c.evicted[involved.UID] = now
	if why != "" {
		c.metrics.unattributed.add("", 1, why)
		return
	}
	if pod.Status.Phase == corev1.PodFailed && pod.Status.Reason == "Evicted" {
		return // the agent's (Detector.observePod)
	}
	ref := newPodRef(pod, now)
	e := ClassifyEviction(p.message, p.annotations)
	e.Volume, e.Container = ref.volume(e.Volume), ref.container(e.Container)
	if e.Resource != "" && !resources[e.Resource] {
		e.Resource = Other
	}
	c.metrics.evictions.add(pod.UID, 1, pod.Spec.NodeName, ref.namespace, ref.workloadKind, ref.wlName, string(e.Cause), e.Volume, e.Container, e.Resource)
	c.pods[podKey{uid: pod.UID, namespace: pod.Namespace, name: pod.Name}] = &clusterPod{ref: ref, node: pod.Spec.NodeName, at: now}
	c.opts.Logger.Warn("pod evicted", "node", pod.Spec.NodeName, "namespace", ref.namespace, "pod", ref.name, "uid", string(pod.UID),
		"workload_kind", ref.workloadKind, "workload", ref.wlName, "cause", string(e.Cause), "source", "event",
		"status_phase", string(pod.Status.Phase), "message", truncate(p.message, 1024))
}

// newPodRef is what is remembered of a pod read from the API server: the names its spec allows.
func newPodRef(pod *corev1.Pod, now time.Time) *podRef {
	kind, name := kube.Workload(pod)
	ref := &podRef{uid: pod.UID, namespace: pod.Namespace, name: pod.Name, workloadKind: kind, wlName: name,
		containers: map[string]bool{}, volumes: map[string]bool{}, lastSeen: now}
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, ct := range cs {
			ref.containers[ct.Name] = true
		}
	}
	for _, ct := range pod.Spec.EphemeralContainers {
		ref.containers[ct.Name] = true
	}
	for _, v := range pod.Spec.Volumes {
		ref.volumes[v.Name] = true
	}
	return ref
}

// remember records an Event's count without counting it.
func (c *ClusterCounter) remember(ev *corev1.Event) {
	now, unlock := c.lock()
	defer unlock()
	c.deltaLocked(ev, now)
}

func (c *ClusterCounter) unattributed(ev *corev1.Event, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.metrics.unattributed.add("", 1, why)
}

// deltaLocked: see Detector.eventDeltaLocked, same rules (the count only rises, by at most
// maxEventDelta per observation).
func (c *ClusterCounter) deltaLocked(ev *corev1.Event, now time.Time) int32 {
	count := max(ev.Count, 1)
	if ev.Series != nil {
		count = max(count, ev.Series.Count)
	}
	prev := c.eventCounts[ev.UID]
	if count <= prev.count {
		c.eventCounts[ev.UID] = eventSeen{count: prev.count, at: now}
		return 0
	}
	delta := min(int64(count)-int64(prev.count), maxEventDelta)
	c.eventCounts[ev.UID] = eventSeen{count: prev.count + int32(delta), at: now}
	return int32(delta)
}

// verifyPod returns the pod an Event names, read from the API server once per UID (again after
// negativeTTL when it was not found): its namespace, name and UID must all be the Event's, and it
// must be bound to a node. The reporting host is not evidence.
func (c *ClusterCounter) verifyPod(ctx context.Context, involved corev1.ObjectReference) clusterPod {
	now := c.opts.Now()
	key := podKey{uid: involved.UID, namespace: involved.Namespace, name: involved.Name}
	c.mu.Lock()
	known := c.pods[key]
	if known != nil && known.ref != nil {
		known.ref.lastSeen = now
	}
	full := len(c.pods) >= maxClusterObjects
	c.mu.Unlock()
	if known != nil && (known.ref != nil || now.Sub(known.at) < negativeTTL) {
		return *known
	}
	if full {
		c.opts.Logger.Warn("events role: too many objects remembered, Event not counted", "limit", maxClusterObjects)
		return clusterPod{why: UnattributedError}
	}
	result := clusterPod{at: now}
	pod, err := c.opts.GetPod(ctx, involved.Namespace, involved.Name)
	switch {
	case err != nil && c.opts.IsNotFound != nil && c.opts.IsNotFound(err):
		result.why = UnattributedNotFound
	case err != nil:
		// Not remembered: the next observation tries again.
		return clusterPod{why: UnattributedError}
	case pod.UID != involved.UID || pod.Namespace != involved.Namespace || pod.Name != involved.Name || pod.Spec.NodeName == "":
		result.why = UnattributedMismatch
	default:
		result.ref, result.node = newPodRef(pod, now), pod.Spec.NodeName
	}
	c.mu.Lock()
	c.pods[key] = &result
	c.mu.Unlock()
	return result
}

// verifyNode returns "" when the node exists (read once, then trusted for forgetAfter).
func (c *ClusterCounter) verifyNode(ctx context.Context, name string) string {
	now := c.opts.Now()
	c.mu.Lock()
	_, known := c.nodes[name]
	full := len(c.nodes) >= maxClusterObjects
	c.mu.Unlock()
	if known {
		return ""
	}
	if full {
		return UnattributedError
	}
	node, err := c.opts.GetNode(ctx, name)
	switch {
	case err != nil && c.opts.IsNotFound != nil && c.opts.IsNotFound(err):
		return UnattributedNotFound
	case err != nil:
		return UnattributedError
	case node.Name != name:
		return UnattributedMismatch
	}
	c.mu.Lock()
	c.nodes[name] = now
	c.mu.Unlock()
	return ""
}

// lock takes the lock for one observation, after forgetting what has expired.
func (c *ClusterCounter) lock() (now time.Time, unlock func()) {
	now = c.opts.Now()
	c.mu.Lock()
	c.pruneLocked(now)
	return now, c.mu.Unlock
}

// pruneLocked forgets, every few minutes, what cannot be delivered again as new (see the
// Detector's), and the series of pods forgotten.
func (c *ClusterCounter) pruneLocked(now time.Time) {
	if now.Sub(c.lastPrune) < 5*time.Minute {
		return
	}
	c.lastPrune = now
	cutoff := now.Add(-forgetAfter)
	maps.DeleteFunc(c.pods, func(_ podKey, p *clusterPod) bool {
		if p.ref == nil {
			return now.Sub(p.at) >= negativeTTL
		}
		return p.ref.lastSeen.Before(cutoff)
	})
	maps.DeleteFunc(c.nodes, func(_ string, at time.Time) bool { return at.Before(cutoff) })
	maps.DeleteFunc(c.eventCounts, func(_ types.UID, s eventSeen) bool { return s.at.Before(cutoff) })
	maps.DeleteFunc(c.evicted, func(_ types.UID, at time.Time) bool { return at.Before(cutoff) })
	known := map[types.UID]bool{}
	for k, p := range c.pods {
		if p.ref != nil {
			known[k.uid] = true
		}
	}
	c.metrics.readOnly.prune(func(uid types.UID) bool { return known[uid] })
	c.metrics.evictions.prune(func(uid types.UID) bool { return known[uid] })
}

// NewLeaderGauge is the events role's ephemeral_storage_events_leader.
func NewLeaderGauge() prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ephemeral_storage_events_leader",
		Help: "1 on the events role replica that holds the Lease and exports the Event counters, 0 on the others.",
	})
}

// clusterMetrics are the events role's counters: the agent's names and labels (node a label here,
// a constant label there), so that rules and dashboards sum both without telling them apart.
type clusterMetrics struct {
	evictions, nodeEvents, readOnly, unattributed *counter
}

func newClusterMetrics() *clusterMetrics {
	return &clusterMetrics{
		evictions: newCounter(prometheus.CounterOpts{
			Name: "ephemeral_storage_evictions_total",
			Help: "Pods evicted by the kubelet, counted once per pod, by cause.",
		}, "node", "namespace", "workload_kind", "workload", "cause", "volume", "container", "resource"),
		nodeEvents: newCounter(prometheus.CounterOpts{
			Name: "ephemeral_storage_node_eviction_events_total",
			Help: "Node events EvictionThresholdMet and NodeHasDiskPressure for this node.",
		}, "node", "reason"),
		readOnly: newCounter(prometheus.CounterOpts{
			Name: "ephemeral_storage_read_only_write_failures_total",
			Help: "Writes that failed with Read-only file system (EROFS), by where they were seen.",
		}, "node", "namespace", "workload_kind", "workload", "container", "source"),
		unattributed: newCounter(prometheus.CounterOpts{
			Name: "ephemeral_storage_events_unattributed_total",
			Help: "Events the events role would count but could not attribute to an existing pod or node, by why.",
		}, "reason"),
	}
}

func (m *clusterMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.evictions.vec.Describe(ch)
	m.nodeEvents.vec.Describe(ch)
	m.readOnly.vec.Describe(ch)
	m.unattributed.vec.Describe(ch)
}

func (m *clusterMetrics) Collect(ch chan<- prometheus.Metric) {
	m.evictions.vec.Collect(ch)
	m.nodeEvents.vec.Collect(ch)
	m.readOnly.vec.Collect(ch)
	m.unattributed.vec.Collect(ch)
}
