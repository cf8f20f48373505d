package accounting

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Storage eviction signals of the kubelet (pkg/kubelet/eviction/api/types.go). Memory and PID
// signals are not ours and are ignored when present in a threshold list.
const (
	SignalNodeFsAvailable       = "nodefs.available"
	SignalNodeFsInodesFree      = "nodefs.inodesFree"
	SignalImageFsAvailable      = "imagefs.available"
	SignalImageFsInodesFree     = "imagefs.inodesFree"
	SignalContainerFsAvailable  = "containerfs.available"
	SignalContainerFsInodesFree = "containerfs.inodesFree"
)

var storageSignals = map[string]bool{
	SignalNodeFsAvailable: true, SignalNodeFsInodesFree: true,
	SignalImageFsAvailable: true, SignalImageFsInodesFree: true,
	SignalContainerFsAvailable: true, SignalContainerFsInodesFree: true,
}

var otherSignals = map[string]bool{"memory.available": true, "allocatableMemory.available": true, "pid.available": true}

// DefaultEvictionHard is the kubelet's default evictionHard on Linux, storage signals only
// (pkg/kubelet/eviction/defaults_linux.go). imagefs.inodesFree is a default from 1.30
// (k8s.io/kubernetes v1.30.4 lists it, v1.29.6 does not): see DefaultEvictionHardFor.
const DefaultEvictionHard = "nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,imagefs.inodesFree<5%"

// DefaultEvictionHardFor is the default for a kubelet version: without imagefs.inodesFree
// before 1.30.
func DefaultEvictionHardFor(v Version) string {
	if v.AtLeast(1, 30) {
		return DefaultEvictionHard
	}
	return "nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%"
}

// Value is a threshold or minimum-reclaim amount: a quantity, or a fraction of capacity.
type Value struct {
	Quantity   *resource.Quantity
	Percentage float32 // kept as float32, the type the kubelet resolves percentages with
}

// Resolve turns the value into an amount for a filesystem of the given capacity, as the
// kubelet's GetThresholdQuantity does: int64(float64(capacity.Value()) * float64(percentage)).
// capacity is int64 as the kubelet converts it (int64(*CapacityBytes)).
func (v Value) Resolve(capacity int64) int64 {
	if v.Quantity != nil {
		return v.Quantity.Value()
	}
	return int64(float64(capacity) * float64(v.Percentage))
}

// Threshold is one eviction threshold: hard (GracePeriod 0) or soft, with its minimum reclaim.
type Threshold struct {
	Signal string
	Value
	// GracePeriod is how long a soft threshold must be met before the kubelet evicts; 0 is hard.
	GracePeriod time.Duration
	// MinReclaim is how much beyond the threshold the kubelet frees once it evicts
	// (evictionMinimumReclaim): it keeps evicting until available >= threshold + MinReclaim.
	MinReclaim *Value
}

// IsInodes tells an inodesFree signal from an available-bytes one.
func (t Threshold) IsInodes() bool { return strings.HasSuffix(t.Signal, ".inodesFree") }

// IsHard mirrors isHardEvictionThreshold: no grace period.
func (t Threshold) IsHard() bool { return t.GracePeriod == 0 }

// Met mirrors thresholdsMet: a signal is met when the threshold quantity is strictly more than
// what is available (quantity.Cmp(available) > 0), both int64 as the kubelet converts them.
func Met(threshold, available int64) bool { return threshold > available }

// SignalRatio is filesystem usage over the usage at which the signal is met,
// (capacity - available) / (capacity - threshold), shaped so that "> 1" is exactly Met and the
// value is never negative: available above capacity (a kubelet glitch) reads 0, and a threshold
// at or above capacity, always met, reads +Inf. All three numbers are int64 as the kubelet
// converts them, so inodesFree = 2^64-1 is -1 there and here: met, as the kubelet sees it.
func SignalRatio(capacity, available, threshold int64) float64 {
	met := Met(threshold, available)
	if capacity <= threshold {
		if met {
			return math.Inf(1)
		}
		return 0
	}
	r := (float64(capacity) - float64(available)) / (float64(capacity) - float64(threshold))
	switch {
	case met && r <= 1:
		return math.Nextafter(1, 2)
	case !met && r > 1:
		return 1
	case r < 0:
		return 0
	}
	return r
}

// ParseThresholds parses the kubelet's --eviction-hard syntax, "signal<value,signal<value".
func ParseThresholds(spec string) ([]Threshold, error) {
	m, err := ParseStatements(spec, "<")
	if err != nil {
		return nil, err
	}
	return ParseThresholdMap(m)
}

// ParseStatements splits the kubelet's flag syntax "key<sep>value,..." into a map, e.g.
// --eviction-hard (sep "<") or --eviction-minimum-reclaim (sep "=").
func ParseStatements(spec, sep string) (map[string]string, error) {
	m := map[string]string{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, value, found := strings.Cut(item, sep)
		if !found {
			return nil, fmt.Errorf("eviction setting %q: want key%svalue", item, sep)
		}
		m[strings.TrimSpace(key)] = strings.TrimSpace(value)
	}
	return m, nil
}

// ParseThresholdMap parses the evictionHard map of a KubeletConfiguration (as /configz shows it).
func ParseThresholdMap(hard map[string]string) ([]Threshold, error) {
	return ParseThresholdConfig(hard, nil, nil, nil)
}

// ParseThresholdConfig mirrors the kubelet's ParseThresholdConfig (pkg/kubelet/eviction/helpers.go,
// k8s.io/kubernetes v1.37.2) for the storage signals: hard and soft thresholds, the soft grace
// periods (required for each soft threshold) and minimum reclaims. Memory and PID signals are
// accepted and dropped. Thresholds are sorted by signal, hard before soft.
func ParseThresholdConfig(hard, soft, gracePeriods, minReclaims map[string]string) ([]Threshold, error) {
	hardT, err := parseThresholdStatements(hard)
	if err != nil {
		return nil, err
	}
	softT, err := parseThresholdStatements(soft)
	if err != nil {
		return nil, err
	}
	periods, err := parseGracePeriods(gracePeriods)
	if err != nil {
		return nil, err
	}
	for i := range softT {
		d, ok := periods[softT[i].Signal]
		if !ok {
			return nil, fmt.Errorf("grace period must be specified for the soft eviction threshold %s", softT[i].Signal)
		}
		softT[i].GracePeriod = d
	}
	reclaims := map[string]Value{}
	for signal, v := range minReclaims {
		if otherSignals[signal] {
			continue
		}
		if !storageSignals[signal] {
			return nil, fmt.Errorf("eviction minimum reclaim: unknown signal %q", signal)
		}
		r, err := parseMinReclaim(signal, v)
		if err != nil {
			return nil, err
		}
		reclaims[signal] = r
	}
	all := append(hardT, softT...)
	for i := range all {
		if r, ok := reclaims[all[i].Signal]; ok {
			all[i].MinReclaim = &r
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Signal != all[j].Signal {
			return all[i].Signal < all[j].Signal
		}
		return all[i].IsHard() && !all[j].IsHard()
	})
	return all, nil
}

// parseGracePeriods mirrors the kubelet's parseGracePeriods: every entry is validated, also one
// for a signal without a soft threshold (a known signal, a duration of 0 or more).
func parseGracePeriods(m map[string]string) (map[string]time.Duration, error) {
	periods := map[string]time.Duration{}
	for signal, v := range m {
		if !storageSignals[signal] && !otherSignals[signal] {
			return nil, fmt.Errorf("eviction grace period: unknown signal %q", signal)
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("invalid eviction grace period for %s: %q", signal, v)
		}
		periods[signal] = d
	}
	return periods, nil
}

func parseThresholdStatements(m map[string]string) ([]Threshold, error) {
	thresholds := make([]Threshold, 0, len(m))
	for signal, value := range m {
		if otherSignals[signal] {
			continue
		}
		if !storageSignals[signal] {
			return nil, fmt.Errorf("eviction threshold: unknown signal %q", signal)
		}
		t, ignored, err := parseThresholdValue(signal, value)
		if err != nil {
			return nil, err
		}
		if !ignored {
			thresholds = append(thresholds, t)
		}
	}
	return thresholds, nil
}

// parseThresholdValue mirrors parseThresholdStatement: the exact strings "0%" and "100%" mean no
// threshold (ignored, while "0.0%" is a threshold that never fires); a percentage is
// float32(value)/100 within [0, 1]; a quantity must be positive (0 is refused).
func parseThresholdValue(signal, value string) (t Threshold, ignored bool, err error) {
	if strings.HasSuffix(value, "%") {
		if value == "0%" || value == "100%" {
			return Threshold{}, true, nil
		}
		p, err := parsePercentage(value)
		if err != nil || p < 0 || p > 1 {
			return Threshold{}, false, fmt.Errorf("eviction threshold %s: invalid percentage %q", signal, value)
		}
		return Threshold{Signal: signal, Value: Value{Percentage: p}}, false, nil
	}
	q, err := resource.ParseQuantity(value)
	if err != nil || q.Sign() <= 0 {
		return Threshold{}, false, fmt.Errorf("eviction threshold %s: must be a positive quantity: %q", signal, value)
	}
	return Threshold{Signal: signal, Value: Value{Quantity: &q}}, false, nil
}

// parseMinReclaim mirrors parseMinimumReclaims: a positive percentage or a non-negative quantity.
func parseMinReclaim(signal, value string) (Value, error) {
	if strings.HasSuffix(value, "%") {
		p, err := parsePercentage(value)
		if err != nil || p <= 0 {
			return Value{}, fmt.Errorf("eviction minimum reclaim %s: invalid percentage %q", signal, value)
		}
		return Value{Percentage: p}, nil
	}
	q, err := resource.ParseQuantity(value)
	if err != nil || q.Sign() < 0 {
		return Value{}, fmt.Errorf("eviction minimum reclaim %s: invalid quantity %q", signal, value)
	}
	return Value{Quantity: &q}, nil
}

// parsePercentage is the kubelet's: float32 arithmetic, as the kubelet rounds it.
func parsePercentage(input string) (float32, error) {
	v, err := strconv.ParseFloat(strings.TrimRight(input, "%"), 32)
	if err != nil {
		return 0, err
	}
	return float32(v) / 100, nil
}

// WithContainerFsThresholds mirrors UpdateContainerFsThresholds (pkg/kubelet/eviction/helpers.go,
// k8s.io/kubernetes v1.29.6 to v1.37.2): the kubelet ignores the user's containerfs.* values and
// derives them, hard and soft, from nodefs on a single filesystem or a split one (writable layers
// on nodefs), and from imagefs on a dedicated image filesystem. A derived threshold whose source
// is not set is left out: the kubelet's zero-valued copy never fires.
func WithContainerFsThresholds(thresholds []Threshold, layout FsLayout) []Threshold {
	source := "nodefs"
	if layout.DedicatedImageFs && !layout.SplitContainerFs {
		source = "imagefs"
	}
	out := make([]Threshold, 0, len(thresholds)+2)
	var derived []Threshold
	for _, t := range thresholds {
		fs, kind, _ := strings.Cut(t.Signal, ".")
		switch fs {
		case "containerfs":
			continue
		case source:
			c := t
			c.Signal = "containerfs." + kind
			derived = append(derived, c)
		}
		out = append(out, t)
	}
	return append(out, derived...)
}
