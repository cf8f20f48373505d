package kube

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// NodeView is the agent's view of the API server: the pods bound to its node and the node object,
// each through an informer with a field selector, so an agent never lists the whole cluster and
// the API server's watch cache serves it cheaply on every node.
//
// It builds its informers directly rather than through the informer factory, which links every
// API group in (see Client).
type NodeView struct {
	nodeName string
	pods     cache.SharedIndexInformer
	nodes    cache.SharedIndexInformer
}

// NewNodeView prepares the watches; Start runs them.
func NewNodeView(client *Client, nodeName string, resync time.Duration) *NodeView {
	return &NodeView{
		nodeName: nodeName,
		pods: NewInformer(&corev1.Pod{}, fields.OneTermEqualSelector("spec.nodeName", nodeName), resync,
			client.ListFunc("pods"), client.WatchFunc("pods")),
		nodes: NewInformer(&corev1.Node{}, fields.OneTermEqualSelector("metadata.name", nodeName), resync,
			client.ListFunc("nodes"), client.WatchFunc("nodes")),
	}
}

// NewInformer is an informer of one kind restricted by a field selector, caching objects without
// their managed fields.
func NewInformer(obj runtime.Object, selector fields.Selector, resync time.Duration,
	list func(context.Context, metav1.ListOptions) (runtime.Object, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) cache.SharedIndexInformer {
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector.String()
			return list(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector.String()
			return watchFn(ctx, o)
		},
	}
	informer := cache.NewSharedIndexInformerWithOptions(lw, obj, cache.SharedIndexInformerOptions{ResyncPeriod: resync})
	_ = informer.SetTransform(StripUnread) // only fails once started
	return informer
}

// lastAppliedAnnotation holds a whole copy of the object as kubectl applied it.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// StripUnread drops, before an object is cached, the parts that no reader of the cache uses
// (model/, accounting/, detect/, the log scanner) and that are large on real clusters: managed
// fields, the last-applied annotation, the containers' environment, commands, ports, probes and
// lifecycle hooks, the pod's scheduling constraints, and the node's image list. What stays:
// metadata (names, UID, labels, other annotations, owners), every container's name, image,
// resources, restart policy, security context and mounts, volumes, the pod's resources, and
// status. The informer hands the transform its own freshly decoded object, so it edits in place.
func StripUnread(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a[lastAppliedAnnotation] != "" {
			delete(a, lastAppliedAnnotation)
		}
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		for i := range o.Spec.Containers {
			stripContainer(&o.Spec.Containers[i])
		}
		for i := range o.Spec.InitContainers {
			stripContainer(&o.Spec.InitContainers[i])
		}
		for i := range o.Spec.EphemeralContainers {
			stripEphemeralContainer(&o.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		}
		o.Spec.Affinity = nil
		o.Spec.Tolerations = nil
		o.Spec.TopologySpreadConstraints = nil
	case *corev1.Node:
		o.Status.Images = nil
	}
	return obj, nil
}

// stripContainer keeps of a container what the readers use.
func stripContainer(c *corev1.Container) {
	c.Env, c.EnvFrom, c.Command, c.Args, c.Ports = nil, nil, nil, nil, nil
	c.LivenessProbe, c.ReadinessProbe, c.StartupProbe, c.Lifecycle = nil, nil, nil, nil
}

// stripEphemeralContainer is stripContainer for the same fields of an ephemeral container.
func stripEphemeralContainer(c *corev1.EphemeralContainerCommon) {
	c.Env, c.EnvFrom, c.Command, c.Args, c.Ports = nil, nil, nil, nil, nil
	c.LivenessProbe, c.ReadinessProbe, c.StartupProbe, c.Lifecycle = nil, nil, nil, nil
}

// PodInformer is the node-scoped pod informer, for other consumers (the eviction detector) to
// add handlers to before Start.
func (v *NodeView) PodInformer() cache.SharedIndexInformer { return v.pods }

// Start runs the watches until ctx is done.
func (v *NodeView) Start(ctx context.Context) {
	go v.pods.RunWithContext(ctx)
	go v.nodes.RunWithContext(ctx)
}

// PodsSynced reports whether the initial pod list has completed.
func (v *NodeView) PodsSynced() bool { return v.pods.HasSynced() }

// NodeSynced reports whether the node object's initial list has completed.
func (v *NodeView) NodeSynced() bool { return v.nodes.HasSynced() }

// Pods returns the cached pods of the node. The objects are shared: do not modify them.
func (v *NodeView) Pods() []*corev1.Pod {
	items := v.pods.GetStore().List()
	pods := make([]*corev1.Pod, 0, len(items))
	for _, item := range items {
		if pod, ok := item.(*corev1.Pod); ok {
			pods = append(pods, pod)
		}
	}
	return pods
}

// Node returns the cached node object, or nil before it is known.
func (v *NodeView) Node() *corev1.Node {
	item, ok, err := v.nodes.GetStore().GetByKey(v.nodeName)
	if err != nil || !ok {
		return nil
	}
	node, _ := item.(*corev1.Node)
	return node
}
