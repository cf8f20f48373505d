package kube

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"
)

// EventInformers are the Event watches of the eviction detector. Events cannot be selected by
// node, so each watch is narrowed by reason or object instead: evictions (rare), the node's own
// events and, with failed, container creation failures (every node's, which is why it can be
// turned off in very large clusters).
//
// The reason-scoped watches see every node's Events, so what is cached must not grow with them:
// each Event passes through StripEvent(keep) before the informer stores it, and only those keep
// accepts (this node's, decided by the detector) are kept with their content.
func EventInformers(client *Client, node string, resync time.Duration, failed bool, keep func(*corev1.Event) bool) []cache.SharedIndexInformer {
	eq := fields.OneTermEqualSelector
	selectors := []fields.Selector{
		fields.AndSelectors(eq("involvedObject.kind", "Pod"), eq("reason", "Evicted")),
		fields.AndSelectors(eq("involvedObject.kind", "Node"), eq("involvedObject.name", node)),
	}
	if failed {
		selectors = append(selectors, fields.AndSelectors(eq("involvedObject.kind", "Pod"), eq("reason", "Failed")))
	}
	informers := make([]cache.SharedIndexInformer, 0, len(selectors))
	for _, sel := range selectors {
		informer := NewInformer(&corev1.Event{}, sel, resync, client.ListFunc("events"), client.WatchFunc("events"))
		_ = informer.SetTransform(StripEvent(keep)) // only fails once started
		informers = append(informers, informer)
	}
	return informers
}

// ClusterEventSelectors are the events role's watches, one each for the whole cluster, narrowed by
// reason to what it counts: the kubelet's node pressure Events, container creation failures and
// evictions (counted when the pod's status does not show them).
var ClusterEventSelectors = []fields.Selector{
	fields.AndSelectors(fields.OneTermEqualSelector("involvedObject.kind", "Node"), fields.OneTermEqualSelector("reason", "EvictionThresholdMet")),
	fields.AndSelectors(fields.OneTermEqualSelector("involvedObject.kind", "Node"), fields.OneTermEqualSelector("reason", "NodeHasDiskPressure")),
	fields.AndSelectors(fields.OneTermEqualSelector("involvedObject.kind", "Pod"), fields.OneTermEqualSelector("reason", "Failed")),
	fields.AndSelectors(fields.OneTermEqualSelector("involvedObject.kind", "Pod"), fields.OneTermEqualSelector("reason", "Evicted")),
}

// ClusterEventInformers are the events role's Event watches (ClusterEventSelectors). As the
// agent's, they store each Event through StripEvent(keep): in full only when keep accepts it (a
// message the role counts), so the many Failed Events of image pulls cost a few dozen bytes each.
func ClusterEventInformers(client *Client, resync time.Duration, keep func(*corev1.Event) bool) []cache.SharedIndexInformer {
	informers := make([]cache.SharedIndexInformer, 0, len(ClusterEventSelectors))
	for _, sel := range ClusterEventSelectors {
		informer := NewInformer(&corev1.Event{}, sel, resync, client.ListFunc("events"), client.WatchFunc("events"))
		_ = informer.SetTransform(StripEvent(keep)) // only fails once started
		informers = append(informers, informer)
	}
	return informers
}

// GetPod reads one pod: the events role checks that the pod an Event names exists as named.
func (c *Client) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	pod := &corev1.Pod{}
	err := c.rest.Get().Namespace(namespace).Resource("pods").Name(name).Do(ctx).Into(pod)
	return pod, err
}

// GetNode reads one node; see GetPod.
func (c *Client) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	node := &corev1.Node{}
	err := c.rest.Get().Resource("nodes").Name(name).Do(ctx).Into(node)
	return node, err
}

// Bounds on what a kept Event may hold; the kubelet's messages are a few hundred bytes.
const (
	maxEventMessageBytes    = 4 << 10
	maxEventAnnotationBytes = 1 << 10
)

// eventAnnotations are the only annotations read (the kubelet's eviction manager sets them).
var eventAnnotations = []string{"offending_containers", "starved_resource"}

// StripEvent returns an informer transform that copies only the fields the detector reads out of
// an Event, bounded in size, when keep accepts it, and otherwise only what the store needs to key
// it (namespace, name, resource version): a foreign Event costs a few dozen bytes whatever it
// carries.
func StripEvent(keep func(*corev1.Event) bool) cache.TransformFunc {
	return func(obj any) (any, error) {
		ev, ok := obj.(*corev1.Event)
		if !ok {
			return obj, nil
		}
		out := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ev.Namespace, Name: ev.Name, ResourceVersion: ev.ResourceVersion}}
		if keep == nil || !keep(ev) {
			return out, nil
		}
		out.UID = ev.UID
		out.InvolvedObject = corev1.ObjectReference{Kind: ev.InvolvedObject.Kind, Namespace: ev.InvolvedObject.Namespace,
			Name: ev.InvolvedObject.Name, UID: ev.InvolvedObject.UID, FieldPath: truncate(ev.InvolvedObject.FieldPath, maxEventAnnotationBytes)}
		out.Reason, out.Message, out.Count = ev.Reason, truncate(ev.Message, maxEventMessageBytes), ev.Count
		if ev.Series != nil {
			out.Series = &corev1.EventSeries{Count: ev.Series.Count}
		}
		for _, k := range eventAnnotations {
			if v, ok := ev.Annotations[k]; ok {
				if out.Annotations == nil {
					out.Annotations = map[string]string{}
				}
				out.Annotations[k] = truncate(v, maxEventAnnotationBytes)
			}
		}
		return out, nil
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
