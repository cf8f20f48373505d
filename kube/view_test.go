package kube

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

// The view lists and watches only its node's pods and its own node object: the API server is
// asked with field selectors, never for the whole cluster.
func TestNodeViewIsNodeScoped(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}, Spec: corev1.PodSpec{NodeName: "n1"}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	client := fake.NewClientset(pod, node)

	var mu sync.Mutex
	selectors := map[string][]string{}
	record := func(action k8stesting.Action) (bool, runtime.Object, error) {
		var selector string
		switch a := action.(type) {
		case k8stesting.ListAction:
			selector = a.GetListRestrictions().Fields.String()
		case k8stesting.WatchAction:
			selector = a.GetWatchRestrictions().Fields.String()
		}
		mu.Lock()
		selectors[action.GetResource().Resource] = append(selectors[action.GetResource().Resource], action.GetVerb()+" "+selector)
		mu.Unlock()
		return false, nil, nil
	}
	client.PrependReactor("list", "*", record)
	client.PrependWatchReactor("*", func(action k8stesting.Action) (bool, watch.Interface, error) {
		record(action)
		return false, nil, nil
	})

	v := NewNodeView(client, "n1", 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v.Start(ctx)
	require.True(t, cache.WaitForCacheSync(ctx.Done(), v.PodsSynced, v.NodeSynced))

	require.Eventually(t, func() bool { return len(v.Pods()) == 1 && v.Node() != nil }, 5*time.Second, 10*time.Millisecond)
	assert.Nil(t, v.Pods()[0].ManagedFields, "managed fields are dropped before caching")
	mu.Lock()
	defer mu.Unlock()
	for _, s := range selectors["pods"] {
		assert.Contains(t, s, "spec.nodeName=n1")
	}
	for _, s := range selectors["nodes"] {
		assert.Contains(t, s, "metadata.name=n1")
	}
	assert.NotEmpty(t, selectors["pods"])
	assert.NotEmpty(t, selectors["nodes"])
}
