package collector

// Stability of a metric family, as kube-state-metrics declares it: a stable family's name and
// labels change only with a major version; an alpha family may change in any release.
type stability string

const (
	stable stability = "stable"
	alpha  stability = "alpha"
)

// familyDoc is what docs/metrics.md says of a storage family besides its name, type and labels.
type familyDoc struct {
	stability stability
	unit      string
	meaning   string // Markdown
}

// catalog declares every storage family's stability, unit and documented meaning, by name.
// docs/metrics.md's storage tables are generated from it and from the families' declarations
// (`make generate`); TestMetricsDocGenerated fails when a family has no entry, an entry no
// family, or the checked-in tables differ from a fresh generation.
var catalog = map[string]familyDoc{
	"ephemeral_storage_container_rootfs_bytes": {stable, "bytes",
		"Bytes written to the container's writable layer (summary `rootfs.usedBytes`)."},
	"ephemeral_storage_container_logs_bytes": {stable, "bytes",
		"Bytes of the container's logs on the node (summary `logs.usedBytes`)."},
	"ephemeral_storage_container_usage_bytes": {stable, "bytes",
		"What the kubelet counts against the container's limit: logs, plus rootfs when the node has no dedicated imagefs."},
	"ephemeral_storage_container_request_bytes": {stable, "bytes",
		"The container's `ephemeral-storage` request, when set."},
	"ephemeral_storage_container_limit_bytes": {stable, "bytes",
		"The container's `ephemeral-storage` limit, when set."},
	"ephemeral_storage_container_limit_ratio": {stable, "ratio",
		"`usage_bytes / limit_bytes` for app containers with a limit; evicted when > 1."},
	"ephemeral_storage_container_info": {stable, "info",
		"Always 1. `container_type` is `app`, `init` or `sidecar` (restartable init container); `read_only_root_filesystem` is `true` or `false`. Join on it to find writes to the writable layer of containers that could run read-only."},
	"ephemeral_storage_pod_usage_bytes": {stable, "bytes",
		"The pod's local ephemeral storage usage (summary `ephemeral-storage.usedBytes`): containers' rootfs and logs, disk-backed emptyDirs, configMaps, pod logs and etc-hosts."},
	"ephemeral_storage_pod_request_bytes": {stable, "bytes",
		"The pod's effective `ephemeral-storage` request (kubelet's `PodRequests`), when any container sets one."},
	"ephemeral_storage_pod_limit_bytes": {stable, "bytes",
		"The pod's effective `ephemeral-storage` limit (kubelet's `PodLimits`), when any container sets one."},
	"ephemeral_storage_pod_limit_ratio": {stable, "ratio",
		"`usage_bytes / limit_bytes`; evicted when > 1."},
	"ephemeral_storage_pod_evictable": {alpha, "bool",
		"0 for a pod the kubelet never evicts, under node pressure or for a local-storage limit: `IsCriticalPod` (static and mirror pods, priority >= 2000000000, i.e. `system-node-critical`/`system-cluster-critical`); 1 otherwise. Alerts saying \"will be evicted\" should require 1."},
	"ephemeral_storage_pod_eviction_rank": {alpha, "rank",
		"The pod's place in the order the kubelet evicts pods in once `signal` (a storage signal with a hard threshold) is met (`rankDiskPressureFunc`): pods whose usage measured for that signal exceeds their ephemeral-storage request first, then lower priority, then larger usage above request. 1 goes first; pods the kubelet cannot tell apart share a rank. Critical pods have none. Exported for the `nodefs.*` signals, and for `imagefs.*` on a dedicated imagefs: every other signal ranks exactly as one of those (`buildSignalToRankFunc`: containerfs as nodefs, or as imagefs on a dedicated imagefs; imagefs as nodefs on one filesystem; on a split layout imagefs measures nothing of the pods). Checked against the kubelet's own eviction manager: `make test-kubeletref`."},
	"ephemeral_storage_pod_info": {stable, "info",
		"Always 1. The owning workload: a ReplicaSet with a `pod-template-hash` resolves to its `Deployment`; static pods are `Node`; pods without owner are `Pod` with their own name."},
	"ephemeral_storage_volume_used_bytes": {stable, "bytes",
		"Bytes used by the volume (summary volume `usedBytes`)."},
	"ephemeral_storage_volume_capacity_bytes": {stable, "bytes",
		"Capacity of the filesystem backing the volume (for a memory emptyDir: the tmpfs size)."},
	"ephemeral_storage_volume_available_bytes": {stable, "bytes",
		"Bytes available on the filesystem backing the volume."},
	"ephemeral_storage_volume_inodes": {stable, "inodes",
		"Inodes of the filesystem backing the volume."},
	"ephemeral_storage_volume_inodes_used": {stable, "inodes",
		"Inodes used by the volume."},
	"ephemeral_storage_volume_inodes_free": {stable, "inodes",
		"Free inodes of the filesystem backing the volume."},
	"ephemeral_storage_volume_size_limit_bytes": {stable, "bytes",
		"The bound on an emptyDir: its `sizeLimit` on disk; for `medium: Memory` the tmpfs size the kubelet sets, min(sizeLimit, pod memory limit, node allocatable memory)."},
	"ephemeral_storage_volume_size_limit_ratio": {stable, "ratio",
		"`used_bytes / size_limit_bytes`. Disk emptyDirs with a sizeLimit are evicted when > 1; a memory emptyDir cannot pass 1 (writes fail with ENOSPC at 1)."},
	"ephemeral_storage_volume_stats_age_seconds": {stable, "seconds",
		"Age of the kubelet's cached volume stats (refreshed every `volumeStatsAggPeriod`, 1-2 min by default) at collection time."},
	"ephemeral_storage_node_fs_capacity_bytes": {stable, "bytes",
		"Capacity of the filesystem."},
	"ephemeral_storage_node_fs_available_bytes": {stable, "bytes",
		"Bytes available on the filesystem."},
	"ephemeral_storage_node_fs_used_bytes": {stable, "bytes",
		"Bytes used on the filesystem (for imagefs/containerfs: by images or containers)."},
	"ephemeral_storage_node_fs_inodes": {stable, "inodes",
		"Inodes of the filesystem."},
	"ephemeral_storage_node_fs_inodes_free": {stable, "inodes",
		"Free inodes of the filesystem."},
	"ephemeral_storage_node_imagefs_dedicated": {stable, "bool",
		"1 when images live on their own filesystem, so the kubelet does not count a container's rootfs against its limit."},
	"ephemeral_storage_node_eviction_threshold_bytes": {stable, "bytes",
		"The hard eviction threshold of an `*.available` signal, resolved against capacity."},
	"ephemeral_storage_node_eviction_threshold_inodes": {stable, "inodes",
		"The hard eviction threshold of an `*.inodesFree` signal, resolved against capacity."},
	"ephemeral_storage_node_eviction_threshold_ratio": {stable, "ratio",
		"`(capacity - available) / (capacity - threshold)`: usage against the usage at which the signal is met; the kubelet evicts when > 1 (`available < threshold`). While the node has `DiskPressure`, measured against the reclaim target instead, so it stays above 1 for as long as the kubelet keeps evicting. Never negative; `+Inf` when the threshold is at or above capacity."},
	"ephemeral_storage_node_eviction_reclaim_target_bytes": {alpha, "bytes",
		"Hard threshold + `evictionMinimumReclaim` of an `*.available` signal: once the threshold is met the kubelet evicts until available reaches this."},
	"ephemeral_storage_node_eviction_reclaim_target_inodes": {alpha, "inodes",
		"The same for an `*.inodesFree` signal."},
	"ephemeral_storage_node_eviction_reclaim_bytes": {alpha, "bytes",
		"`max(0, reclaim target - available)`: bytes to free so that the signal is (or stays) not met."},
	"ephemeral_storage_node_eviction_reclaim_inodes": {alpha, "inodes",
		"The same in inodes for an `*.inodesFree` signal."},
	"ephemeral_storage_node_eviction_soft_threshold_bytes": {alpha, "bytes",
		"The soft (`evictionSoft`) threshold of an `*.available` signal, resolved against capacity."},
	"ephemeral_storage_node_eviction_soft_threshold_inodes": {alpha, "inodes",
		"The soft threshold of an `*.inodesFree` signal."},
	"ephemeral_storage_node_eviction_soft_threshold_ratio": {alpha, "ratio",
		"As `eviction_threshold_ratio`, against the soft threshold: above 1 for `eviction_soft_grace_period_seconds`, the kubelet evicts."},
	"ephemeral_storage_node_eviction_soft_grace_period_seconds": {alpha, "seconds",
		"`evictionSoftGracePeriod` of the signal."},
	"ephemeral_storage_node_local_storage_capacity_isolation": {alpha, "bool",
		"The kubelet's `localStorageCapacityIsolation`, when known: at 0 it enforces no ephemeral-storage limit or emptyDir sizeLimit (limit ratios above 1 evict nothing), node-pressure eviction still applies."},
	"ephemeral_storage_node_allocatable_bytes": {stable, "bytes",
		"The node's allocatable `ephemeral-storage`."},
	"ephemeral_storage_node_disk_pressure": {stable, "bool",
		"1 while the node has the `DiskPressure` condition."},
}
