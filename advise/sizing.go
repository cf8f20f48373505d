package advise

import (
	"math"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Binary units.
const (
	Ki int64 = 1 << 10
	Mi int64 = 1 << 20
	Gi int64 = 1 << 30
)

// Defaults from the sizing rules (docs/advise.md, reference/sizing.md).
const (
	// DefaultHeadroom multiplies an observed peak into a sizeLimit: +20% for overhead and growth.
	DefaultHeadroom = 1.2
	// RequestOverhead is the sizing rule's "+20% for overhead and growth" on a container request.
	RequestOverhead = 1.2
	// LimitFactor is the sizing rule's "limit = 2x the request".
	LimitFactor = 2
	// DefaultFloor is the smallest sizeLimit suggested: the 10 MB the rules give a socket, PID or
	// lock directory.
	DefaultFloor = 10 * Mi
	// DefaultReadOnlyTolerance is how much a container may write to its writable layer and still
	// be "safe to enable" a read-only root: an untouched layer reports a few KiB (directories the
	// runtime creates), never a MiB.
	DefaultReadOnlyTolerance = 1 * Mi
)

// The kubelet's container log rotation defaults (KubeletConfiguration containerLogMaxSize and
// containerLogMaxFiles, pkg/kubelet/apis/config/v1beta1/defaults.go
// SetDefaults_KubeletConfiguration): a container's logs keep up to MaxFiles files of MaxSize.
const (
	DefaultContainerLogMaxSize  = 10 * Mi
	DefaultContainerLogMaxFiles = 5
)

// LogRotation is the kubelet's container log rotation: the logs of a container that only logs
// still reach MaxSize x MaxFiles, and they count against its ephemeral-storage limit
// (pkg/kubelet/eviction/eviction_manager.go containerEphemeralStorageLimitEviction adds
// containerStat.Logs), so no container limit may be below that.
type LogRotation struct {
	MaxSize  int64 `json:"containerLogMaxSizeBytes"`
	MaxFiles int64 `json:"containerLogMaxFiles"`
	// Source says where the values come from: "kubelet default" or the kubelet config read.
	Source string `json:"source"`
}

// DefaultLogRotation is the kubelet's default rotation, 10Mi x 5.
func DefaultLogRotation() LogRotation {
	return LogRotation{MaxSize: DefaultContainerLogMaxSize, MaxFiles: DefaultContainerLogMaxFiles, Source: "kubelet default"}
}

// Floor is the most a container's rotated logs keep on disk: MaxSize x MaxFiles.
func (l LogRotation) Floor() int64 { return l.MaxSize * l.MaxFiles }

// RoundUp rounds bytes up to the next step of a ladder a person would write in a manifest:
//
//	up to 100Mi  multiples of 10Mi   (10Mi, 20Mi, ... 100Mi)
//	up to 1Gi    multiples of 25Mi   (125Mi, 150Mi, ... 1000Mi), then 1Gi
//	up to 10Gi   multiples of 256Mi  (1Gi, 1280Mi, 1536Mi, ... 10Gi)
//	above        multiples of 1Gi
//
// A step is at most 25% of the value it rounds (10% at the start of the first and last bands),
// so rounding never adds more than the headroom itself. 0 and negative values round to 0.
func RoundUp(bytes int64) int64 {
	switch {
	case bytes <= 0:
		return 0
	case bytes <= 100*Mi:
		return ceilTo(bytes, 10*Mi)
	case bytes <= Gi:
		return min(ceilTo(bytes, 25*Mi), Gi)
	case bytes <= 10*Gi:
		return ceilTo(bytes, 256*Mi)
	default:
		return ceilTo(bytes, Gi)
	}
}

func ceilTo(v, step int64) int64 { return (v + step - 1) / step * step }

// scale multiplies bytes by a factor, rounding up to a whole byte.
func scale(bytes float64, factor float64) int64 {
	if bytes <= 0 {
		return 0
	}
	return int64(math.Ceil(bytes * factor))
}

// Sizing holds the knobs of the arithmetic.
type Sizing struct {
	// Headroom multiplies an observed peak (default 1.2).
	Headroom float64
	// Floor is the smallest sizeLimit and request suggested (default 10Mi).
	Floor int64
	// ReadOnlyTolerance is the writable-layer peak below which a read-only root is safe.
	ReadOnlyTolerance int64
	// LogRotation gives the floor of every container limit.
	LogRotation LogRotation
}

// DefaultSizing is the sizing of the rules.
func DefaultSizing() Sizing {
	return Sizing{Headroom: DefaultHeadroom, Floor: DefaultFloor, ReadOnlyTolerance: DefaultReadOnlyTolerance, LogRotation: DefaultLogRotation()}
}

// SizeLimit suggests an emptyDir sizeLimit for an observed peak: peak x headroom, rounded up to
// the ladder, never below the floor.
func (s Sizing) SizeLimit(peak float64) int64 {
	return max(RoundUp(scale(peak, s.Headroom)), s.Floor)
}

// Request suggests a container's ephemeral-storage request and limit. The rule: the sum of the
// pod's disk emptyDir sizeLimits plus what the container itself writes (its observed peak of
// logs and writable layer), +20% for overhead and growth, rounded up to the ladder and never
// below the floor; the limit is 2x the request, and never below the log rotation floor
// (containerLogMaxSize x containerLogMaxFiles, rounded up): a limit under it evicts a container
// that does nothing but log.
func (s Sizing) Request(emptyDirSizeLimits int64, containerPeak float64) (request, limit int64) {
	request = max(RoundUp(scale(float64(emptyDirSizeLimits)+max(containerPeak, 0), RequestOverhead)), s.Floor)
	return request, max(LimitFactor*request, RoundUp(s.LogRotation.Floor()))
}

// Quantity renders bytes as a Kubernetes quantity (binary SI): 1536Mi, 2Gi.
func Quantity(bytes int64) string {
	return resource.NewQuantity(bytes, resource.BinarySI).String()
}
