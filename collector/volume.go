package collector

import (
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

var volumeLabels = []string{"node", "namespace", "pod", "volume", "volume_type", "medium", "persistentvolumeclaim"}

func newVolumeMetrics() []*metric[model.Volume] {
	l := volumeLabels
	m := func(name, help string, value func(*model.Volume) model.Opt) *metric[model.Volume] {
		return newMetric("volume", name, help, l, value)
	}
	return []*metric[model.Volume]{
		m("used_bytes", "Bytes used by the volume.", func(v *model.Volume) model.Opt { return v.Used }),
		m("capacity_bytes", "Capacity of the filesystem backing the volume.", func(v *model.Volume) model.Opt { return v.Capacity }),
		m("available_bytes", "Bytes available on the filesystem backing the volume.", func(v *model.Volume) model.Opt { return v.Available }),
		m("inodes", "Inodes of the filesystem backing the volume.", func(v *model.Volume) model.Opt { return v.Inodes }),
		m("inodes_used", "Inodes used by the volume.", func(v *model.Volume) model.Opt { return v.InodesUsed }),
		m("inodes_free", "Free inodes of the filesystem backing the volume.", func(v *model.Volume) model.Opt { return v.InodesFree }),
		m("size_limit_bytes", "The bound on an emptyDir: its sizeLimit on disk, the tmpfs size in memory.", func(v *model.Volume) model.Opt { return v.SizeLimit }),
		m("size_limit_ratio", "emptyDir usage over its bound; a disk emptyDir is evicted when it is above 1.", func(v *model.Volume) model.Opt { return v.Ratio }),
		m("stats_age_seconds", "Age of the kubelet's cached volume stats at collection time.", func(v *model.Volume) model.Opt { return v.Age }),
	}
}

func volumeLabelValues(node string, pod *model.Pod, v *model.Volume) []string {
	return []string{node, pod.Namespace, pod.Name, v.Name, v.Type, v.Medium, v.Claim}
}
