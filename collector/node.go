package collector

import (
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
				func(s *model.Signal) model.Opt { return bytesOnly(s, s.Threshold) }),
			signal("eviction_threshold_inodes", "Hard eviction threshold of an inodesFree signal, resolved against capacity.",
				func(s *model.Signal) model.Opt { return inodesOnly(s, s.Threshold) }),
			signal("eviction_threshold_ratio", "Filesystem usage over the usage at which the hard eviction signal is met; the kubelet evicts when it is above 1 (under DiskPressure, measured against threshold + minimum reclaim).",
				func(s *model.Signal) model.Opt { return s.Ratio }),
			signal("eviction_reclaim_target_bytes", "Available bytes the kubelet evicts up to once the hard threshold is met: threshold + minimum reclaim.",
				func(s *model.Signal) model.Opt { return bytesOnly(s, s.ReclaimTarget) }),
			signal("eviction_reclaim_target_inodes", "Free inodes the kubelet evicts up to once the hard threshold is met: threshold + minimum reclaim.",
				func(s *model.Signal) model.Opt { return inodesOnly(s, s.ReclaimTarget) }),
			signal("eviction_reclaim_bytes", "Bytes to free for available to reach the reclaim target; 0 when it is reached.",
				func(s *model.Signal) model.Opt { return bytesOnly(s, s.Reclaim) }),
			signal("eviction_reclaim_inodes", "Inodes to free for inodesFree to reach the reclaim target; 0 when it is reached.",
				func(s *model.Signal) model.Opt { return inodesOnly(s, s.Reclaim) }),
			signal("eviction_soft_threshold_bytes", "Soft eviction threshold of an available-bytes signal, resolved against capacity.",
				func(s *model.Signal) model.Opt { return bytesOnly(s, s.SoftThreshold) }),
			signal("eviction_soft_threshold_inodes", "Soft eviction threshold of an inodesFree signal, resolved against capacity.",
				func(s *model.Signal) model.Opt { return inodesOnly(s, s.SoftThreshold) }),
			signal("eviction_soft_threshold_ratio", "Filesystem usage over the usage at which the soft eviction signal is met; above 1 for the grace period, the kubelet evicts.",
				func(s *model.Signal) model.Opt { return s.SoftRatio }),
			signal("eviction_soft_grace_period_seconds", "How long the soft threshold must be met before the kubelet evicts.",
				func(s *model.Signal) model.Opt { return s.SoftGracePeriod }),
		},
		node: []*metric[model.Node]{
			newMetric("node", "imagefs_dedicated", "1 when images live on their own filesystem, so container rootfs does not count against container limits.", nodeLabels,
				func(n *model.Node) model.Opt { return model.Flag(n.ImageFsDedicated) }),
			newMetric("node", "allocatable_bytes", "The node's allocatable ephemeral-storage.", nodeLabels,
				func(n *model.Node) model.Opt { return n.Allocatable }),
			newMetric("node", "disk_pressure", "1 while the node has the DiskPressure condition.", nodeLabels,
				func(n *model.Node) model.Opt { return n.DiskPressure }),
			newMetric("node", "local_storage_capacity_isolation", "1 when the kubelet enforces ephemeral-storage limits and emptyDir sizeLimits (localStorageCapacityIsolation), 0 when it does not.", nodeLabels,
				func(n *model.Node) model.Opt { return n.LocalStorageCapacityIsolation }),
		},
	}
}

func bytesOnly(s *model.Signal, v model.Opt) model.Opt {
	return model.Opt{Value: v.Value, OK: v.OK && !s.Inodes}
}

func inodesOnly(s *model.Signal, v model.Opt) model.Opt {
	return model.Opt{Value: v.Value, OK: v.OK && s.Inodes}
}
