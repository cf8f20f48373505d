package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

type nodeDescs struct {
	capacity, available, used, inodes, inodesFree   *prometheus.Desc
	imageFsDedicated                                *prometheus.Desc
	thresholdBytes, thresholdInodes, thresholdRatio *prometheus.Desc
	allocatable, diskPressure                       *prometheus.Desc
}

func newNodeDescs() nodeDescs {
	fs := []string{"node", "fs"}
	signal := []string{"node", "signal"}
	return nodeDescs{
		capacity:         desc("node", "fs_capacity_bytes", "Capacity of the filesystem.", fs...),
		available:        desc("node", "fs_available_bytes", "Bytes available on the filesystem.", fs...),
		used:             desc("node", "fs_used_bytes", "Bytes used on the filesystem.", fs...),
		inodes:           desc("node", "fs_inodes", "Inodes of the filesystem.", fs...),
		inodesFree:       desc("node", "fs_inodes_free", "Free inodes of the filesystem.", fs...),
		imageFsDedicated: desc("node", "imagefs_dedicated", "1 when images live on their own filesystem, so container rootfs does not count against container limits.", "node"),
		thresholdBytes:   desc("node", "eviction_threshold_bytes", "Hard eviction threshold of an available-bytes signal, resolved against capacity.", signal...),
		thresholdInodes:  desc("node", "eviction_threshold_inodes", "Hard eviction threshold of an inodesFree signal, resolved against capacity.", signal...),
		thresholdRatio:   desc("node", "eviction_threshold_ratio", "Filesystem usage over the usage at which the eviction signal is met; the kubelet evicts when it is above 1.", signal...),
		allocatable:      desc("node", "allocatable_bytes", "The node's allocatable ephemeral-storage.", "node"),
		diskPressure:     desc("node", "disk_pressure", "1 while the node has the DiskPressure condition.", "node"),
	}
}

func (d nodeDescs) all() []*prometheus.Desc {
	return []*prometheus.Desc{d.capacity, d.available, d.used, d.inodes, d.inodesFree, d.imageFsDedicated,
		d.thresholdBytes, d.thresholdInodes, d.thresholdRatio, d.allocatable, d.diskPressure}
}

func (d nodeDescs) collect(ch chan<- prometheus.Metric, snap *model.Snapshot) {
	node := snap.NodeName
	for _, fs := range snap.Node.Filesystems {
		gauge(ch, d.capacity, fs.Capacity, node, fs.Name)
		gauge(ch, d.available, fs.Available, node, fs.Name)
		gauge(ch, d.used, fs.Used, node, fs.Name)
		gauge(ch, d.inodes, fs.Inodes, node, fs.Name)
		gauge(ch, d.inodesFree, fs.InodesFree, node, fs.Name)
	}
	dedicated := 0.0
	if snap.Node.ImageFsDedicated {
		dedicated = 1
	}
	ch <- prometheus.MustNewConstMetric(d.imageFsDedicated, prometheus.GaugeValue, dedicated, node)
	for _, s := range snap.Node.Signals {
		threshold := d.thresholdBytes
		if s.Inodes {
			threshold = d.thresholdInodes
		}
		ch <- prometheus.MustNewConstMetric(threshold, prometheus.GaugeValue, s.Threshold, node, s.Name)
		gauge(ch, d.thresholdRatio, s.Ratio, node, s.Name)
	}
	gauge(ch, d.allocatable, snap.Node.Allocatable, node)
	gauge(ch, d.diskPressure, snap.Node.DiskPressure, node)
}
