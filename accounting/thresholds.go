package accounting

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

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

// DefaultEvictionHard is the kubelet's default evictionHard, storage signals only
// (pkg/kubelet/apis/config/v1beta1 defaults; imagefs.inodesFree from 1.31).
const DefaultEvictionHard = "nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,imagefs.inodesFree<5%"

// Threshold is one hard eviction threshold: a quantity, or a percentage of capacity.
type Threshold struct {
	Signal     string
	Quantity   *resource.Quantity
	Percentage float32 // kept as float32, the type the kubelet resolves percentages with
}

// IsInodes tells an inodesFree signal from an available-bytes one.
func (t Threshold) IsInodes() bool { return strings.HasSuffix(t.Signal, ".inodesFree") }

// Resolve turns the threshold into an amount for a filesystem of the given capacity, as the
// kubelet's GetThresholdQuantity does: int64(float64(capacity) * float64(percentage)).
func (t Threshold) Resolve(capacity uint64) int64 {
	if t.Quantity != nil {
		return t.Quantity.Value()
	}
	return int64(float64(capacity) * float64(t.Percentage))
}

// Met mirrors thresholdsMet: a signal is met when the threshold is strictly more than what is
// available.
func Met(threshold int64, available uint64) bool {
	return threshold > 0 && uint64(threshold) > available
}

// ParseThresholds parses the kubelet's --eviction-hard syntax, "signal<value,signal<value".
func ParseThresholds(spec string) ([]Threshold, error) {
	m := map[string]string{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		signal, value, found := strings.Cut(item, "<")
		if !found {
			return nil, fmt.Errorf("eviction threshold %q: want signal<value (only < is supported, as in the kubelet)", item)
		}
		m[strings.TrimSpace(signal)] = strings.TrimSpace(value)
	}
	return ParseThresholdMap(m)
}

// ParseThresholdMap parses the evictionHard map of a KubeletConfiguration (as /configz shows it),
// mirroring the kubelet's ParseThresholdConfig for the storage signals.
func ParseThresholdMap(m map[string]string) ([]Threshold, error) {
	thresholds := make([]Threshold, 0, len(m))
	for signal, value := range m {
		if otherSignals[signal] {
			continue
		}
		if !storageSignals[signal] {
			return nil, fmt.Errorf("eviction threshold: unknown signal %q", signal)
		}
		t, err := parseThresholdValue(signal, value)
		if err != nil {
			return nil, err
		}
		thresholds = append(thresholds, t)
	}
	sort.Slice(thresholds, func(i, j int) bool { return thresholds[i].Signal < thresholds[j].Signal })
	return thresholds, nil
}

func parseThresholdValue(signal, value string) (Threshold, error) {
	if pct, isPct := strings.CutSuffix(value, "%"); isPct {
		p, err := strconv.ParseFloat(pct, 32)
		if err != nil || p < 0 || p > 100 {
			return Threshold{}, fmt.Errorf("eviction threshold %s: invalid percentage %q", signal, value)
		}
		return Threshold{Signal: signal, Percentage: float32(p / 100)}, nil
	}
	q, err := resource.ParseQuantity(value)
	if err != nil || q.Sign() < 0 {
		return Threshold{}, fmt.Errorf("eviction threshold %s: invalid quantity %q", signal, value)
	}
	return Threshold{Signal: signal, Quantity: &q}, nil
}
