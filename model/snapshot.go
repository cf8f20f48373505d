// Package model joins a kubelet summary with the pod specs and the node object of the same node
// into a Snapshot: every usage number next to the bound the kubelet enforces on it, and the ratio
// between them. It is the one place where summary and API objects meet; the collectors only
// render snapshots.
package model

import (
	"time"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
)

// Opt is a number that may be unknown. Unknown numbers produce no series, never a fake zero.
type Opt struct {
	Value float64
	OK    bool
}

// Some returns a known number.
func Some[T int64 | uint64 | float64](v T) Opt { return Opt{Value: float64(v), OK: true} }

// Flag returns a known 0 or 1, the value of an info-style or condition series.
func Flag(b bool) Opt {
	if b {
		return Some(1.0)
	}
	return Some(0.0)
}

func someUint(p *uint64) Opt {
	if p == nil {
		return Opt{}
	}
	return Some(*p)
}

// Snapshot is everything the agent knows about its node at one time.
type Snapshot struct {
	NodeName string
	// Time is when the summary was read; ages are measured against it.
	Time time.Time
	Node Node
	Pods []Pod
	// UnmatchedPods counts summary pods with no pod spec in the agent's view.
	UnmatchedPods int
}

// Node is the node-level view: filesystems, eviction signals, allocatable and pressure.
type Node struct {
	// KubeletVersion decides the version-dependent rules; zero when unknown (newest rules).
	KubeletVersion   accounting.Version
	Filesystems      []Filesystem
	Layout           accounting.FsLayout
	ImageFsDedicated bool
	Signals          []Signal
	Allocatable      Opt
	DiskPressure     Opt
	// LocalStorageCapacityIsolation is 1 when the kubelet enforces ephemeral-storage limits and
	// emptyDir sizeLimits, 0 when it does not; unknown unless configured.
	LocalStorageCapacityIsolation Opt
}

// Filesystem is one of nodefs, imagefs and containerfs.
type Filesystem struct {
	Name                                          string
	Capacity, Available, Used, Inodes, InodesFree Opt
}

// Signal is one eviction signal's thresholds resolved against its filesystem.
type Signal struct {
	Name   string
	Inodes bool
	// Threshold is the hard threshold; Ratio is (capacity - available) / (capacity - threshold),
	// above 1 exactly when the signal is met (or, under DiskPressure, while the kubelet is still
	// reclaiming towards ReclaimTarget).
	Threshold, Ratio Opt
	// ReclaimTarget is threshold + minReclaim; Reclaim is how much must be freed to reach it.
	ReclaimTarget, Reclaim Opt
	// Soft threshold, its grace period in seconds and its ratio.
	SoftThreshold, SoftGracePeriod, SoftRatio Opt
}

// Pod is one pod of the summary, joined with its spec when the agent has it.
type Pod struct {
	Namespace, Name        string
	UID                    string
	WorkloadKind, Workload string // empty when the spec is unknown
	Usage, Request, Limit  Opt
	Ratio                  Opt
	// Evictable is 0 for a critical pod the kubelet refuses to evict (static, mirror, or
	// system-critical priority); unknown without a spec.
	Evictable  Opt
	Containers []Container
	Volumes    []Volume
	// Ranks are the pod's places in the kubelet's eviction order per disk signal.
	Ranks []Rank
	// joined: the pod's spec was found.
	joined bool
}

// Rank is a pod's place in the order the kubelet evicts pods in when signal is met (1 first).
type Rank struct {
	Signal string
	Rank   int
}

// Container types.
const (
	ContainerApp     = "app"
	ContainerInit    = "init"
	ContainerSidecar = "sidecar"
)

// Container is one running container of a pod.
type Container struct {
	Name string
	// Type is app, init or sidecar; empty when the spec is unknown.
	Type                   string
	ReadOnlyRootFilesystem bool
	Rootfs, Logs, Usage    Opt
	Request, Limit, Ratio  Opt
}

// Volume is one volume of a pod with stats in the summary.
type Volume struct {
	Name, Type, Medium, Claim                                 string
	Used, Capacity, Available, Inodes, InodesUsed, InodesFree Opt
	SizeLimit, Ratio                                          Opt
	Age                                                       Opt
}
