package model_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

func nodeAt(version string) *corev1.Node {
	return &corev1.Node{Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{KubeletVersion: version}}}
}

func ephemeral(limit string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse(limit)}}
}

// Item 1 of issue 15: sidecars get a container ratio from kubelet 1.37
// (containerEphemeralStorageLimitEviction, eviction_manager.go, k8s.io/kubernetes v1.37.2).
func TestSidecarRatioByKubeletVersion(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	spec := podSpec("u1", corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "proxy", RestartPolicy: &always, Resources: ephemeral("1000")}},
		Containers:     []corev1.Container{{Name: "app"}}})
	stats := summaryOf(podStats("u1", []statsv1alpha1.ContainerStats{{Name: "proxy", Logs: fsStats(1001)}, {Name: "app", Logs: fsStats(1)}}))
	for _, tt := range []struct {
		version string
		want    model.Opt
	}{
		{version: "v1.36.3", want: model.Opt{}},
		{version: "v1.37.2", want: model.Some(1.001)},
	} {
		t.Run(tt.version, func(t *testing.T) {
			c := build(t, stats, []*corev1.Pod{spec}, nodeAt(tt.version), model.ImageFsAuto).Pods[0].Containers[0]
			assert.Equal(t, model.ContainerSidecar, c.Type)
			assert.Equal(t, model.Some(1000.0), c.Limit, "the limit is shown either way")
			assert.Equal(t, tt.want, c.Ratio)
		})
	}
}

// Items 6 and 7: a pod limit of 0 evicts on the first byte (podEphemeralStorageLimitEviction);
// fractional sizeLimits compare exactly (emptyDirLimitEviction).
func TestZeroAndFractionalLimits(t *testing.T) {
	zero := podSpec("u1", corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: ephemeral("0")}}})
	used := func(n uint64) *statsv1alpha1.Summary {
		ps := podStats("u1", nil)
		ps.EphemeralStorage = fsStats(n)
		return summaryOf(ps)
	}
	p := build(t, used(1), []*corev1.Pod{zero}, nil, model.ImageFsAuto).Pods[0]
	assert.Equal(t, model.Some(0.0), p.Limit)
	assert.Equal(t, model.Some(math.Inf(1)), p.Ratio)
	p = build(t, used(0), []*corev1.Pod{zero}, nil, model.ImageFsAuto).Pods[0]
	assert.Equal(t, model.Some(0.0), p.Ratio, "nothing used: not evicted")

	frac := podSpec("u1", corev1.PodSpec{Volumes: []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{
		EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: quantity("1.3Mi")}}}}})
	for _, tt := range []struct {
		used  uint64
		above bool
	}{{used: 1363148}, {used: 1363149, above: true}} {
		v := build(t, summaryOf(podStats("u1", nil, volStats("scratch", tt.used))), []*corev1.Pod{frac}, nil, model.ImageFsAuto).Pods[0].Volumes[0]
		assert.Equal(t, model.Some(1363148.8), v.SizeLimit)
		assert.Equal(t, tt.above, v.Ratio.Value > 1, "used %d", tt.used)
	}
}

// Issue 12 (low): limits beyond int64 are exported as their value.
func TestLimitsBeyondInt64(t *testing.T) {
	for _, tt := range []struct {
		limit string
		want  float64
	}{{"1e30", 1e30}, {"9223372036854775808", 9223372036854775808}} {
		spec := podSpec("u1", corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: ephemeral(tt.limit)}}})
		ps := podStats("u1", []statsv1alpha1.ContainerStats{{Name: "app", Logs: fsStats(5)}})
		ps.EphemeralStorage = fsStats(5)
		p := build(t, summaryOf(ps), []*corev1.Pod{spec}, nil, model.ImageFsAuto).Pods[0]
		assert.Equal(t, model.Some(tt.want), p.Limit, tt.limit)
		assert.Equal(t, model.Some(tt.want), p.Containers[0].Limit, tt.limit)
		assert.Equal(t, model.Some(5/tt.want), p.Ratio, tt.limit)
	}
}

// Item 8: the kubelet's HasDedicatedImageFs (pkg/kubelet/stats/provider.go, v1.37.2) compares
// devices, and reports dedicated when imageFs and containerFs differ on the root device.
func TestImageFsLayout(t *testing.T) {
	fs := func(capacity uint64, inodes *uint64) *statsv1alpha1.FsStats {
		return &statsv1alpha1.FsStats{CapacityBytes: u64(capacity), AvailableBytes: u64(capacity / 2), Inodes: inodes}
	}
	tests := []struct {
		name      string
		node, img *statsv1alpha1.FsStats
		ctr       *statsv1alpha1.FsStats
		want      accounting.FsLayout
	}{
		{name: "one filesystem", node: fs(100, u64(10)), img: fs(100, u64(10)), want: accounting.FsLayout{}},
		{name: "Windows: no inode counts, one filesystem", node: fs(100, nil), img: fs(100, nil), want: accounting.FsLayout{}},
		{name: "Windows: no inode counts, two sizes", node: fs(100, nil), img: fs(200, nil), want: accounting.FsLayout{DedicatedImageFs: true}},
		{name: "dedicated imagefs", node: fs(100, u64(10)), img: fs(200, u64(20)), ctr: fs(200, u64(20)), want: accounting.FsLayout{DedicatedImageFs: true}},
		{name: "split: images apart, writable layers on nodefs", node: fs(100, u64(10)), img: fs(200, u64(20)), ctr: fs(100, u64(10)),
			want: accounting.FsLayout{DedicatedImageFs: true, SplitContainerFs: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: "n", Fs: tt.node, Runtime: &statsv1alpha1.RuntimeStats{ImageFs: tt.img, ContainerFs: tt.ctr}}}
			snap := build(t, s, nil, nil, model.ImageFsAuto)
			assert.Equal(t, tt.want, snap.Node.Layout)
			assert.Equal(t, tt.want.DedicatedImageFs, snap.Node.ImageFsDedicated)
		})
	}
	// The Windows recording's case: 1 MiB of writable layer counts against the container limit.
	s := &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: "n", Fs: fs(100, nil), Runtime: &statsv1alpha1.RuntimeStats{ImageFs: fs(100, nil)}},
		Pods: []statsv1alpha1.PodStats{podStats("u1", []statsv1alpha1.ContainerStats{{Name: "app", Rootfs: fsStats(1 << 20), Logs: fsStats(0)}})}}
	c := build(t, s, nil, nil, model.ImageFsAuto).Pods[0].Containers[0]
	assert.Equal(t, model.Some(float64(1<<20)), c.Usage)
}

// Items 4, 5 and 9: signals resolved with the kubelet's int64 arithmetic, containerfs derived,
// soft thresholds and the reclaim target.
func TestSignals(t *testing.T) {
	maxUint := uint64(math.MaxUint64)
	thresholds, err := accounting.ParseThresholdConfig(
		map[string]string{"nodefs.available": "100", "nodefs.inodesFree": "5%", "containerfs.available": "1"},
		map[string]string{"nodefs.available": "200"}, map[string]string{"nodefs.available": "2m"},
		map[string]string{"nodefs.available": "50"})
	require.NoError(t, err)
	nodefs := &statsv1alpha1.FsStats{CapacityBytes: u64(1000), AvailableBytes: u64(120), Inodes: u64(1000), InodesFree: &maxUint}
	s := &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: "n", Fs: nodefs,
		Runtime: &statsv1alpha1.RuntimeStats{ImageFs: nodefs, ContainerFs: nodefs}}}
	signals := func(pressure bool) map[string]model.Signal {
		node := &corev1.Node{}
		if pressure {
			node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue}}
		}
		snap := model.Build(model.Inputs{Summary: s, Node: node}, model.Options{ImageFs: model.ImageFsAuto, Thresholds: thresholds})
		m := map[string]model.Signal{}
		for _, sig := range snap.Node.Signals {
			m[sig.Name] = sig
		}
		return m
	}
	got := signals(false)
	require.Len(t, got, 4)
	n := got["nodefs.available"]
	assert.Equal(t, model.Some(100.0), n.Threshold)
	assert.Equal(t, model.Some(880.0/900.0), n.Ratio, "available 120 > 100: not met")
	assert.Equal(t, model.Some(150.0), n.ReclaimTarget)
	assert.Equal(t, model.Some(30.0), n.Reclaim, "150 - 120")
	assert.Equal(t, model.Some(200.0), n.SoftThreshold)
	assert.Equal(t, model.Some(120.0), n.SoftGracePeriod)
	assert.Equal(t, model.Some(880.0/800.0), n.SoftRatio, "available 120 < soft 200: met")
	assert.Equal(t, model.Some(100.0), got["containerfs.available"].Threshold, "derived from nodefs; the user's 1 is ignored")
	inodes := got["nodefs.inodesFree"]
	assert.Greater(t, inodes.Ratio.Value, 1.0, "inodesFree 2^64-1 is -1 to the kubelet: met")
	assert.Equal(t, model.Some(51.0), inodes.Reclaim, "threshold 50 - (-1)")

	// Under DiskPressure the kubelet evicts until available >= threshold + minReclaim (150).
	assert.Greater(t, signals(true)["nodefs.available"].Ratio.Value, 1.0, "available 120 < 150: still evicting")
}

// Issue 12 (low): duplicates in a summary give one set of series; clock skew gives no absurd age.
func TestDuplicatesAndStatsAge(t *testing.T) {
	spec := podSpec("u1", corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}})
	twice := podStats("u1", []statsv1alpha1.ContainerStats{{Name: "app", Logs: fsStats(1)}, {Name: "app", Logs: fsStats(2)}},
		volStats("v", 1), volStats("v", 2))
	stale := podStats("u0", nil) // same namespace/name, another UID, no spec: the old pod's stats
	stale.PodRef.Name = spec.Name
	snap := build(t, summaryOf(stale, twice, twice), []*corev1.Pod{spec}, nil, model.ImageFsAuto)
	require.Len(t, snap.Pods, 1)
	assert.Equal(t, "u1", snap.Pods[0].UID, "the pod that joins a spec wins")
	require.Len(t, snap.Pods[0].Containers, 1)
	assert.Equal(t, model.Some(1.0), snap.Pods[0].Containers[0].Logs, "first stats win")
	require.Len(t, snap.Pods[0].Volumes, 1)
	assert.Equal(t, 0, snap.UnmatchedPods)

	now := time.Unix(1000, 0)
	for _, tt := range []struct {
		name string
		at   time.Time
		want model.Opt
	}{
		{name: "fresh", at: now.Add(-90 * time.Second), want: model.Some(90.0)},
		{name: "kubelet clock ahead", at: now.Add(time.Hour), want: model.Some(0.0)},
		{name: "year 1 plus a second", at: time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), want: model.Opt{}},
	} {
		vs := volStats("v", 1)
		vs.Time = metav1.NewTime(tt.at)
		v := build(t, summaryOf(podStats("u1", nil, vs)), []*corev1.Pod{spec}, nil, model.ImageFsAuto).Pods[0].Volumes[0]
		assert.Equal(t, tt.want, v.Age, tt.name)
	}
}

// Item 11: every HugePages-<size> medium is hugepages, never disk.
func TestHugePagesMedia(t *testing.T) {
	for _, medium := range []corev1.StorageMedium{"HugePages", "HugePages-2Mi", "HugePages-1Gi", "HugePages-32Mi", "HugePages-16Gi"} {
		spec := podSpec("u1", corev1.PodSpec{Volumes: []corev1.Volume{{Name: "hp", VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{Medium: medium, SizeLimit: quantity("2Mi")}}}}})
		v := build(t, summaryOf(podStats("u1", nil, volStats("hp", 4<<20))), []*corev1.Pod{spec}, nil, model.ImageFsAuto).Pods[0].Volumes[0]
		assert.Equal(t, model.MediumHugePages, v.Medium, string(medium))
		assert.False(t, v.Ratio.OK, string(medium))
	}
}

// Item 10: critical pods are marked not evictable and get no rank.
func TestEvictableAndRanks(t *testing.T) {
	critical := int32(2000000000)
	a := podSpec("a", corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}})
	b := podSpec("b", corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}, Priority: &critical})
	c := podSpec("c", corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}})
	ps := func(uid string, logs uint64) statsv1alpha1.PodStats {
		return podStats(uid, []statsv1alpha1.ContainerStats{{Name: "c", Logs: fsStats(logs), Rootfs: fsStats(0)}})
	}
	th, err := accounting.ParseThresholds("nodefs.available<10%")
	require.NoError(t, err)
	s := summaryOf(ps("a", 10), ps("b", 1000), ps("c", 20))
	s.Node.Fs = &statsv1alpha1.FsStats{CapacityBytes: u64(1000), AvailableBytes: u64(500)}
	snap := model.Build(model.Inputs{Summary: s, Pods: []*corev1.Pod{a, b, c}}, model.Options{ImageFs: model.ImageFsAuto, Thresholds: th})
	require.Len(t, snap.Pods, 3)
	assert.Equal(t, model.Some(1.0), snap.Pods[0].Evictable)
	assert.Equal(t, model.Some(0.0), snap.Pods[1].Evictable)
	assert.Equal(t, []model.Rank{{Signal: "nodefs.available", Rank: 2}}, snap.Pods[0].Ranks)
	assert.Empty(t, snap.Pods[1].Ranks, "never evicted: no rank")
	assert.Equal(t, []model.Rank{{Signal: "nodefs.available", Rank: 1}}, snap.Pods[2].Ranks, "larger usage above request first")
}
