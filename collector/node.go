package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

var (
	fsLabels     = []string{"node", "fs"}
	signalLabels = []string{"node", "signal"}
	nodeLabels   = []string{"node"}
)

type nodeMetrics struct {
	fs     []*metric[model.Filesystem]
	signal []*metric[model.Signal]
	node   []*metric[model.Node]
}

func newNodeMetrics() nodeMetrics {
	fs := func(name, help string, value func(*model.Filesystem) model.Opt) *metric[model.Filesystem] {
		return newMetric("node", name, help, fsLabels, value)
	}
	signal := func(name, help string, value func(*model.Signal) model.Opt) *metric[model.Signal] {
		return newMetric("node", name, help, signalLabels, value)
	}
	return nodeMetrics{
		fs: []*metric[model.Filesystem]{
			fs("fs_capacity_bytes", "Capacity of the filesystem.", func(f *model.Filesystem) model.Opt { return f.Capacity }),
			fs("fs_available_bytes", "Bytes available on the filesystem.", func(f *model.Filesystem) model.Opt { return f.Available }),
			fs("fs_used_bytes", "Bytes used on the filesystem.", func(f *model.Filesystem) model.Opt { return f.Used }),
			fs("fs_inodes", "Inodes of the filesystem.", func(f *model.Filesystem) model.Opt { return f.Inodes }),
			fs("fs_inodes_free", "Free inodes of the filesystem.", func(f *model.Filesystem) model.Opt { return f.InodesFree }),
		},
		signal: []*metric[model.Signal]{
			signal("eviction_threshold_bytes", "Hard eviction threshold of an available-bytes signal, resolved against capacity.",
				func(s *model.Signal) model.Opt { return model.Opt{Value: s.Threshold, OK: !s.Inodes} }),
			signal("eviction_threshold_inodes", "Hard eviction threshold of an inodesFree signal, resolved against capacity.",
				func(s *model.Signal) model.Opt { return model.Opt{Value: s.Threshold, OK: s.Inodes} }),
			signal("eviction_threshold_ratio", "Filesystem usage over the usage at which the eviction signal is met; the kubelet evicts when it is above 1.",
				func(s *model.Signal) model.Opt { return s.Ratio }),
		},
		node: []*metric[model.Node]{
			newMetric("node", "imagefs_dedicated", "1 when images live on their own filesystem, so container rootfs does not count against container limits.", nodeLabels,
				func(n *model.Node) model.Opt { return model.Some(boolValue(n.ImageFsDedicated)) }),
			newMetric("node", "allocatable_bytes", "The node's allocatable ephemeral-storage.", nodeLabels,
				func(n *model.Node) model.Opt { return n.Allocatable }),
			newMetric("node", "disk_pressure", "1 while the node has the DiskPressure condition.", nodeLabels,
				func(n *model.Node) model.Opt { return n.DiskPressure }),
		},
	}
}

func (m nodeMetrics) collect(ch chan<- prometheus.Metric, snap *model.Snapshot) {
	for i := range snap.Node.Filesystems {
		f := &snap.Node.Filesystems[i]
		for _, fm := range m.fs {
			fm.collect(ch, f, []string{snap.NodeName, f.Name})
		}
	}
	for i := range snap.Node.Signals {
		s := &snap.Node.Signals[i]
		for _, sm := range m.signal {
			sm.collect(ch, s, []string{snap.NodeName, s.Name})
		}
	}
	for _, nm := range m.node {
		nm.collect(ch, &snap.Node, []string{snap.NodeName})
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
