// Package advise turns observed ephemeral-storage usage into sizing advice per workload: emptyDir
// sizeLimits, container ephemeral-storage requests and limits, memory-backed emptyDir headroom,
// read-only root filesystem readiness, evictions and read-only write failures.
//
// The analysis (Analyze) is pure: a Source observes (PrometheusSource over a window of a
// Prometheus server's data, DumpSource over one saved summary) and Analyze applies the sizing
// rules of the project (docs/advise.md).
package advise

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// Verdicts on a container's read-only root filesystem.
const (
	ReadOnlyEnabled = "enabled"
	ReadOnlySafe    = "safe to enable"
	ReadOnlyWrites  = "writes to its writable layer"
	ReadOnlyUnknown = "unknown"
)

// Changes a suggestion makes to a configured value.
const (
	ChangeSet   = "set"
	ChangeRaise = "raise"
	ChangeLower = "lower"
	ChangeKeep  = "keep"
	// ChangeCheck: the source cannot tell whether the spec sets a sizeLimit (Prometheus sees only
	// the effective tmpfs size of a memory emptyDir); set the suggestion if it does not.
	ChangeCheck = "set if unset"
)

// Report is the advice for every observed workload.
type Report struct {
	Source   string `json:"source"`
	Snapshot bool   `json:"snapshot"`
	// Basis says what the peaks are: "snapshot, not a window" or "peak over 1w".
	Basis             string    `json:"basis"`
	Window            string    `json:"window,omitempty"`
	End               time.Time `json:"end"`
	Headroom          float64   `json:"headroom"`
	RequestOverhead   float64   `json:"requestOverhead"`
	LimitFactor       float64   `json:"limitFactor"`
	FloorBytes        int64     `json:"floorBytes"`
	ReadOnlyTolerance int64     `json:"readOnlyToleranceBytes"`
	// LogRotation is the kubelet's container log rotation: every suggested container limit is
	// at least LogFloorBytes (MaxSize x MaxFiles, rounded up).
	LogRotation   LogRotation            `json:"logRotation"`
	LogFloorBytes int64                  `json:"logFloorBytes"`
	Notes         []string               `json:"notes,omitempty"`
	Workloads     []WorkloadAdvice       `json:"workloads"`
	known         struct{ ev, rof bool } // for the text output
}

// WorkloadAdvice is the advice for one workload.
type WorkloadAdvice struct {
	Workload
	EmptyDirs       []EmptyDirAdvice       `json:"emptyDirs"`
	MemoryEmptyDirs []MemoryEmptyDirAdvice `json:"memoryEmptyDirs"`
	Containers      []ContainerAdvice      `json:"containers"`
	// SuggestedPodRequestBytes and SuggestedPodLimitBytes are what the kubelet makes of the
	// suggested container values (podRequests/podLimits below); 0 without containers.
	SuggestedPodRequestBytes int64  `json:"suggestedPodRequestBytes"`
	SuggestedPodLimitBytes   int64  `json:"suggestedPodLimitBytes"`
	SuggestedPodLimit        string `json:"suggestedPodLimit,omitempty"`
	// Evictions and ReadOnlyFailures are null when the source cannot count them.
	Evictions        []Eviction        `json:"evictions"`
	ReadOnlyFailures []ReadOnlyFailure `json:"readOnlyFailures"`
}

// EmptyDirAdvice sizes a disk-backed emptyDir.
type EmptyDirAdvice struct {
	Volume             string `json:"volume"`
	PeakBytes          *int64 `json:"peakBytes"`
	SizeLimitBytes     *int64 `json:"sizeLimitBytes"`
	SuggestedBytes     int64  `json:"suggestedSizeLimitBytes"`
	SuggestedSizeLimit string `json:"suggestedSizeLimit"`
	Change             string `json:"change"`
}

// MemoryEmptyDirAdvice shows how close a tmpfs emptyDir came to its size: writes fail with ENOSPC
// there, and its usage counts against the container's memory.
type MemoryEmptyDirAdvice struct {
	Volume         string   `json:"volume"`
	PeakBytes      *int64   `json:"peakBytes"`
	SizeLimitBytes *int64   `json:"effectiveSizeLimitBytes"`
	HeadroomBytes  *int64   `json:"headroomBytes"`
	UsedRatio      *float64 `json:"usedRatio"`
	// SpecSizeLimitBytes is the sizeLimit the pod spec sets, null when it sets none or the
	// source cannot tell (Change says which).
	SpecSizeLimitBytes *int64 `json:"specSizeLimitBytes"`
	// SuggestedSizeLimit bounds the tmpfs: without a sizeLimit it may grow to the pod's memory
	// limit (or the node's memory), and every byte of it is charged to the pod's memory.
	SuggestedBytes     int64  `json:"suggestedSizeLimitBytes"`
	SuggestedSizeLimit string `json:"suggestedSizeLimit"`
	Change             string `json:"change"`
}

// ContainerAdvice sizes a container's ephemeral-storage and judges its read-only root.
type ContainerAdvice struct {
	Container    string `json:"container"`
	Type         string `json:"type,omitempty"`
	PeakBytes    *int64 `json:"peakBytes"`
	RequestBytes *int64 `json:"requestBytes"`
	LimitBytes   *int64 `json:"limitBytes"`
	// EmptyDirSizeLimitsBytes is the sum of the pod's suggested disk emptyDir sizeLimits that
	// the request includes.
	EmptyDirSizeLimitsBytes int64            `json:"emptyDirSizeLimitsBytes"`
	SuggestedRequestBytes   int64            `json:"suggestedRequestBytes"`
	SuggestedLimitBytes     int64            `json:"suggestedLimitBytes"`
	SuggestedRequest        string           `json:"suggestedRequest"`
	SuggestedLimit          string           `json:"suggestedLimit"`
	ReadOnlyRoot            ReadOnlyRootInfo `json:"readOnlyRoot"`
}

// ReadOnlyRootInfo is the read-only root filesystem readiness of a container.
type ReadOnlyRootInfo struct {
	Verdict         string `json:"verdict"`
	RootfsPeakBytes *int64 `json:"rootfsPeakBytes"`
	// SuggestedEmptyDirSizeLimit sizes the emptyDir to mount where the container writes, when
	// it writes to its writable layer.
	SuggestedEmptyDirSizeLimit string `json:"suggestedEmptyDirSizeLimit,omitempty"`
}

// Eviction counts a workload's evictions of one cause in the window.
type Eviction struct {
	Cause string `json:"cause"`
	Count int64  `json:"count"`
}

// ReadOnlyFailure counts a container's failed writes to a read-only file system.
type ReadOnlyFailure struct {
	Container string `json:"container"`
	Count     int64  `json:"count"`
}

// Analyze applies the sizing rules to what a source observed.
func Analyze(in *Input, s Sizing) *Report {
	r := &Report{
		Source: in.Source, Snapshot: in.Snapshot, End: in.End.UTC(), Headroom: s.Headroom,
		RequestOverhead: RequestOverhead, LimitFactor: LimitFactor, FloorBytes: s.Floor, ReadOnlyTolerance: s.ReadOnlyTolerance,
		LogRotation: s.LogRotation, LogFloorBytes: RoundUp(s.LogRotation.Floor()),
		Notes: in.Notes,
	}
	r.known.ev, r.known.rof = in.EvictionsKnown, in.ReadOnlyFailuresKnown
	if in.Snapshot {
		r.Basis = "snapshot, not a window: peaks are the usage at one instant"
	} else {
		r.Window = formatDuration(in.Window)
		r.Basis = "peak over " + r.Window
	}

	workloads := map[Workload]*WorkloadAdvice{}
	get := func(w Workload) *WorkloadAdvice {
		a := workloads[w]
		if a == nil {
			a = &WorkloadAdvice{Workload: w}
			if in.EvictionsKnown {
				a.Evictions = []Eviction{}
			}
			if in.ReadOnlyFailuresKnown {
				a.ReadOnlyFailures = []ReadOnlyFailure{}
			}
			workloads[w] = a
		}
		return a
	}

	// Volumes: the largest peak and bound over the workload's pods.
	type volKey struct {
		w              Workload
		volume, medium string
	}
	vols := map[volKey]*VolumeObservation{}
	for _, v := range in.Volumes {
		k := volKey{v.Workload, v.Volume, v.Medium}
		if o := vols[k]; o != nil {
			o.Peak, o.SizeLimit = maxValue(o.Peak, v.Peak), maxValue(o.SizeLimit, v.SizeLimit)
			continue
		}
		v := v
		vols[k] = &v
	}
	emptyDirSum := map[Workload]int64{}
	for _, k := range sortedKeys(vols, func(a, b volKey) int {
		return cmp.Or(cmp.Compare(a.volume, b.volume), cmp.Compare(a.medium, b.medium))
	}) {
		v := vols[k]
		a := get(k.w)
		switch k.medium {
		case "memory":
			m := MemoryEmptyDirAdvice{Volume: v.Volume, PeakBytes: bytesPtr(v.Peak), SizeLimitBytes: bytesPtr(v.SizeLimit)}
			if v.Peak.OK && v.SizeLimit.OK {
				h := int64(v.SizeLimit.Value - v.Peak.Value)
				m.HeadroomBytes = &h
				if v.SizeLimit.Value > 0 {
					ratio := v.Peak.Value / v.SizeLimit.Value
					m.UsedRatio = &ratio
				}
			}
			m.SuggestedBytes = s.SizeLimit(v.Peak.Value)
			m.SuggestedSizeLimit = Quantity(m.SuggestedBytes)
			switch {
			case !v.SpecKnown:
				m.Change = ChangeCheck
			default:
				m.SpecSizeLimitBytes = bytesPtr(v.SpecSizeLimit)
				m.Change = change(v.SpecSizeLimit, m.SuggestedBytes)
			}
			a.MemoryEmptyDirs = append(a.MemoryEmptyDirs, m)
		default:
			suggested := s.SizeLimit(v.Peak.Value)
			e := EmptyDirAdvice{Volume: v.Volume, PeakBytes: bytesPtr(v.Peak), SizeLimitBytes: bytesPtr(v.SizeLimit),
				SuggestedBytes: suggested, SuggestedSizeLimit: Quantity(suggested), Change: change(v.SizeLimit, suggested)}
			a.EmptyDirs = append(a.EmptyDirs, e)
			emptyDirSum[k.w] += suggested
		}
	}

	// Containers: the largest peak and configured values over the workload's pods. A container
	// is read-only only when every pod said so.
	type ctrKey struct {
		w         Workload
		container string
	}
	ctrs := map[ctrKey]*ContainerObservation{}
	for _, c := range in.Containers {
		k := ctrKey{c.Workload, c.Container}
		o := ctrs[k]
		if o == nil {
			c := c
			ctrs[k] = &c
			continue
		}
		o.Peak, o.RootfsPeak = maxValue(o.Peak, c.Peak), maxValue(o.RootfsPeak, c.RootfsPeak)
		o.Request, o.Limit = maxValue(o.Request, c.Request), maxValue(o.Limit, c.Limit)
		if o.Type == "" {
			o.Type = c.Type
		}
		if c.ReadOnlyRoot.OK && (!o.ReadOnlyRoot.OK || c.ReadOnlyRoot.Value == 0) {
			o.ReadOnlyRoot = c.ReadOnlyRoot
		}
	}
	for _, k := range sortedKeys(ctrs, func(a, b ctrKey) int {
		return cmp.Or(cmp.Compare(typeOrder(ctrs[a].Type), typeOrder(ctrs[b].Type)), cmp.Compare(a.container, b.container))
	}) {
		c := ctrs[k]
		a := get(k.w)
		// A regular init container runs before the app containers: it enters the pod's limit only
		// through a max() (podLimits) and the kubelet checks no per-container limit on it, so
		// the emptyDirs are already covered by the app containers and it carries its own writes.
		emptyDirs := emptyDirSum[k.w]
		if c.Type == "init" {
			emptyDirs = 0
		}
		request, limit := s.Request(emptyDirs, c.Peak.Value)
		a.Containers = append(a.Containers, ContainerAdvice{
			Container: c.Container, Type: c.Type,
			PeakBytes: bytesPtr(c.Peak), RequestBytes: bytesPtr(c.Request), LimitBytes: bytesPtr(c.Limit),
			EmptyDirSizeLimitsBytes: emptyDirs,
			SuggestedRequestBytes:   request, SuggestedLimitBytes: limit,
			SuggestedRequest: Quantity(request), SuggestedLimit: Quantity(limit),
			ReadOnlyRoot: readOnlyRoot(c, s),
		})
	}

	for _, a := range workloads {
		a.SuggestedPodRequestBytes = podTotal(a.Containers, func(c ContainerAdvice) int64 { return c.SuggestedRequestBytes })
		a.SuggestedPodLimitBytes = podTotal(a.Containers, func(c ContainerAdvice) int64 { return c.SuggestedLimitBytes })
		if a.SuggestedPodLimitBytes > 0 {
			a.SuggestedPodLimit = Quantity(a.SuggestedPodLimitBytes)
		}
	}

	// Counters.
	evictions := map[Workload]map[string]float64{}
	for _, e := range in.Evictions {
		if evictions[e.Workload] == nil {
			evictions[e.Workload] = map[string]float64{}
		}
		evictions[e.Workload][e.Cause] += e.Count
	}
	for w, causes := range evictions {
		for _, cause := range sortedKeys(causes, cmp.Compare[string]) {
			if n := roundCount(causes[cause]); n > 0 {
				a := get(w)
				a.Evictions = append(a.Evictions, Eviction{Cause: cause, Count: n})
			}
		}
	}
	failures := map[Workload]map[string]float64{}
	for _, f := range in.ReadOnlyFailures {
		if failures[f.Workload] == nil {
			failures[f.Workload] = map[string]float64{}
		}
		failures[f.Workload][f.Container] += f.Count
	}
	for w, containers := range failures {
		for _, c := range sortedKeys(containers, cmp.Compare[string]) {
			if n := roundCount(containers[c]); n > 0 {
				a := get(w)
				a.ReadOnlyFailures = append(a.ReadOnlyFailures, ReadOnlyFailure{Container: c, Count: n})
			}
		}
	}

	r.Workloads = make([]WorkloadAdvice, 0, len(workloads))
	for _, w := range sortedKeys(workloads, compareWorkload) {
		r.Workloads = append(r.Workloads, *workloads[w])
	}
	return r
}

// podTotal is the kubelet's pod-level value of a per-container resource
// (k8s.io/component-helpers/resource aggregateContainerResourcesByFn, used by PodLimits in
// pkg/kubelet/eviction/eviction_manager.go podEphemeralStorageLimitEviction): app containers and
// restartable init containers (sidecars) add up; a regular init container runs alone with the
// sidecars started before it, so the pod's value is max(sum of app and sidecars, max over init
// containers of (init + sidecars before it)). Where the sidecars stand among the init containers
// is not observed, so every sidecar is counted with every init container: at least the kubelet's
// value, equal to it when the sidecars come first (their usual place).
func podTotal(containers []ContainerAdvice, value func(ContainerAdvice) int64) int64 {
	var running, sidecars, init int64
	for _, c := range containers {
		switch c.Type {
		case "init":
			init = max(init, value(c))
		case "sidecar":
			sidecars += value(c)
			running += value(c)
		default:
			running += value(c)
		}
	}
	if init > 0 {
		return max(running, init+sidecars)
	}
	return running
}

func readOnlyRoot(c *ContainerObservation, s Sizing) ReadOnlyRootInfo {
	info := ReadOnlyRootInfo{RootfsPeakBytes: bytesPtr(c.RootfsPeak)}
	switch {
	case !c.ReadOnlyRoot.OK:
		info.Verdict = ReadOnlyUnknown
	case c.ReadOnlyRoot.Value != 0:
		info.Verdict = ReadOnlyEnabled
	case !c.RootfsPeak.OK:
		// Without writable-layer stats there is nothing to judge by.
		info.Verdict = ReadOnlyUnknown
	case c.RootfsPeak.Value <= float64(s.ReadOnlyTolerance):
		info.Verdict = ReadOnlySafe
	default:
		info.Verdict = ReadOnlyWrites
		info.SuggestedEmptyDirSizeLimit = Quantity(s.SizeLimit(c.RootfsPeak.Value))
	}
	return info
}

func change(configured model.Opt, suggested int64) string {
	switch {
	case !configured.OK || configured.Value <= 0:
		return ChangeSet
	case int64(configured.Value) < suggested:
		return ChangeRaise
	case int64(configured.Value) > suggested:
		return ChangeLower
	}
	return ChangeKeep
}

func typeOrder(t string) int {
	switch t {
	case "app":
		return 0
	case "sidecar":
		return 1
	case "init":
		return 2
	}
	return 3
}

func compareWorkload(a, b Workload) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
}

func sortedKeys[K comparable, V any](m map[K]V, compare func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compare)
	return keys
}

func bytesPtr(v model.Opt) *int64 {
	if !v.OK {
		return nil
	}
	b := int64(v.Value)
	return &b
}

// roundCount rounds a counter increase: increase() extrapolates, so 2 evictions may read 1.97.
func roundCount(v float64) int64 { return int64(v + 0.5) }

// formatDuration prints a window the way PromQL writes it: 7d as 1w, 36h as 1d12h.
func formatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return promDuration(d)
}

// Describe is a one-line summary of what the report is based on.
func (r *Report) Describe() string {
	return fmt.Sprintf("%s (%s), at %s", r.Source, r.Basis, r.End.Format(time.RFC3339))
}
