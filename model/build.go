package model

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kube"
)

// ImageFsMode says how to tell whether the node has a dedicated image filesystem, which decides
// whether the kubelet counts a container's writable layer against its limit.
type ImageFsMode string

const (
	// ImageFsAuto infers it from the summary: imagefs is shared when it reports the capacity and
	// inode count of nodefs. Two distinct filesystems of identical size read as shared, which
	// overstates container usage (alerts early, never late); set the mode explicitly there.
	ImageFsAuto      ImageFsMode = "auto"
	ImageFsDedicated ImageFsMode = "dedicated"
	ImageFsShared    ImageFsMode = "shared"
)

// Options are the node facts the kubelet is configured with and the summary does not show.
type Options struct {
	ImageFs    ImageFsMode
	Thresholds []accounting.Threshold
}

// Inputs are one cycle's data: a summary and the agent's view of the API server at that time.
type Inputs struct {
	Summary *statsv1alpha1.Summary
	Pods    []*corev1.Pod
	Node    *corev1.Node // may be nil
	Now     time.Time
}

// Build joins a summary with pod specs and the node into a Snapshot.
func Build(in Inputs, opts Options) *Snapshot {
	s := in.Summary
	snap := &Snapshot{NodeName: s.Node.NodeName, Time: in.Now}
	snap.Node = buildNode(s.Node, in.Node, opts)
	var allocatableMemory *resource.Quantity
	if in.Node != nil {
		if q, ok := in.Node.Status.Allocatable[corev1.ResourceMemory]; ok {
			allocatableMemory = &q
		}
	}
	index := NewPodIndex(in.Pods)
	snap.Pods = make([]Pod, 0, len(s.Pods))
	for i := range s.Pods {
		ps := &s.Pods[i]
		spec := index.Lookup(ps.PodRef.UID)
		if spec == nil {
			snap.UnmatchedPods++
		} else if spec.Status.Phase == corev1.PodSucceeded || spec.Status.Phase == corev1.PodFailed {
			// Finished and evicted pods hold no storage the kubelet accounts: their series go.
			continue
		}
		snap.Pods = append(snap.Pods, buildPod(ps, spec, snap.Node.ImageFsDedicated, allocatableMemory, in.Now))
	}
	return snap
}

// PodIndex finds a pod spec by the UID the summary reports. Static pods appear in the summary
// under the kubelet's own UID, which their mirror pod carries in an annotation: a join by the API
// object's UID alone would silently drop them.
type PodIndex map[string]*corev1.Pod

// NewPodIndex indexes pods by UID and by mirror annotation.
func NewPodIndex(pods []*corev1.Pod) PodIndex {
	index := make(PodIndex, len(pods))
	for _, p := range pods {
		index[string(p.UID)] = p
		if uid := p.Annotations[kube.MirrorPodAnnotation]; uid != "" {
			index[uid] = p
		}
	}
	return index
}

// Lookup returns the pod the summary knows by uid, or nil.
func (x PodIndex) Lookup(uid string) *corev1.Pod { return x[uid] }

func buildPod(ps *statsv1alpha1.PodStats, spec *corev1.Pod, dedicatedImageFs bool, allocatableMemory *resource.Quantity, now time.Time) Pod {
	pod := Pod{Namespace: ps.PodRef.Namespace, Name: ps.PodRef.Name, UID: ps.PodRef.UID}
	if ps.EphemeralStorage != nil {
		pod.Usage = someUint(ps.EphemeralStorage.UsedBytes)
	}
	if spec != nil {
		pod.WorkloadKind, pod.Workload = kube.Workload(spec)
		if v, ok := accounting.PodRequest(spec); ok {
			pod.Request = Some(v)
		}
		// podEphemeralStorageLimitEviction: skipped when no container sets a limit.
		if v, ok := accounting.PodLimit(spec); ok {
			pod.Limit = Some(v)
			pod.Ratio = ratio(pod.Usage, v)
		}
	}
	pod.Containers = buildContainers(ps.Containers, spec, dedicatedImageFs)
	pod.Volumes = buildVolumes(ps.VolumeStats, spec, allocatableMemory, now)
	return pod
}

func ratio(usage Opt, limit int64) Opt {
	if !usage.OK || limit <= 0 {
		return Opt{}
	}
	return Some(usage.Value / float64(limit))
}
