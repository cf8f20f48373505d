package accounting

import (
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// FsLayout is how the node's filesystems are split, the two facts the kubelet's
// buildSignalToRankFunc (pkg/kubelet/eviction/helpers.go) chooses its usage measures by.
type FsLayout struct {
	// DedicatedImageFs: images (and, unless SplitContainerFs, writable layers) on their own device.
	DedicatedImageFs bool
	// SplitContainerFs: writable layers on nodefs while images are on imagefs (KubeletSeparateDiskGC).
	SplitContainerFs bool
}

// fsStats are the parts of a pod's usage a ranking measures (fsStatsType in the kubelet).
type fsStats struct{ root, logs, localVolumes bool }

// measuredStats mirrors buildSignalToRankFunc (k8s.io/kubernetes v1.37.2): which parts of a pod's
// usage each disk signal ranks by. fsStatsImages is listed there too but podDiskUsage never reads it.
func measuredStats(signal string, layout FsLayout) fsStats {
	fs := signal[:strings.IndexByte(signal, '.')]
	switch {
	case layout.DedicatedImageFs && !layout.SplitContainerFs:
		if fs == "nodefs" {
			return fsStats{logs: true, localVolumes: true}
		}
		return fsStats{root: true} // imagefs and containerfs
	case layout.DedicatedImageFs && layout.SplitContainerFs:
		if fs == "imagefs" {
			return fsStats{}
		}
		return fsStats{root: true, logs: true, localVolumes: true} // nodefs and containerfs
	default:
		return fsStats{root: true, logs: true, localVolumes: true}
	}
}

// RankPod is one pod the kubelet would consider for eviction: an active pod and its summary
// stats (nil when the summary has none; the kubelet then ranks it first).
type RankPod struct {
	Pod   *corev1.Pod
	Stats *statsv1alpha1.PodStats
}

// DiskPressureUsage is the usage the kubelet ranks a pod by for signal (podDiskUsage): bytes for
// an available signal, inodes for an inodesFree one, summed as int64 like diskUsage/inodeUsage do
// (a uint64 above MaxInt64 wraps negative there, and here).
func DiskPressureUsage(p RankPod, signal string, layout FsLayout) int64 {
	if p.Stats == nil {
		return 0
	}
	measure := measuredStats(signal, layout)
	inodes := strings.HasSuffix(signal, ".inodesFree")
	var sum int64
	add := func(fs *statsv1alpha1.FsStats) {
		if fs == nil {
			return
		}
		v := fs.UsedBytes
		if inodes {
			v = fs.InodesUsed
		}
		if v != nil {
			sum += int64(*v) //nolint:gosec // the kubelet's own int64 conversion, wrap included
		}
	}
	for i := range p.Stats.Containers {
		if measure.root {
			add(p.Stats.Containers[i].Rootfs)
		}
		if measure.logs {
			add(p.Stats.Containers[i].Logs)
		}
	}
	if measure.localVolumes {
		for _, name := range localVolumeNames(p.Pod) {
			for i := range p.Stats.VolumeStats {
				if p.Stats.VolumeStats[i].Name == name {
					add(&p.Stats.VolumeStats[i].FsStats)
					break
				}
			}
		}
	}
	return sum
}

// localVolumeNames mirrors the kubelet's localVolumeNames: hostPath volumes and local ephemeral
// volumes (volumeutil.IsLocalEphemeralVolume: gitRepo, disk emptyDir, configMap).
func localVolumeNames(pod *corev1.Pod) []string {
	var names []string
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil || v.GitRepo != nil || v.ConfigMap != nil ||
			(v.EmptyDir != nil && v.EmptyDir.Medium == corev1.StorageMediumDefault) {
			names = append(names, v.Name)
		}
	}
	return names
}

// rankRequest is GetResourceRequestQuantity (pkg/api/v1/resource, k8s.io/kubernetes v1.37.2):
// PodRequests without overhead, plus overhead when non-zero. With the PodLevelResources gate on
// (default from 1.34) and pod-level resources set, container-level requests are skipped for
// every resource: a pod with a pod-level cpu or memory request ranks as if it requested no
// ephemeral-storage, a kubelet quirk followed here.
func rankRequest(pod *corev1.Pod, name corev1.ResourceName, kubelet Version) int64 {
	var total resource.Quantity
	skip := kubelet.AtLeast(1, 34) && resourcehelper.IsPodLevelResourcesSet(pod)
	if q, ok := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{ExcludeOverhead: true, SkipContainerLevelResources: skip})[name]; ok {
		total.Add(q)
	}
	if o, ok := pod.Spec.Overhead[name]; ok && !total.IsZero() {
		total.Add(o)
	}
	return total.Value()
}

// Evictable is the eviction manager's evictPod refusal turned around: a critical pod
// (kubelettypes.IsCriticalPod: static, mirror, or priority >= system-cluster-critical) is never
// evicted, neither under node pressure nor for exceeding a local-storage limit.
func Evictable(pod *corev1.Pod) bool {
	if pod == nil {
		return true
	}
	if source, ok := pod.Annotations["kubernetes.io/config.source"]; ok && source != "api" {
		return false // IsStaticPod: GetPodSource != ApiserverSource
	}
	if _, ok := pod.Annotations["kubernetes.io/config.mirror"]; ok {
		return false
	}
	return pod.Spec.Priority == nil || *pod.Spec.Priority < systemCriticalPriority
}

// systemCriticalPriority is scheduling.SystemCriticalPriority (2 * HighestUserDefinablePriority).
const systemCriticalPriority = 2 * 1000000000

// RankDiskPressure orders pods for eviction under signal as the kubelet's rankDiskPressureFunc
// does: pods whose measured usage exceeds their request first, then lower priority first, then
// larger usage above the ephemeral-storage request first. Pods without stats come first.
// Critical pods get rank 0: evictPod refuses them and the kubelet moves on to the next.
// Pods the comparison cannot tell apart share a rank (1 + the number of pods strictly before),
// since the kubelet's unstable sort may evict either first.
func RankDiskPressure(signal string, layout FsLayout, kubelet Version, pods []RankPod) []int {
	return (*SpecMemo)(nil).RankDiskPressure(signal, layout, kubelet, pods)
}

// RankDiskPressure is RankDiskPressure with the pods' requests remembered in m.
func (m *SpecMemo) RankDiskPressure(signal string, layout FsLayout, kubelet Version, pods []RankPod) []int {
	inodes := strings.HasSuffix(signal, ".inodesFree")
	type key struct {
		found, exceeds bool
		priority       int32
		aboveRequest   int64
	}
	keys := make([]key, len(pods))
	var order []int
	for i, p := range pods {
		if !Evictable(p.Pod) {
			continue
		}
		order = append(order, i)
		keys[i].priority = corev1helpers.PodPriority(p.Pod)
		if p.Stats == nil {
			continue
		}
		usage := DiskPressureUsage(p, signal, layout)
		// exceedDiskRequests compares with the request of the measured resource (inodes: none);
		// disk subtracts the ephemeral-storage request whatever the resource.
		request := m.rankRequest(p.Pod, kubelet)
		requestOfResource := int64(0)
		if !inodes {
			requestOfResource = request
		}
		keys[i] = key{
			found:        true,
			exceeds:      usage > requestOfResource,
			priority:     keys[i].priority,
			aboveRequest: usage - request,
		}
	}
	// cmp < 0: a goes before b.
	cmp := func(a, b key) int {
		switch {
		case a.found != b.found:
			return boolFirst(!a.found)
		case a.exceeds != b.exceeds: // both false when neither has stats
			return boolFirst(a.exceeds)
		case a.priority != b.priority:
			if a.priority < b.priority {
				return -1
			}
			return 1
		case a.aboveRequest != b.aboveRequest: // both 0 when neither has stats
			if a.aboveRequest > b.aboveRequest {
				return -1
			}
			return 1
		}
		return 0
	}
	sort.SliceStable(order, func(x, y int) bool { return cmp(keys[order[x]], keys[order[y]]) < 0 })
	ranks := make([]int, len(pods))
	for pos, i := range order {
		if pos > 0 && cmp(keys[order[pos-1]], keys[i]) == 0 {
			ranks[i] = ranks[order[pos-1]]
			continue
		}
		ranks[i] = pos + 1
	}
	return ranks
}

func boolFirst(first bool) int {
	if first {
		return -1
	}
	return 1
}
