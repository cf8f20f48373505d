package model

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
)

// Volume types, as exported in the volume_type label.
const (
	VolumeEmptyDir    = "empty_dir"
	VolumeConfigMap   = "config_map"
	VolumeSecret      = "secret"
	VolumeProjected   = "projected"
	VolumeDownwardAPI = "downward_api"
	VolumePVC         = "persistent_volume_claim"
	VolumeEphemeral   = "ephemeral"
	VolumeHostPath    = "host_path"
	VolumeCSI         = "csi"
	VolumeOther       = "other"
)

// emptyDir media, as exported in the medium label.
const (
	MediumDisk      = "disk"
	MediumMemory    = "memory"
	MediumHugePages = "hugepages"
	// MediumOther is a medium this exporter does not know: never assumed to be disk.
	MediumOther = "other"
)

func buildVolumes(stats []statsv1alpha1.VolumeStats, spec *corev1.Pod, allocatableMemory *resource.Quantity, now time.Time) []Volume {
	volumes := make([]Volume, 0, len(stats))
	seen := make(map[string]bool, len(stats))
	for i := range stats {
		vs := &stats[i]
		if seen[vs.Name] {
			continue // one volume, one set of series: the first stats win
		}
		seen[vs.Name] = true
		v := Volume{
			Name:       vs.Name,
			Type:       VolumeOther,
			Used:       someUint(vs.UsedBytes),
			Capacity:   someUint(vs.CapacityBytes),
			Available:  someUint(vs.AvailableBytes),
			Inodes:     someUint(vs.Inodes),
			InodesUsed: someUint(vs.InodesUsed),
			InodesFree: someUint(vs.InodesFree),
		}
		v.Age = statsAge(vs.Time.Time, now)
		if vs.PVCRef != nil {
			v.Type, v.Claim = VolumePVC, vs.PVCRef.Name
		}
		if spec != nil {
			if source := volumeSource(spec, vs.Name); source != nil {
				applyVolumeSpec(&v, source, spec, allocatableMemory, vs.UsedBytes)
			}
		}
		volumes = append(volumes, v)
	}
	return volumes
}

func volumeSource(pod *corev1.Pod, name string) *corev1.VolumeSource {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i].VolumeSource
		}
	}
	return nil
}

func applyVolumeSpec(v *Volume, source *corev1.VolumeSource, pod *corev1.Pod, allocatableMemory *resource.Quantity, used *uint64) {
	switch {
	case source.EmptyDir != nil:
		v.Type = VolumeEmptyDir
		applyEmptyDir(v, source.EmptyDir, pod, allocatableMemory, used)
	case source.ConfigMap != nil:
		v.Type = VolumeConfigMap
	case source.Secret != nil:
		v.Type = VolumeSecret
	case source.Projected != nil:
		v.Type = VolumeProjected
	case source.DownwardAPI != nil:
		v.Type = VolumeDownwardAPI
	case source.PersistentVolumeClaim != nil:
		v.Type, v.Claim = VolumePVC, source.PersistentVolumeClaim.ClaimName
	case source.Ephemeral != nil:
		// A generic ephemeral volume's claim is named <pod>-<volume>.
		v.Type, v.Claim = VolumeEphemeral, pod.Name+"-"+v.Name
	case source.HostPath != nil:
		v.Type = VolumeHostPath
	case source.CSI != nil:
		v.Type = VolumeCSI
	}
}

// applyEmptyDir sets the bound of an emptyDir. On disk it is the sizeLimit that
// emptyDirLimitEviction enforces (strictly: used > sizeLimit). In memory it is the tmpfs size,
// which usage cannot pass: writes fail with ENOSPC at the bound instead of an eviction. When node
// allocatable memory is unknown, the tmpfs capacity the summary reports is that size.
func applyEmptyDir(v *Volume, ed *corev1.EmptyDirVolumeSource, pod *corev1.Pod, allocatableMemory *resource.Quantity, used *uint64) {
	switch ed.Medium {
	case corev1.StorageMediumMemory:
		v.Medium = MediumMemory
		if size, ok := accounting.MemoryEmptyDirSize(ed, pod, allocatableMemory); ok {
			v.SizeLimit = Some(size)
		} else if v.Capacity.OK {
			v.SizeLimit = v.Capacity
		}
		if v.SizeLimit.OK && v.SizeLimit.Value > 0 && v.Used.OK {
			v.Ratio = Some(v.Used.Value / v.SizeLimit.Value)
		}
	case corev1.StorageMediumDefault:
		v.Medium = MediumDisk
		if limit, ok := accounting.EmptyDirSizeLimit(ed); ok {
			v.SizeLimit = Some(accounting.Bytes(limit))
			if used != nil {
				v.Ratio = Some(accounting.Ratio(*used, limit))
			}
		}
	default:
		// HugePages and every HugePages-<size> (2Mi, 1Gi, 32Mi, 16Gi...): memory, never disk.
		if strings.HasPrefix(string(ed.Medium), string(corev1.StorageMediumHugePages)) {
			v.Medium = MediumHugePages
		} else {
			v.Medium = MediumOther
		}
	}
}

// maxStatsAge bounds a believable stats age: the kubelet refreshes volume stats every minute or
// so; a timestamp years off is a broken clock, and its "age" would be noise (up to 9.2e9 s, where
// time.Sub saturates).
const maxStatsAge = 365 * 24 * time.Hour

// statsAge is how old the kubelet's cached volume stats are at now. A timestamp ahead of now
// (clocks apart) means fresh stats, age 0; an unknown or absurd timestamp gives no age.
func statsAge(at, now time.Time) Opt {
	if at.IsZero() || now.IsZero() {
		return Opt{}
	}
	age := now.Sub(at)
	switch {
	case age < 0:
		return Some(0.0)
	case age > maxStatsAge:
		return Opt{}
	}
	return Some(age.Seconds())
}
