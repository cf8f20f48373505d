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
	// LocalStorageCapacityIsolation is the kubelet's localStorageCapacityIsolation (default true);
	// when false the kubelet enforces no ephemeral-storage limit or emptyDir sizeLimit at all.
	LocalStorageCapacityIsolation *bool
	// Specs remembers what is derived from pod specs from one Build to the next (the agent's
	// cycles); nil derives everything every time. Builds sharing it must not run concurrently.
	Specs *accounting.SpecMemo
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
	opts.Specs.Cycle()
	snap := &Snapshot{NodeName: s.Node.NodeName, Time: in.Now}
	snap.Node = buildNode(s.Node, in.Node, opts)
	version := snap.Node.KubeletVersion
	var allocatableMemory *resource.Quantity
	if in.Node != nil {
		if q, ok := in.Node.Status.Allocatable[corev1.ResourceMemory]; ok {
			allocatableMemory = &q
		}
	}
	index := NewPodIndex(in.Pods)
	snap.Pods = make([]Pod, 0, len(s.Pods))
	// A pod is one set of series: a summary listing the same pod twice (or two UIDs under one
	// name, a pod recreated while the old one's stats linger) keeps the one that joins a spec.
	byName := make(map[[2]string]int, len(s.Pods))
	for i := range s.Pods {
		ps := &s.Pods[i]
		spec := index.Lookup(ps.PodRef.UID)
		if spec != nil && (spec.Status.Phase == corev1.PodSucceeded || spec.Status.Phase == corev1.PodFailed) {
			// Finished and evicted pods hold no storage the kubelet accounts: their series go.
			continue
		}
		key := [2]string{ps.PodRef.Namespace, ps.PodRef.Name}
		at, dup := byName[key]
		if dup && (spec == nil || snap.Pods[at].joined) {
			continue
		}
		pod := buildPod(ps, spec, opts.Specs, snap.Node.ImageFsDedicated, version, allocatableMemory, in.Now)
		if dup {
			snap.Pods[at] = pod
			continue
		}
		byName[key] = len(snap.Pods)
		snap.Pods = append(snap.Pods, pod)
	}
	for i := range snap.Pods {
		if !snap.Pods[i].joined {
			snap.UnmatchedPods++
		}
	}
	if opts.LocalStorageCapacityIsolation != nil {
		snap.Node.LocalStorageCapacityIsolation = Flag(*opts.LocalStorageCapacityIsolation)
	}
	rankPods(snap, s, in.Pods, index, opts.Specs)
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

func buildPod(ps *statsv1alpha1.PodStats, spec *corev1.Pod, specs *accounting.SpecMemo, dedicatedImageFs bool, version accounting.Version, allocatableMemory *resource.Quantity, now time.Time) Pod {
	pod := Pod{Namespace: ps.PodRef.Namespace, Name: ps.PodRef.Name, UID: ps.PodRef.UID, joined: spec != nil}
	var usage *uint64
	if ps.EphemeralStorage != nil {
		usage = ps.EphemeralStorage.UsedBytes
		pod.Usage = someUint(usage)
	}
	if spec != nil {
		pod.WorkloadKind, pod.Workload = kube.Workload(spec)
		pod.Evictable = Flag(accounting.Evictable(spec))
		if q, ok := specs.PodRequest(spec); ok {
			pod.Request = Some(accounting.Bytes(q))
		}
		// podEphemeralStorageLimitEviction: skipped when no container sets a limit; a limit of 0
		// evicts on the first byte.
		if q, ok := specs.PodLimit(spec); ok {
			pod.Limit = Some(accounting.Bytes(q))
			pod.Ratio = ratio(usage, q)
		}
	}
	pod.Containers = buildContainers(ps.Containers, spec, dedicatedImageFs, version)
	pod.Volumes = buildVolumes(ps.VolumeStats, spec, allocatableMemory, now)
	return pod
}

func ratio(usage *uint64, limit resource.Quantity) Opt {
	if usage == nil {
		return Opt{}
	}
	return Some(accounting.Ratio(*usage, limit))
}
