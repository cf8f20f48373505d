package kube

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/cache"
)

// EventInformers are the Event watches of the eviction detector. Events cannot be selected by
// node, so each watch is narrowed by reason or object instead, and the detector filters them to
// the node: evictions (rare), the node's own events and, with failed, container creation failures
// (every node's, which is why it can be turned off in very large clusters).
func EventInformers(client *Client, node string, resync time.Duration, failed bool) []cache.SharedIndexInformer {
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
		informers = append(informers, NewInformer(&corev1.Event{}, sel, resync, client.ListFunc("events"), client.WatchFunc("events")))
	}
	return informers
}
