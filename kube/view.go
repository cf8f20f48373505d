package kube

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// NodeView is the agent's view of the API server: the pods bound to its node and the node object,
// each through an informer with a field selector, so an agent never lists the whole cluster and
// the API server's watch cache serves it cheaply on every node.
type NodeView struct {
	nodeName    string
	podFactory  informers.SharedInformerFactory
	nodeFactory informers.SharedInformerFactory
	pods        cache.SharedIndexInformer
	nodes       cache.SharedIndexInformer
	podLister   listersv1.PodLister
	nodeLister  listersv1.NodeLister
}

// NewNodeView prepares the watches; Start runs them.
func NewNodeView(client kubernetes.Interface, nodeName string, resync time.Duration) *NodeView {
	v := &NodeView{nodeName: nodeName}
	v.podFactory = informers.NewSharedInformerFactoryWithOptions(client, resync,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", nodeName).String()
		}),
		informers.WithTransform(stripManagedFields))
	v.nodeFactory = informers.NewSharedInformerFactoryWithOptions(client, resync,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", nodeName).String()
		}),
		informers.WithTransform(stripManagedFields))
	v.pods = v.podFactory.Core().V1().Pods().Informer()
	v.podLister = v.podFactory.Core().V1().Pods().Lister()
	v.nodes = v.nodeFactory.Core().V1().Nodes().Informer()
	v.nodeLister = v.nodeFactory.Core().V1().Nodes().Lister()
	return v
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
	v.podFactory.Start(ctx.Done())
	v.nodeFactory.Start(ctx.Done())
}

// PodsSynced and NodeSynced report whether the initial lists have completed.
func (v *NodeView) PodsSynced() bool { return v.pods.HasSynced() }

// NodeSynced reports whether the node object's initial list has completed.
func (v *NodeView) NodeSynced() bool { return v.nodes.HasSynced() }

// Pods returns the cached pods of the node. The objects are shared: do not modify them.
func (v *NodeView) Pods() []*corev1.Pod {
	pods, _ := v.podLister.List(labels.Everything())
	return pods
}

// Node returns the cached node object, or nil before it is known.
func (v *NodeView) Node() *corev1.Node {
	node, err := v.nodeLister.Get(v.nodeName)
	if err != nil {
		return nil
	}
	return node
}
