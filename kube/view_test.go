package kube

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/fakeapi"
)

// The view lists and watches only its node's pods and its own node object: the API server is
// asked with field selectors, never for the whole cluster.
func TestNodeViewIsNodeScoped(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}, Spec: corev1.PodSpec{NodeName: "n1"}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	api := fakeapi.NewServer([]*corev1.Pod{pod}, node)
	defer api.Close()
	client, err := NewClient(&rest.Config{Host: api.URL})
	require.NoError(t, err)

	v := NewNodeView(client, "n1", 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v.Start(ctx)
	require.True(t, cache.WaitForCacheSync(ctx.Done(), v.PodsSynced, v.NodeSynced))

	require.Eventually(t, func() bool { return len(v.Pods()) == 1 && v.Node() != nil }, 5*time.Second, 10*time.Millisecond)
	assert.Nil(t, v.Pods()[0].ManagedFields, "managed fields are dropped before caching")
	assert.Equal(t, "n1", v.Node().Name)

	var selectors []string
	api.Selectors.Range(func(k, _ any) bool { selectors = append(selectors, k.(string)); return true })
	assert.ElementsMatch(t, []string{"/api/v1/pods?spec.nodeName=n1", "/api/v1/nodes?metadata.name=n1"}, selectors)
}
