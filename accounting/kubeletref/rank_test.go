// Package kubeletref checks the exporter's eviction ranking against the kubelet's own eviction
// manager (k8s.io/kubernetes v1.37.2, pkg/kubelet/eviction), run through its exported API: a
// manager with a fake summary provider, evicting into a recording kill function. It is a module
// of its own so that k8s.io/kubernetes stays a test-only dependency.
package kubeletref

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/tools/record"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/kubernetes/pkg/kubelet/eviction"
	evictionapi "k8s.io/kubernetes/pkg/kubelet/eviction/api"
	"k8s.io/utils/clock"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/fixtures"
)

type summaryProvider struct{ s *statsapi.Summary }

func (p summaryProvider) Get(context.Context, bool) (*statsapi.Summary, error) { return p.s, nil }
func (p summaryProvider) GetCPUAndMemoryStats(context.Context) (*statsapi.Summary, error) {
	return p.s, nil
}

type diskInfo accounting.FsLayout

func (d diskInfo) HasDedicatedImageFs(context.Context) (bool, error) { return d.DedicatedImageFs, nil }
func (d diskInfo) HasDedicatedContainerFs(context.Context) (bool, error) {
	return d.SplitContainerFs, nil
}

type noGC struct{}

func (noGC) DeleteUnusedImages(context.Context) error        { return nil }
func (noGC) DeleteAllUnusedContainers(context.Context) error { return nil }

// kubeletFirst runs one eviction manager over pods with signal met and returns the pod it evicts,
// or nil when it evicts none within a second (a manager that evicts does so in milliseconds).
func kubeletFirst(t *testing.T, summary *statsapi.Summary, pods []*corev1.Pod, signal string, layout accounting.FsLayout) *corev1.Pod {
	t.Helper()
	// A quantity no filesystem reaches: the signal is always met, whatever the recording.
	huge := resource.MustParse("1Ei")
	config := eviction.Config{Thresholds: []evictionapi.Threshold{{
		Signal: evictionapi.Signal(signal), Operator: evictionapi.OpLessThan, Value: evictionapi.ThresholdValue{Quantity: &huge},
	}}}
	killed := make(chan *corev1.Pod, 1)
	kill := func(pod *corev1.Pod, _ bool, _ *int64, _ func(*corev1.PodStatus)) error {
		select {
		case killed <- pod:
		default:
		}
		return nil
	}
	manager, _ := eviction.NewManager(summaryProvider{summary}, config, kill, noGC{}, noGC{}, &record.FakeRecorder{},
		&corev1.ObjectReference{Kind: "Node", Name: summary.Node.NodeName}, clock.RealClock{}, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	active := func() []*corev1.Pod { return append([]*corev1.Pod(nil), pods...) }
	manager.Start(ctx, diskInfo(layout), active, func(*corev1.Pod) bool { return true }, 10*time.Millisecond)
	select {
	case pod := <-killed:
		return pod
	case <-time.After(time.Second):
		return nil
	}
}

// kubeletOrder is the kubelet's eviction order: the pod one manager evicts first, then the first
// of the remaining pods, and so on, until it evicts none (only critical pods are left).
func kubeletOrder(t *testing.T, summary *statsapi.Summary, pods []*corev1.Pod, signal string, layout accounting.FsLayout) []*corev1.Pod {
	var order []*corev1.Pod
	remaining := append([]*corev1.Pod(nil), pods...)
	for range len(pods) {
		first := kubeletFirst(t, summary, remaining, signal, layout)
		if first == nil {
			break
		}
		order = append(order, first)
		for i, p := range remaining {
			if p.UID == first.UID {
				remaining = append(remaining[:i], remaining[i+1:]...)
				break
			}
		}
	}
	return order
}

// withSynthetic gives the recording's pods synthetic ephemeral-storage requests and priorities:
// requests around each pod's usage (below, equal, above: the exceeds-request boundary), priorities
// in few classes (ties), and one critical pod.
func withSynthetic(pods []*corev1.Pod, summary *statsapi.Summary, variant int) []*corev1.Pod {
	usage := map[string]uint64{}
	for _, ps := range summary.Pods {
		if ps.EphemeralStorage != nil && ps.EphemeralStorage.UsedBytes != nil {
			usage[ps.PodRef.UID] = *ps.EphemeralStorage.UsedBytes
		}
	}
	out := make([]*corev1.Pod, 0, len(pods))
	for i, p := range pods {
		p = p.DeepCopy()
		prio := int32((i + variant) % 3 * 100)
		p.Spec.Priority = &prio
		if variant == 1 && i == 0 {
			critical := int32(2000000000)
			p.Spec.Priority = &critical
		}
		if len(p.Spec.Containers) > 0 {
			var req int64
			switch (i + variant) % 4 {
			case 0:
				req = 0
			case 1:
				req = int64(usage[string(p.UID)] / 2)
			case 2:
				req = int64(usage[string(p.UID)])
			case 3:
				req = int64(usage[string(p.UID)]) * 2
			}
			if req > 0 {
				c := &p.Spec.Containers[0]
				if c.Resources.Requests == nil {
					c.Resources.Requests = corev1.ResourceList{}
				}
				c.Resources.Requests[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(req, resource.BinarySI)
			}
			if variant == 1 && i%3 == 2 {
				// Pod-level resources (PodLevelResources, default on from 1.34): the kubelet's
				// ranking then ignores container-level requests, so this pod, well within its
				// request, ranks as exceeding it.
				p.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}
				c := &p.Spec.Containers[0]
				if c.Resources.Requests == nil {
					c.Resources.Requests = corev1.ResourceList{}
				}
				c.Resources.Requests[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(usage[string(p.UID)])*2+1, resource.BinarySI)
			}
		}
		out = append(out, p)
	}
	return out
}

// activePods are the pods the kubelet would rank: those not finished. Static pods appear under
// their mirror pod here, which the kubelet never evicts either (IsCriticalPod).
func activePods(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

func statsByUID(summary *statsapi.Summary) map[string]*statsapi.PodStats {
	m := map[string]*statsapi.PodStats{}
	for i := range summary.Pods {
		m[summary.Pods[i].PodRef.UID] = &summary.Pods[i]
	}
	return m
}

func TestRankDiskPressureAgainstKubelet(t *testing.T) {
	layouts := map[string]accounting.FsLayout{
		"shared":    {},
		"dedicated": {DedicatedImageFs: true},
		// Writable layers on nodefs, images apart (KubeletSeparateDiskGC, default on from 1.31).
		"split": {DedicatedImageFs: true, SplitContainerFs: true},
	}
	signals := []string{accounting.SignalNodeFsAvailable, accounting.SignalNodeFsInodesFree, accounting.SignalImageFsAvailable, accounting.SignalImageFsInodesFree}
	recordings := map[string]*dump.Dump{}
	for _, v := range fixtures.Versions {
		recordings[v] = fixtures.Load(t, v)
	}
	// The e2e kubelet's: its pods' real requests, a priority class and a sidecar, on a dedicated
	// imagefs (the kubelet evicted hog, then mixed, as ranked here: TestDiskPressure in test/e2e).
	for _, moment := range fixtures.E2E {
		recordings["e2e-v1.34-"+moment] = fixtures.LoadE2E(t, moment)
	}
	for v, d := range recordings {
		summary, err := d.Summary(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		stats := statsByUID(summary)
		for variant := range 3 {
			pods := activePods(d.Pods)
			if variant > 0 {
				pods = withSynthetic(pods, summary, variant-1)
			}
			for layoutName, layout := range layouts {
				for _, signal := range signals {
					t.Run(fmt.Sprintf("%s/variant%d/%s/%s", v, variant, layoutName, signal), func(t *testing.T) {
						input := make([]accounting.RankPod, len(pods))
						rankOf := map[string]int{}
						for i, p := range pods {
							input[i] = accounting.RankPod{Pod: p, Stats: stats[string(p.UID)]}
						}
						ranks := accounting.RankDiskPressure(signal, layout, accounting.Version{}, input)
						evictable := 0
						for i, p := range pods {
							rankOf[string(p.UID)] = ranks[i]
							if ranks[i] > 0 {
								evictable++
							}
						}
						order := kubeletOrder(t, summary, pods, signal, layout)
						if len(order) != evictable {
							t.Fatalf("kubelet evicted %d pods, we rank %d as evictable", len(order), evictable)
						}
						// The k-th pod the kubelet evicts holds our k-th smallest rank: rank k, or the
						// shared rank of a tie group that started before k.
						want := make([]int, 0, evictable)
						for _, r := range ranks {
							if r > 0 {
								want = append(want, r)
							}
						}
						sort.Ints(want)
						for k, p := range order {
							if got := rankOf[string(p.UID)]; got != want[k] {
								t.Fatalf("kubelet evicted %s/%s as #%d; we rank it %d, want %d (ranks %v)", p.Namespace, p.Name, k+1, got, want[k], rankOf)
							}
						}
					})
				}
			}
		}
	}
}
