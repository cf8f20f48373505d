package accounting

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var above1 = math.Nextafter(1, 2)

// Item 7 and 6 of issue 15: the kubelet compares resource.Quantity values exactly
// (eviction_manager.go emptyDirLimitEviction, podEphemeralStorageLimitEviction,
// containerEphemeralStorageLimitEviction: used.Cmp(limit) > 0, k8s.io/kubernetes v1.37.2), with
// summary numbers converted by int64(*UsedBytes).
func TestRatioFollowsExactComparison(t *testing.T) {
	const maxUint64 = math.MaxUint64
	tests := []struct {
		name      string
		usage     uint64
		limit     string
		exceeds   bool
		wantRatio float64
	}{
		{name: "fractional limit, 1 byte above", usage: 1363149, limit: "1.3Mi", exceeds: true, wantRatio: 1363149 / 1363148.8},
		{name: "fractional limit, below", usage: 1363148, limit: "1.3Mi", wantRatio: 1363148 / 1363148.8},
		{name: "exactly at the limit", usage: 1 << 20, limit: "1Mi", wantRatio: 1},
		{name: "one byte above", usage: 1<<20 + 1, limit: "1Mi", exceeds: true, wantRatio: float64(1<<20+1) / (1 << 20)},
		{name: "above 2^53, one byte over: float rounding must not hide it", usage: 1<<60 + 1, limit: "1152921504606846976", exceeds: true, wantRatio: above1},
		{name: "above 2^53, at the limit", usage: 1 << 60, limit: "1152921504606846976", wantRatio: 1},
		{name: "limit 0, nothing used", usage: 0, limit: "0", wantRatio: 0},
		{name: "limit 0, one byte used: evicted", usage: 1, limit: "0", exceeds: true, wantRatio: math.Inf(1)},
		{name: "uint64 max usage is -1 to the kubelet: never evicted", usage: maxUint64, limit: "1Mi", wantRatio: 0},
		{name: "limit 1e30", usage: 1 << 40, limit: "1e30", wantRatio: float64(1<<40) / 1e30},
		{name: "limit 2^63", usage: 1 << 40, limit: "9223372036854775808", wantRatio: float64(1<<40) / 9223372036854775808},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit := resource.MustParse(tt.limit)
			assert.Equal(t, tt.exceeds, Exceeds(tt.usage, limit))
			got := Ratio(tt.usage, limit)
			assert.Equal(t, tt.wantRatio, got)
			assert.Equal(t, tt.exceeds, got > 1, "ratio > 1 exactly when the kubelet evicts")
		})
	}
}

// Issue 12 (low): 1e30 was exported as 0 and 2^63 as -9.22e18 (Quantity.Value overflows).
func TestBytesBeyondInt64(t *testing.T) {
	assert.Equal(t, 1e30, Bytes(resource.MustParse("1e30")))
	assert.Equal(t, 9223372036854775808.0, Bytes(resource.MustParse("9223372036854775808")))
	assert.Equal(t, 1363148.8, Bytes(resource.MustParse("1.3Mi")))
}

// Item 1: containerEphemeralStorageLimitEviction checks restartable init containers from 1.37
// (k8s.io/kubernetes v1.37.2 eviction_manager.go, podutil.IsRestartableInitContainer loop; absent
// in v1.36.3). The container rule also skips limits whose Value() is 0, 1e30 included.
func TestContainerLimitByVersion(t *testing.T) {
	c := container("proxy", storage("1Mi"), nil)
	tests := []struct {
		name    string
		c       corev1.Container
		sidecar bool
		version string
		wantOK  bool
	}{
		{name: "app container, 1.27", c: c, version: "v1.27.3", wantOK: true},
		{name: "sidecar, 1.36", c: c, sidecar: true, version: "v1.36.3", wantOK: false},
		{name: "sidecar, 1.37", c: c, sidecar: true, version: "v1.37.2", wantOK: true},
		{name: "sidecar, 1.38", c: c, sidecar: true, version: "v1.38.0-alpha.1", wantOK: true},
		{name: "sidecar, version unknown: newest rules", c: c, sidecar: true, version: "", wantOK: true},
		{name: "limit 1e30: Value() is 0, skipped like the kubelet", c: container("a", storage("1e30"), nil), version: "v1.37.2", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ok := ContainerLimit(&tt.c, tt.sidecar, ParseVersion(tt.version))
			assert.Equal(t, tt.wantOK, ok)
		})
	}
}

func TestParseVersion(t *testing.T) {
	assert.Equal(t, Version{1, 30}, ParseVersion("v1.30.4-eks-a737599"))
	assert.Equal(t, Version{1, 34}, ParseVersion("v1.34.2"))
	assert.Equal(t, Version{1, 31}, ParseVersion("1.31"))
	assert.False(t, ParseVersion("garbage").Known())
	assert.False(t, ParseVersion("v1").Known())
	assert.True(t, ParseVersion("v1.29.6").AtLeast(1, 29))
	assert.False(t, ParseVersion("v1.29.6").AtLeast(1, 30))
}

// Item 3: parseThresholdStatement (helpers.go, v1.37.2) ignores the exact strings "0%" and "100%"
// and refuses a zero quantity; percentages are float32(value)/100 (parsePercentage).
func TestThresholdStatementsLikeTheKubelet(t *testing.T) {
	tests := []struct {
		spec        string
		wantSignals []string
		wantErr     bool
	}{
		{spec: "nodefs.available<0%", wantSignals: []string{}},
		{spec: "nodefs.available<100%,imagefs.available<15%", wantSignals: []string{SignalImageFsAvailable}},
		{spec: "nodefs.available<0.0%", wantSignals: []string{SignalNodeFsAvailable}}, // not the string "0%": a threshold that never fires
		{spec: "nodefs.available<0", wantErr: true},
		{spec: "nodefs.available<0Gi", wantErr: true},
		{spec: "nodefs.available<100.1%", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseThresholds(tt.spec)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			signals := []string{}
			for _, th := range got {
				signals = append(signals, th.Signal)
			}
			assert.Equal(t, tt.wantSignals, signals)
		})
	}
	got, err := ParseThresholds("nodefs.available<12.3%")
	require.NoError(t, err)
	assert.Equal(t, float32(12.3)/100, got[0].Percentage, "float32 division, as parsePercentage")
}

// Item 11: imagefs.inodesFree is a default from 1.30 (pkg/kubelet/eviction/defaults_linux.go:
// present in v1.30.4, absent in v1.29.6).
func TestDefaultEvictionHardByVersion(t *testing.T) {
	for _, tt := range []struct {
		version string
		want    int
	}{{"v1.29.6", 3}, {"v1.30.0", 4}, {"v1.37.2", 4}, {"", 4}} {
		th, err := ParseThresholds(DefaultEvictionHardFor(ParseVersion(tt.version)))
		require.NoError(t, err)
		assert.Len(t, th, tt.want, tt.version)
	}
}

// Item 5: ParseThresholdConfig (helpers.go, v1.37.2): soft thresholds need a grace period; minimum
// reclaims apply to hard and soft thresholds of their signal.
func TestParseThresholdConfig(t *testing.T) {
	got, err := ParseThresholdConfig(
		map[string]string{"nodefs.available": "10%", "memory.available": "100Mi"},
		map[string]string{"nodefs.available": "15%"},
		map[string]string{"nodefs.available": "1m30s"},
		map[string]string{"nodefs.available": "500Mi"})
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.True(t, got[0].IsHard())
	assert.Equal(t, float32(0.10), got[0].Percentage)
	assert.Equal(t, int64(500<<20), got[0].MinReclaim.Resolve(1<<40))
	assert.False(t, got[1].IsHard())
	assert.Equal(t, 90*time.Second, got[1].GracePeriod)
	assert.Equal(t, int64(500<<20), got[1].MinReclaim.Resolve(1<<40))

	_, err = ParseThresholdConfig(nil, map[string]string{"nodefs.available": "15%"}, nil, nil)
	assert.Error(t, err, "a soft threshold without grace period is refused")
	_, err = ParseThresholdConfig(nil, nil, nil, map[string]string{"nodefs.available": "0%"})
	assert.Error(t, err, "a minimum reclaim percentage must be positive")
	_, err = ParseThresholdConfig(nil, nil, nil, map[string]string{"nodefs.available": "-1"})
	assert.Error(t, err, "a negative minimum reclaim is refused")
}

// Item 4: UpdateContainerFsThresholds (helpers.go, v1.29.6..v1.37.2) replaces the user's
// containerfs values by nodefs's (single or split filesystem) or imagefs's (dedicated imagefs).
func TestContainerFsThresholdsAreDerived(t *testing.T) {
	th, err := ParseThresholds("nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,containerfs.available<1Gi")
	require.NoError(t, err)
	bySignal := func(ts []Threshold) map[string]Threshold {
		m := map[string]Threshold{}
		for _, t := range ts {
			m[t.Signal] = t
		}
		return m
	}
	tests := []struct {
		name        string
		layout      FsLayout
		wantBytes   float32
		wantInodes  bool
		inodesValue float32
	}{
		{name: "single filesystem: from nodefs", layout: FsLayout{}, wantBytes: 0.10, wantInodes: true, inodesValue: 0.05},
		{name: "split: from nodefs", layout: FsLayout{DedicatedImageFs: true, SplitContainerFs: true}, wantBytes: 0.10, wantInodes: true, inodesValue: 0.05},
		{name: "dedicated imagefs: from imagefs (no imagefs.inodesFree set: none)", layout: FsLayout{DedicatedImageFs: true}, wantBytes: 0.15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bySignal(WithContainerFsThresholds(th, tt.layout))
			c, ok := got[SignalContainerFsAvailable]
			require.True(t, ok)
			assert.Nil(t, c.Quantity, "the user's containerfs.available<1Gi is ignored")
			assert.Equal(t, tt.wantBytes, c.Percentage)
			ci, ok := got[SignalContainerFsInodesFree]
			assert.Equal(t, tt.wantInodes, ok)
			if ok {
				assert.Equal(t, tt.inodesValue, ci.Percentage)
			}
		})
	}
}

// Item 9: makeSignalObservations converts with int64(*InodesFree): 2^64-1 is -1, and thresholdsMet
// sees the signal met. The ratio follows, and is never negative.
func TestSignalRatio(t *testing.T) {
	const inodes = 1000
	maxUint := uint64(math.MaxUint64)
	tests := []struct {
		name                           string
		capacity, available, threshold int64
		want                           float64
	}{
		{name: "inodesFree = 2^64-1 is -1: met", capacity: inodes, available: int64(maxUint), threshold: 50, want: (inodes + 1.0) / (inodes - 50.0)},
		{name: "available == threshold: not met", capacity: inodes, available: 50, threshold: 50, want: 1},
		{name: "available == threshold - 1: met", capacity: inodes, available: 49, threshold: 50, want: 951.0 / 950.0},
		{name: "available above capacity: 0, not negative", capacity: inodes, available: 2 * inodes, threshold: 50, want: 0},
		{name: "threshold above capacity: always met", capacity: inodes, available: inodes, threshold: 2 * inodes, want: math.Inf(1)},
		{name: "empty filesystem", capacity: inodes, available: inodes, threshold: 50, want: 0},
		{name: "huge numbers, one byte under the threshold", capacity: 1 << 62, available: 1<<61 - 1, threshold: 1 << 61, want: above1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SignalRatio(tt.capacity, tt.available, tt.threshold)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, Met(tt.threshold, tt.available), got > 1)
			assert.GreaterOrEqual(t, got, 0.0)
		})
	}
}

// Item 10: evictPod refuses critical pods (kubelettypes.IsCriticalPod, pkg/kubelet/types/pod_update.go v1.37.2).
func TestEvictable(t *testing.T) {
	prio := func(p int32) *int32 { return &p }
	tests := []struct {
		name string
		pod  corev1.Pod
		want bool
	}{
		{name: "ordinary", pod: corev1.Pod{}, want: true},
		{name: "static (config.source file)", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"kubernetes.io/config.source": "file"}}}, want: false},
		{name: "api source is not static", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"kubernetes.io/config.source": "api"}}}, want: true},
		{name: "mirror", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{"kubernetes.io/config.mirror": "x"}}}, want: false},
		{name: "system-cluster-critical", pod: corev1.Pod{Spec: corev1.PodSpec{Priority: prio(2000000000)}}, want: false},
		{name: "one below", pod: corev1.Pod{Spec: corev1.PodSpec{Priority: prio(1999999999)}}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, Evictable(&tt.pod)) })
	}
}
