package model

import (
	corev1 "k8s.io/api/core/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
)

// Filesystem names, as exported in the fs label.
const (
	FsNode      = "nodefs"
	FsImage     = "imagefs"
	FsContainer = "containerfs"
)

func buildNode(stats statsv1alpha1.NodeStats, obj *corev1.Node, opts Options) Node {
	var n Node
	filesystems := nodeFilesystems(stats)
	for _, name := range []string{FsNode, FsImage, FsContainer} {
		if fs := filesystems[name]; fs != nil {
			n.Filesystems = append(n.Filesystems, Filesystem{
				Name:       name,
				Capacity:   someUint(fs.CapacityBytes),
				Available:  someUint(fs.AvailableBytes),
				Used:       someUint(fs.UsedBytes),
				Inodes:     someUint(fs.Inodes),
				InodesFree: someUint(fs.InodesFree),
			})
		}
	}
	n.ImageFsDedicated = imageFsDedicated(stats, opts.ImageFs)
	for _, t := range opts.Thresholds {
		if s, ok := resolveSignal(t, filesystems); ok {
			n.Signals = append(n.Signals, s)
		}
	}
	if obj != nil {
		if q, ok := obj.Status.Allocatable[corev1.ResourceEphemeralStorage]; ok {
			n.Allocatable = Some(q.Value())
		}
		for _, c := range obj.Status.Conditions {
			if c.Type == corev1.NodeDiskPressure {
				n.DiskPressure = Some(boolValue(c.Status == corev1.ConditionTrue))
			}
		}
	}
	return n
}

// nodeFilesystems maps each signal's filesystem to its stats, as the kubelet's
// makeSignalObservations does: nodefs is node.fs, imagefs node.runtime.imageFs, containerfs
// node.runtime.containerFs (1.29+).
func nodeFilesystems(stats statsv1alpha1.NodeStats) map[string]*statsv1alpha1.FsStats {
	m := map[string]*statsv1alpha1.FsStats{FsNode: stats.Fs}
	if stats.Runtime != nil {
		m[FsImage] = stats.Runtime.ImageFs
		m[FsContainer] = stats.Runtime.ContainerFs
	}
	return m
}

func signalFilesystem(signal string) string {
	switch signal {
	case accounting.SignalNodeFsAvailable, accounting.SignalNodeFsInodesFree:
		return FsNode
	case accounting.SignalImageFsAvailable, accounting.SignalImageFsInodesFree:
		return FsImage
	default:
		return FsContainer
	}
}

// resolveSignal resolves a threshold against its filesystem and reports usage against the usage
// at which the signal is met: (capacity - available) / (capacity - threshold), above 1 exactly
// when available < threshold.
func resolveSignal(t accounting.Threshold, filesystems map[string]*statsv1alpha1.FsStats) (Signal, bool) {
	fs := filesystems[signalFilesystem(t.Signal)]
	if fs == nil {
		return Signal{}, false
	}
	capacity, available := fs.CapacityBytes, fs.AvailableBytes
	if t.IsInodes() {
		capacity, available = fs.Inodes, fs.InodesFree
	}
	if capacity == nil {
		return Signal{}, false
	}
	threshold := t.Resolve(*capacity)
	s := Signal{Name: t.Signal, Inodes: t.IsInodes(), Threshold: float64(threshold)}
	if available != nil && float64(*capacity) > float64(threshold) {
		s.Ratio = Some((float64(*capacity) - float64(*available)) / (float64(*capacity) - float64(threshold)))
	}
	return s, true
}

func imageFsDedicated(stats statsv1alpha1.NodeStats, mode ImageFsMode) bool {
	switch mode {
	case ImageFsDedicated:
		return true
	case ImageFsShared:
		return false
	}
	if stats.Runtime == nil || stats.Runtime.ImageFs == nil || stats.Fs == nil {
		return false
	}
	img, fs := stats.Runtime.ImageFs, stats.Fs
	return !sameUint(img.CapacityBytes, fs.CapacityBytes) || !sameUint(img.Inodes, fs.Inodes)
}

func sameUint(a, b *uint64) bool { return a != nil && b != nil && *a == *b }

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
