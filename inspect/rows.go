// Package inspect is the logic of the kubectl plugin: it reads nodes' summaries and pods through
// the API server, builds the agent's model of each node, and turns the snapshots into the rows of
// `kubectl ephemeral-storage top` and the breakdown of `du`. Every ratio is the model's, never
// recomputed here, so the plugin and the agent's /metrics agree by construction.
package inspect

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// Kinds of bound a row is measured against.
const (
	KindPod       = "pod"
	KindContainer = "container"
	KindEmptyDir  = "emptyDir"
	KindSignal    = "signal"
)

// Row is one usage next to the bound the kubelet enforces on it. Only things with a known ratio
// become rows: an unbounded container or emptyDir is never evicted for its own usage.
type Row struct {
	Node      string `json:"node"`
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Kind      string `json:"kind"`
	// Name is the container, volume or eviction signal; empty for a pod row.
	Name   string `json:"name,omitempty"`
	Medium string `json:"medium,omitempty"`
	// Inodes is set for the inodesFree signals: usage and bound count inodes, not bytes.
	Inodes bool    `json:"inodes,omitempty"`
	Usage  float64 `json:"usage"`
	Bound  float64 `json:"bound"`
	// Ratio is usage over bound as the model computes it; above 1 the kubelet acts (see EvictedWhen).
	Ratio       float64 `json:"ratio"`
	EvictedWhen string  `json:"evictedWhen"`
	// Growth and SecondsToLimit are set by a second sample (--watch).
	GrowthPerSecond *float64 `json:"growthPerSecond,omitempty"`
	SecondsToLimit  *float64 `json:"secondsToLimit,omitempty"`
}

// Key identifies a row across samples.
func (r *Row) Key() string {
	return strings.Join([]string{r.Node, r.Namespace, r.Pod, r.Kind, r.Name}, "/")
}

// Bounded names what the row's bound applies to, as printed in the BOUNDED column.
func (r *Row) Bounded() string {
	switch r.Kind {
	case KindPod:
		return "pod"
	case KindEmptyDir:
		return fmt.Sprintf("emptyDir %s (%s)", r.Name, r.Medium)
	default:
		return r.Kind + " " + r.Name
	}
}

// Selection says which rows of a snapshot to keep.
type Selection struct {
	Pods, Signals bool
}

// Rows are the bounded usages of a snapshot: pods, app containers and emptyDirs with a limit,
// and the node's eviction signals.
func Rows(snap *model.Snapshot, sel Selection) []Row {
	var rows []Row
	if sel.Pods {
		for i := range snap.Pods {
			rows = appendPodRows(rows, snap.NodeName, &snap.Pods[i], snap.Node.ImageFsDedicated)
		}
	}
	if sel.Signals {
		rows = appendSignalRows(rows, snap)
	}
	return rows
}

func appendPodRows(rows []Row, node string, p *model.Pod, dedicatedImageFs bool) []Row {
	base := Row{Node: node, Namespace: p.Namespace, Pod: p.Name}
	if p.Ratio.OK && p.Usage.OK && p.Limit.OK {
		r := base
		r.Kind, r.Usage, r.Bound, r.Ratio = KindPod, p.Usage.Value, p.Limit.Value, p.Ratio.Value
		// podEphemeralStorageLimitEviction: the pod's summed usage against PodLimits.
		r.EvictedWhen = "pod total > pod limit"
		rows = append(rows, r)
	}
	for i := range p.Containers {
		c := &p.Containers[i]
		if !c.Ratio.OK || !c.Usage.OK || !c.Limit.OK {
			continue
		}
		r := base
		r.Kind, r.Name, r.Usage, r.Bound, r.Ratio = KindContainer, c.Name, c.Usage.Value, c.Limit.Value, c.Ratio.Value
		// containerEphemeralStorageLimitEviction: logs, plus the writable layer unless it lives on
		// a dedicated imagefs (accounting.ContainerUsage).
		r.EvictedWhen = "logs + writable layer > limit"
		if dedicatedImageFs {
			r.EvictedWhen = "logs > limit (writable layer on imagefs)"
		}
		rows = append(rows, r)
	}
	for i := range p.Volumes {
		v := &p.Volumes[i]
		if v.Type != model.VolumeEmptyDir || !v.Ratio.OK || !v.Used.OK || !v.SizeLimit.OK {
			continue
		}
		r := base
		r.Kind, r.Name, r.Medium, r.Usage, r.Bound, r.Ratio = KindEmptyDir, v.Name, v.Medium, v.Used.Value, v.SizeLimit.Value, v.Ratio.Value
		r.EvictedWhen = "used > sizeLimit"
		if v.Medium == model.MediumMemory {
			// tmpfs is sized by the kubelet; the kernel refuses writes at the bound.
			r.EvictedWhen = "never: writes fail (ENOSPC) at the tmpfs size"
		}
		rows = append(rows, r)
	}
	return rows
}

// appendSignalRows reports each hard eviction signal as filesystem usage against the usage at
// which it is met (capacity - threshold), the same ratio as the agent's
// ephemeral_storage_node_eviction_threshold_ratio.
func appendSignalRows(rows []Row, snap *model.Snapshot) []Row {
	for i := range snap.Node.Signals {
		s := &snap.Node.Signals[i]
		fs := signalFilesystem(snap, s.Name)
		if !s.Ratio.OK || !s.Threshold.OK || fs == nil {
			continue
		}
		capacity, available := fs.Capacity, fs.Available
		what := "available"
		if s.Inodes {
			capacity, available, what = fs.Inodes, fs.InodesFree, "free inodes"
		}
		if !capacity.OK || !available.OK {
			continue
		}
		threshold := formatBytes(s.Threshold.Value)
		if s.Inodes {
			threshold = formatCount(s.Threshold.Value)
		}
		rows = append(rows, Row{
			Node: snap.NodeName, Kind: KindSignal, Name: s.Name, Inodes: s.Inodes,
			Usage: capacity.Value - available.Value, Bound: capacity.Value - s.Threshold.Value, Ratio: s.Ratio.Value,
			// The node then ranks pods by rankDiskPressureFunc: over their request first, then
			// by priority, then by usage (docs/kubectl-plugin.md).
			EvictedWhen: fmt.Sprintf("%s %s < %s: node evicts pods", fs.Name, what, threshold),
		})
	}
	return rows
}

// signalFilesystem finds the filesystem a signal is measured on: the signal's prefix is the
// model's filesystem name (nodefs.available -> nodefs).
func signalFilesystem(snap *model.Snapshot, signal string) *model.Filesystem {
	name, _, _ := strings.Cut(signal, ".")
	for i := range snap.Node.Filesystems {
		if snap.Node.Filesystems[i].Name == name {
			return &snap.Node.Filesystems[i]
		}
	}
	return nil
}

// Sort orders for top.
const (
	SortRatio = "ratio"
	SortUsage = "usage"
	SortLimit = "limit"
	SortName  = "name"
)

// SortOrders are the accepted --sort-by values.
var SortOrders = []string{SortRatio, SortUsage, SortLimit, SortName}

// SortRows orders rows: the largest ratio, usage or bound first, or by name; ties by name, so
// that the same data always prints the same table.
func SortRows(rows []Row, by string) error {
	var less func(a, b *Row) int
	switch by {
	case SortRatio, "":
		less = func(a, b *Row) int { return cmpDesc(a.Ratio, b.Ratio) }
	case SortUsage:
		less = func(a, b *Row) int { return cmpUnits(a, b, a.Usage, b.Usage) }
	case SortLimit:
		less = func(a, b *Row) int { return cmpUnits(a, b, a.Bound, b.Bound) }
	case SortName:
		less = func(*Row, *Row) int { return 0 }
	default:
		return fmt.Errorf("--sort-by=%q: want one of %s", by, strings.Join(SortOrders, ", "))
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if c := less(&rows[i], &rows[j]); c != 0 {
			return c < 0
		}
		return rows[i].Key() < rows[j].Key()
	})
	return nil
}

// cmpUnits puts bytes before inode counts: the two do not compare.
func cmpUnits(a, b *Row, x, y float64) int {
	if a.Inodes != b.Inodes {
		if b.Inodes {
			return -1
		}
		return 1
	}
	return cmpDesc(x, y)
}

func cmpDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}
