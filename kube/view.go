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
	_ = informer.SetTransform(stripManagedFields) // only fails once started
	return informer
}

// stripManagedFields drops what the agent never reads before it is cached: managed fields are
// often the largest part of a pod object.
func stripManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
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
