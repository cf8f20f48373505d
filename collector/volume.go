package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

type volumeDescs struct {
	used, capacity, available, inodes, inodesUsed, inodesFree, sizeLimit, ratio, age *prometheus.Desc
}

func newVolumeDescs() volumeDescs {
	l := []string{"node", "namespace", "pod", "volume", "volume_type", "medium", "persistentvolumeclaim"}
	return volumeDescs{
		used:       desc("volume", "used_bytes", "Bytes used by the volume.", l...),
		capacity:   desc("volume", "capacity_bytes", "Capacity of the filesystem backing the volume.", l...),
		available:  desc("volume", "available_bytes", "Bytes available on the filesystem backing the volume.", l...),
		inodes:     desc("volume", "inodes", "Inodes of the filesystem backing the volume.", l...),
		inodesUsed: desc("volume", "inodes_used", "Inodes used by the volume.", l...),
		inodesFree: desc("volume", "inodes_free", "Free inodes of the filesystem backing the volume.", l...),
		sizeLimit:  desc("volume", "size_limit_bytes", "The bound on an emptyDir: its sizeLimit on disk, the tmpfs size in memory.", l...),
		ratio:      desc("volume", "size_limit_ratio", "emptyDir usage over its bound; a disk emptyDir is evicted when it is above 1.", l...),
		age:        desc("volume", "stats_age_seconds", "Age of the kubelet's cached volume stats at collection time.", l...),
	}
}

func (d volumeDescs) all() []*prometheus.Desc {
	return []*prometheus.Desc{d.used, d.capacity, d.available, d.inodes, d.inodesUsed, d.inodesFree, d.sizeLimit, d.ratio, d.age}
}

func (d volumeDescs) collect(ch chan<- prometheus.Metric, node string, pod *model.Pod, v *model.Volume) {
	labels := []string{node, pod.Namespace, pod.Name, v.Name, v.Type, v.Medium, v.Claim}
	gauge(ch, d.used, v.Used, labels...)
	gauge(ch, d.capacity, v.Capacity, labels...)
	gauge(ch, d.available, v.Available, labels...)
	gauge(ch, d.inodes, v.Inodes, labels...)
	gauge(ch, d.inodesUsed, v.InodesUsed, labels...)
	gauge(ch, d.inodesFree, v.InodesFree, labels...)
	gauge(ch, d.sizeLimit, v.SizeLimit, labels...)
	gauge(ch, d.ratio, v.Ratio, labels...)
	gauge(ch, d.age, v.Age, labels...)
}
