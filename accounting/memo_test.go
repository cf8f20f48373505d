package accounting

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The memo answers as the helpers do, a replaced spec object (an update) is derived again, and
// what a cycle did not use is gone after the next one.
func TestSpecMemo(t *testing.T) {
	v1 := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{container("a", storage("1Gi"), storage("100Mi"))}}}
	v2 := v1.DeepCopy() // the informer's object after an update
	v2.Spec.Containers[0] = container("a", storage("2Gi"), storage("200Mi"))
	m := NewSpecMemo()
	check := func(pod *corev1.Pod, limit, request string, rank int64) {
		t.Helper()
		l, ok := m.PodLimit(pod)
		assert.True(t, ok)
		assert.Equal(t, 0, l.Cmp(resource.MustParse(limit)), "limit %s, want %s", l.String(), limit)
		r, ok := m.PodRequest(pod)
		assert.True(t, ok)
		assert.Equal(t, 0, r.Cmp(resource.MustParse(request)), "request %s, want %s", r.String(), request)
		assert.Equal(t, rank, m.rankRequest(pod, Version{1, 37}))
	}
	m.Cycle()
	check(v1, "1Gi", "100Mi", 100<<20)
	check(v1, "1Gi", "100Mi", 100<<20)
	m.Cycle()
	check(v2, "2Gi", "200Mi", 200<<20)
	assert.Len(t, m.cur, 1)
	assert.Len(t, m.prev, 1, "v1, unused this cycle, is still known")
	m.Cycle()
	assert.Empty(t, m.cur)
	assert.Len(t, m.prev, 1, "v1 forgotten, v2 kept one more cycle")
	_, known := m.prev[v2]
	assert.True(t, known)

	// The rank request depends on the kubelet version (pod-level resources from 1.34).
	lvl := v2.DeepCopy()
	lvl.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
	assert.Equal(t, int64(200<<20), m.rankRequest(lvl, Version{1, 33}))
	assert.Equal(t, int64(0), m.rankRequest(lvl, Version{1, 37}))

	var none *SpecMemo // computes every time
	none.Cycle()
	l, ok := none.PodLimit(v2)
	assert.True(t, ok)
	assert.Equal(t, "2Gi", l.String())
}
