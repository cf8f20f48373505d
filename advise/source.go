package advise

import (
	"context"
	"time"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// Workload identifies what owns a set of pods: ephemeral_storage_pod_info's namespace,
// workload_kind and workload.
type Workload struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
}

// maxValue keeps the larger known number.
func maxValue(a, b model.Opt) model.Opt {
	switch {
	case !a.OK:
		return b
	case !b.OK:
		return a
	case b.Value > a.Value:
		return b
	}
	return a
}

// VolumeObservation is one emptyDir of one workload: its peak usage and its configured bound.
// Several pods of a workload may each give one; Analyze keeps the largest.
type VolumeObservation struct {
	Workload Workload
	Volume   string
	Medium   string    // disk or memory
	Peak     model.Opt // max of ephemeral_storage_volume_used_bytes
	// SizeLimit is ephemeral_storage_volume_size_limit_bytes: the sizeLimit on disk, the
	// effective tmpfs size in memory.
	SizeLimit model.Opt
	// SpecKnown says whether the source saw the pod spec; SpecSizeLimit is then the sizeLimit the
	// spec sets (OK false: none). For a memory emptyDir SizeLimit alone cannot tell, since without
	// a sizeLimit the tmpfs is still sized to the pod's memory limit or the node's memory.
	SpecKnown     bool
	SpecSizeLimit model.Opt
}

// ContainerObservation is one container of one workload.
type ContainerObservation struct {
	Workload  Workload
	Container string
	Type      string // app, init, sidecar; empty when unknown
	// ReadOnlyRoot is whether the container runs with readOnlyRootFilesystem; unknown (OK false)
	// without ephemeral_storage_container_info. V is 1 for true.
	ReadOnlyRoot model.Opt
	Peak         model.Opt // max of ephemeral_storage_container_usage_bytes (logs + writable layer)
	RootfsPeak   model.Opt // max of ephemeral_storage_container_rootfs_bytes
	Request      model.Opt
	Limit        model.Opt
}

// EvictionObservation counts a workload's evictions by cause.
type EvictionObservation struct {
	Workload Workload
	Cause    string
	Count    float64
}

// ReadOnlyFailureObservation counts a workload's EROFS write failures by container.
type ReadOnlyFailureObservation struct {
	Workload  Workload
	Container string
	Count     float64
}

// Input is everything a Source observed. Analyze turns it into a Report.
type Input struct {
	// Source describes where the data comes from, e.g. a Prometheus URL or a node name.
	Source string
	// Snapshot is true for a single point in time: peaks are the current usage.
	Snapshot bool
	// Window is how far back the peaks look (zero for a snapshot); End is when they were taken.
	Window time.Duration
	End    time.Time

	Volumes    []VolumeObservation
	Containers []ContainerObservation
	Evictions  []EvictionObservation
	// EvictionsKnown and ReadOnlyFailuresKnown are false when the source cannot tell (a
	// snapshot has no counters), so "none" is not printed for "unknown".
	EvictionsKnown        bool
	ReadOnlyFailures      []ReadOnlyFailureObservation
	ReadOnlyFailuresKnown bool
	// Notes are caveats the source wants printed (query warnings, skipped pods).
	Notes []string
}

// Source observes workloads' ephemeral storage.
type Source interface {
	Observe(ctx context.Context) (*Input, error)
}
