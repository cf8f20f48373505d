package model

import (
	"strings"

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
	if obj != nil {
		n.KubeletVersion = accounting.ParseVersion(obj.Status.NodeInfo.KubeletVersion)
	}
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
	n.Layout = fsLayout(stats, opts.ImageFs)
	n.ImageFsDedicated = n.Layout.DedicatedImageFs
	if obj != nil {
		if q, ok := obj.Status.Allocatable[corev1.ResourceEphemeralStorage]; ok {
			n.Allocatable = Some(accounting.Bytes(q))
		}
		for _, c := range obj.Status.Conditions {
			if c.Type == corev1.NodeDiskPressure {
				n.DiskPressure = Flag(c.Status == corev1.ConditionTrue)
			}
		}
	}
	underPressure := n.DiskPressure.OK && n.DiskPressure.Value == 1
	n.Signals = buildSignals(accounting.WithContainerFsThresholds(opts.Thresholds, n.Layout), filesystems, underPressure)
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

// observation is a signal's capacity and available amount as makeSignalObservations builds it:
// int64 conversions of the summary's uint64s, present only when both are reported.
func observation(signal string, filesystems map[string]*statsv1alpha1.FsStats) (capacity, available int64, ok bool) {
	fs := filesystems[signalFilesystem(signal)]
	if fs == nil {
		return 0, 0, false
	}
	c, a := fs.CapacityBytes, fs.AvailableBytes
	if strings.HasSuffix(signal, ".inodesFree") {
		c, a = fs.Inodes, fs.InodesFree
	}
	if c == nil || a == nil {
		return 0, 0, false
	}
	return int64(*c), int64(*a), true //nolint:gosec // the kubelet's conversion, wrap included
}

// buildSignals resolves each signal's hard and soft thresholds against its filesystem. While the
// node has DiskPressure, the hard ratio is measured against threshold + minReclaim: the kubelet
// keeps evicting until available reaches it (thresholdsMet with enforceMinReclaim), so the ratio
// stays above 1 for as long as evictions go on.
func buildSignals(thresholds []accounting.Threshold, filesystems map[string]*statsv1alpha1.FsStats, underPressure bool) []Signal {
	var signals []Signal
	index := map[string]int{}
	for _, t := range thresholds {
		capacity, available, ok := observation(t.Signal, filesystems)
		if !ok {
			continue // no observation: the kubelet skips the threshold
		}
		i, seen := index[t.Signal]
		if !seen {
			i = len(signals)
			index[t.Signal] = i
			signals = append(signals, Signal{Name: t.Signal, Inodes: t.IsInodes()})
		}
		s := &signals[i]
		threshold := t.Resolve(capacity)
		target := threshold
		if t.MinReclaim != nil {
			target += t.MinReclaim.Resolve(capacity)
		}
		if !t.IsHard() {
			s.SoftThreshold = Some(threshold)
			s.SoftGracePeriod = Some(t.GracePeriod.Seconds())
			s.SoftRatio = Some(accounting.SignalRatio(capacity, available, threshold))
			continue
		}
		s.Threshold = Some(threshold)
		s.Ratio = Some(accounting.SignalRatio(capacity, available, threshold))
		s.ReclaimTarget = Some(target)
		s.Reclaim = Some(max(0, target-available))
		if underPressure && target > threshold && available < target {
			s.Ratio = Some(accounting.SignalRatio(capacity, available, target))
		}
	}
	return signals
}

// fsLayout mirrors the kubelet's HasDedicatedImageFs and HasDedicatedContainerFs
// (pkg/kubelet/stats/provider.go, k8s.io/kubernetes v1.37.2) as far as the summary shows them. The
// kubelet compares devices, which the summary lacks; two filesystems are told apart here by
// capacity and inode count, each compared only when both sides report it (Windows reports no
// inodes: unknown is not different). The kubelet also reports a dedicated imagefs when imageFs
// and containerFs differ on the root device (the split layout, writable layers on nodefs);
// that is SplitContainerFs. Two distinct filesystems of identical size read as one, which
// overstates container usage (alerts early, never late); set the mode explicitly there.
func fsLayout(stats statsv1alpha1.NodeStats, mode ImageFsMode) accounting.FsLayout {
	var img, ctr *statsv1alpha1.FsStats
	if stats.Runtime != nil {
		img, ctr = stats.Runtime.ImageFs, stats.Runtime.ContainerFs
	}
	split := img != nil && ctr != nil && differ(img, ctr)
	switch mode {
	case ImageFsDedicated:
		return accounting.FsLayout{DedicatedImageFs: true, SplitContainerFs: split}
	case ImageFsShared:
		return accounting.FsLayout{}
	}
	if img == nil || stats.Fs == nil {
		return accounting.FsLayout{}
	}
	return accounting.FsLayout{DedicatedImageFs: split || differ(img, stats.Fs), SplitContainerFs: split}
}

// differ reports whether two filesystems' stats show two devices.
func differ(a, b *statsv1alpha1.FsStats) bool {
	return knownAndDifferent(a.CapacityBytes, b.CapacityBytes) || knownAndDifferent(a.Inodes, b.Inodes)
}

func knownAndDifferent(a, b *uint64) bool { return a != nil && b != nil && *a != *b }
