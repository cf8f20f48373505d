package accounting

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// SpecMemo remembers what this package derives from a pod spec with the kubelet's resource
// helpers, which build whole ResourceLists to read one resource: at 250 pods they were the largest
// cost of a cycle after decoding (docs/performance.md). It keys by spec object: an informer
// replaces a pod's object on every update and never modifies it, so one pointer is one version of
// a spec. What a cycle did not use is dropped at the next Cycle, so it holds at most two cycles'
// pods. Not safe for concurrent use. A nil *SpecMemo computes every time.
type SpecMemo struct {
	cur, prev map[*corev1.Pod]*specFacts
}

type specFacts struct {
	request, limit     resource.Quantity
	requestOK, limitOK bool

	rankRequest int64
	rankFor     Version // the kubelet version rankRequest was computed for
	ranked      bool
}

// NewSpecMemo returns an empty memo.
func NewSpecMemo() *SpecMemo {
	return &SpecMemo{cur: map[*corev1.Pod]*specFacts{}, prev: map[*corev1.Pod]*specFacts{}}
}

// Cycle starts a cycle: what was not used since the previous call is forgotten.
func (m *SpecMemo) Cycle() {
	if m == nil {
		return
	}
	m.prev, m.cur = m.cur, m.prev
	clear(m.cur)
}

// facts returns what is known of pod, deriving its request and limit the first time: the model
// reads both for every pod it joins.
func (m *SpecMemo) facts(pod *corev1.Pod) *specFacts {
	if f, ok := m.cur[pod]; ok {
		return f
	}
	f, ok := m.prev[pod]
	if !ok {
		f = &specFacts{}
		f.request, f.requestOK = PodRequest(pod)
		f.limit, f.limitOK = PodLimit(pod)
	}
	m.cur[pod] = f
	return f
}

// PodRequest is PodRequest(pod), remembered.
func (m *SpecMemo) PodRequest(pod *corev1.Pod) (resource.Quantity, bool) {
	if m == nil {
		return PodRequest(pod)
	}
	f := m.facts(pod)
	return f.request, f.requestOK
}

// PodLimit is PodLimit(pod), remembered.
func (m *SpecMemo) PodLimit(pod *corev1.Pod) (resource.Quantity, bool) {
	if m == nil {
		return PodLimit(pod)
	}
	f := m.facts(pod)
	return f.limit, f.limitOK
}

// rankRequest is rankRequest(pod, ephemeral-storage, kubelet), remembered.
func (m *SpecMemo) rankRequest(pod *corev1.Pod, kubelet Version) int64 {
	if m == nil {
		return rankRequest(pod, corev1.ResourceEphemeralStorage, kubelet)
	}
	f := m.facts(pod)
	if !f.ranked || f.rankFor != kubelet {
		f.rankRequest, f.rankFor, f.ranked = rankRequest(pod, corev1.ResourceEphemeralStorage, kubelet), kubelet, true
	}
	return f.rankRequest
}
