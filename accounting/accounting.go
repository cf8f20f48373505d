// Package accounting mirrors the local-storage rules of the kubelet's eviction manager
// (pkg/kubelet/eviction/eviction_manager.go, localStorageEviction) and the kubelet's tmpfs sizing
// of memory-backed emptyDirs, as pure functions over pod specs and summary numbers.
//
// Each function names the kubelet code it mirrors. A bound is reported only where the kubelet
// enforces one, so that every ratio built from these functions means "evicted when > 1".
package accounting

import (
	"math"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Exceeds reports whether usage passes limit the way every local-storage rule of the eviction
// manager compares them: exactly, as resource.Quantity values (usage.Cmp(limit) > 0), with the
// usage converted to int64 as the kubelet converts summary numbers (int64(*UsedBytes)). So
// usage == limit is not an eviction, and 1 byte above a fractional limit (1.3Mi) is.
func Exceeds(usage uint64, limit resource.Quantity) bool {
	return resource.NewQuantity(int64(usage), resource.BinarySI).Cmp(limit) > 0 //nolint:gosec // the kubelet's conversion
}

// Ratio is usage over limit, shaped so that "ratio > 1" is exactly the kubelet's Exceeds: float
// rounding (a fractional limit, numbers above 2^53) can never hide an eviction or show one that
// will not happen. At the limit it is exactly 1. A zero limit gives +Inf as soon as anything is
// used (the kubelet evicts) and 0 otherwise; a usage the kubelet's int64 conversion makes
// negative (uint64 above MaxInt64) gives 0, since the kubelet never evicts on it.
func Ratio(usage uint64, limit resource.Quantity) float64 {
	used := int64(usage) //nolint:gosec // the kubelet's conversion
	exceeds := Exceeds(usage, limit)
	if used <= 0 {
		return 0
	}
	if limit.Sign() <= 0 {
		return math.Inf(1)
	}
	r := float64(used) / limit.AsApproximateFloat64()
	switch {
	case exceeds && r <= 1:
		return math.Nextafter(1, 2)
	case !exceeds && r > 1:
		return 1
	}
	return r
}

// Bytes is a quantity as an exported number: exact for fractional quantities and for those
// beyond int64 (Value() gives 0 for 1e30 and wraps 2^63), where the kubelet compares exactly too.
func Bytes(q resource.Quantity) float64 { return q.AsApproximateFloat64() }

// PodLimit is the pod-level ephemeral-storage limit of podEphemeralStorageLimitEviction:
// resourcehelper.PodLimits(pod, PodResourcesOptions{}), i.e. the sum of app container limits
// (plus restartable init containers) max'd with each init container's need, plus pod overhead
// on a non-zero limit. Pod-level resources (spec.resources) never cover ephemeral-storage.
// ok is false when no container sets the limit: the kubelet then skips the rule. A limit that is
// set and 0 is kept: the kubelet evicts the pod as soon as it uses a byte.
func PodLimit(pod *corev1.Pod) (limit resource.Quantity, ok bool) {
	limit, ok = resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{})[corev1.ResourceEphemeralStorage]
	return limit, ok
}

// PodRequest is the pod's effective ephemeral-storage request as the scheduler and kubelet
// admission compute it (resourcehelper.PodRequests). ok is false when no container sets one.
func PodRequest(pod *corev1.Pod) (request resource.Quantity, ok bool) {
	request, ok = resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})[corev1.ResourceEphemeralStorage]
	return request, ok
}

// ContainerLimit is the bound of containerEphemeralStorageLimitEviction on a container with a
// limit whose Value() is not 0 (the kubelet's own test, so a limit of 1e30, whose Value() is 0,
// is skipped too). App containers are checked by every kubelet; restartable init containers
// (sidecars) only from 1.37 (k8s.io/kubernetes v1.37.2 eviction_manager.go adds the
// podutil.IsRestartableInitContainer loop; v1.36.3 has none). Other init containers never are.
func ContainerLimit(c *corev1.Container, sidecar bool, kubelet Version) (limit resource.Quantity, ok bool) {
	if sidecar && !kubelet.AtLeast(1, 37) {
		return resource.Quantity{}, false
	}
	q, ok := c.Resources.Limits[corev1.ResourceEphemeralStorage]
	if !ok || q.Value() == 0 {
		return resource.Quantity{}, false
	}
	return q, true
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
// sizeLimit when positive (size.Sign() == 1), kept exact (1.3Mi is 1363148.8 bytes: 1363149 bytes
// used is an eviction). ok is false otherwise: no sizeLimit, no eviction.
func EmptyDirSizeLimit(ed *corev1.EmptyDirVolumeSource) (limit resource.Quantity, ok bool) {
	if ed == nil || ed.SizeLimit == nil || ed.SizeLimit.Sign() != 1 {
		return resource.Quantity{}, false
	}
	return *ed.SizeLimit, true
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
