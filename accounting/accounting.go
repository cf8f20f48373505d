// Package accounting mirrors the local-storage rules of the kubelet's eviction manager
// (pkg/kubelet/eviction/eviction_manager.go, localStorageEviction) and the kubelet's tmpfs sizing
// of memory-backed emptyDirs, as pure functions over pod specs and summary numbers.
//
// Each function names the kubelet code it mirrors. A bound is reported only where the kubelet
// enforces one, so that every ratio built from these functions means "evicted when > 1".
package accounting

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Exceeds reports whether usage passes limit the way every local-storage rule of the eviction
// manager compares them: strictly (usage.Cmp(limit) > 0), so usage == limit is not an eviction.
func Exceeds(usage uint64, limit int64) bool {
	return limit >= 0 && usage > uint64(limit)
}

// PodLimit is the pod-level ephemeral-storage limit of podEphemeralStorageLimitEviction:
// resourcehelper.PodLimits(pod, PodResourcesOptions{}), i.e. the sum of app container limits
// (plus restartable init containers) max'd with each init container's need, plus pod overhead
// on a non-zero limit. Pod-level resources (spec.resources) never cover ephemeral-storage.
// ok is false when no container sets the limit: the kubelet then skips the rule.
func PodLimit(pod *corev1.Pod) (limit int64, ok bool) {
	q, ok := resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{})[corev1.ResourceEphemeralStorage]
	return q.Value(), ok
}

// PodRequest is the pod's effective ephemeral-storage request as the scheduler and kubelet
// admission compute it (resourcehelper.PodRequests). ok is false when no container sets one.
func PodRequest(pod *corev1.Pod) (request int64, ok bool) {
	q, ok := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})[corev1.ResourceEphemeralStorage]
	return q.Value(), ok
}

// ContainerLimit is the bound of containerEphemeralStorageLimitEviction: only spec.containers
// (never init containers) with a non-zero ephemeral-storage limit are checked.
func ContainerLimit(c *corev1.Container) (limit int64, ok bool) {
	q, ok := c.Resources.Limits[corev1.ResourceEphemeralStorage]
	if !ok || q.Value() == 0 {
		return 0, false
	}
	return q.Value(), true
}

// ContainerUsage is what containerEphemeralStorageLimitEviction counts against a container's
// limit: its logs, plus its writable layer (rootfs) unless the node has a dedicated imagefs,
// where the writable layer lives on the image filesystem and is watched by node pressure instead.
// The kubelet treats missing stats as zero (diskUsage(nil) == 0); ok is false only when neither
// number is present, so that no fake zero is reported.
func ContainerUsage(logs, rootfs *uint64, dedicatedImageFs bool) (usage uint64, ok bool) {
	if logs != nil {
		usage, ok = *logs, true
	}
	if !dedicatedImageFs && rootfs != nil {
		usage, ok = usage+*rootfs, true
	}
	return usage, ok
}

// EmptyDirSizeLimit is the bound of emptyDirLimitEviction for a disk-backed emptyDir: its
// sizeLimit when positive (size.Sign() == 1). ok is false otherwise: no sizeLimit, no eviction.
func EmptyDirSizeLimit(ed *corev1.EmptyDirVolumeSource) (limit int64, ok bool) {
	if ed == nil || ed.SizeLimit == nil || ed.SizeLimit.Sign() != 1 {
		return 0, false
	}
	return ed.SizeLimit.Value(), true
}

// MemoryEmptyDirSize is the tmpfs size the kubelet mounts a medium: Memory emptyDir with
// (pkg/volume/emptydir calculateEmptyDirMemorySize, SizeMemoryBackedVolumes): node allocatable
// memory, lowered to the pod's memory limit and then to the volume's sizeLimit when those are
// positive and smaller. ok is false when node allocatable memory is unknown.
func MemoryEmptyDirSize(ed *corev1.EmptyDirVolumeSource, pod *corev1.Pod, nodeAllocatableMemory *resource.Quantity) (size int64, ok bool) {
	if nodeAllocatableMemory == nil || nodeAllocatableMemory.Sign() != 1 {
		return 0, false
	}
	size = nodeAllocatableMemory.Value()
	if podLimit, ok := PodMemoryLimit(pod); ok && podLimit > 0 && podLimit < size {
		size = podLimit
	}
	if ed != nil && ed.SizeLimit != nil && ed.SizeLimit.Sign() == 1 && ed.SizeLimit.Value() < size {
		size = ed.SizeLimit.Value()
	}
	return size, true
}

// PodMemoryLimit is the memory limit of the pod's cgroup (pkg/kubelet/cm ResourceConfigForPod):
// set only when every container, init containers included, declares a memory limit, or when the
// pod declares a pod-level one; otherwise the pod may use all of node allocatable.
func PodMemoryLimit(pod *corev1.Pod) (limit int64, ok bool) {
	if !memoryLimitsDeclared(pod) {
		return 0, false
	}
	q, ok := resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{})[corev1.ResourceMemory]
	return q.Value(), ok
}

func memoryLimitsDeclared(pod *corev1.Pod) bool {
	if pod.Spec.Resources != nil && !pod.Spec.Resources.Limits.Memory().IsZero() {
		return true
	}
	for _, containers := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range containers {
			if containers[i].Resources.Limits.Memory().IsZero() {
				return false
			}
		}
	}
	return true
}
