// Package model joins a kubelet summary with the pod specs and the node object of the same node
// into a Snapshot: every usage number next to the bound the kubelet enforces on it, and the ratio
// between them. It is the one place where summary and API objects meet; the collectors only
// render snapshots.
package model

import "time"

// Opt is a number that may be unknown. Unknown numbers produce no series, never a fake zero.
type Opt struct {
	Value float64
	OK    bool
}

// Some returns a known number.
func Some[T int64 | uint64 | float64](v T) Opt { return Opt{Value: float64(v), OK: true} }

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
	Filesystems      []Filesystem
	ImageFsDedicated bool
	Signals          []Signal
	Allocatable      Opt
	DiskPressure     Opt
}

// Filesystem is one of nodefs, imagefs and containerfs.
type Filesystem struct {
	Name                                          string
	Capacity, Available, Used, Inodes, InodesFree Opt
}

// Signal is one hard eviction threshold resolved against its filesystem.
type Signal struct {
	Name      string
	Inodes    bool
	Threshold float64
	// Ratio is (capacity - available) / (capacity - threshold): above 1 the signal is met.
	Ratio Opt
}

// Pod is one pod of the summary, joined with its spec when the agent has it.
type Pod struct {
	Namespace, Name        string
	UID                    string
	WorkloadKind, Workload string // empty when the spec is unknown
	Usage, Request, Limit  Opt
	Ratio                  Opt
	Containers             []Container
	Volumes                []Volume
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
