package model_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/fixtures"
)

// The identity the fixtures README states, on every pod of every real recording: pod usage =
// containers' rootfs + logs + local ephemeral volumes (disk emptyDir, configMap) + the pod's
// pod-level logs and etc-hosts (calcEphemeralStorage, pkg/kubelet/stats/helper.go, v1.34.2): one block of the
// kubelet's filesystem. It checks that volume types are resolved exactly as the kubelet resolves
// them for PodStats.EphemeralStorage.
func TestPodUsageIdentityOnRecordings(t *testing.T) {
	type recording struct {
		load     func(t *testing.T) *dump.Dump
		etcHosts float64 // one block of the kubelet root's filesystem
	}
	recordings := map[string]recording{}
	for _, v := range fixtures.Versions {
		recordings[v] = recording{func(t *testing.T) *dump.Dump { return fixtures.Load(t, v) }, 4096}
	}
	// The e2e kubelet's (v1.34.2, dedicated imagefs): limits, sizeLimits, a memory emptyDir, a
	// sidecar; pods evicted under DiskPressure and their stats gone from the summary. Its root is
	// a 300M ext4 image, which mkfs.ext4 formats with 1 KiB blocks.
	for _, moment := range fixtures.E2E {
		recordings["e2e-v1.34-"+moment] = recording{func(t *testing.T) *dump.Dump { return fixtures.LoadE2E(t, moment) }, 1024}
	}
	for name, r := range recordings {
		t.Run(name, func(t *testing.T) {
			d := r.load(t)
			summary, err := d.Summary(context.Background())
			require.NoError(t, err)
			snap := model.Build(model.Inputs{Summary: summary, Pods: d.Pods, Now: d.Time()}, model.Options{ImageFs: model.ImageFsAuto})
			require.Zero(t, snap.UnmatchedPods, "every summary pod joins a spec, static pods through their mirror annotation")
			require.Len(t, snap.Pods, len(summary.Pods))
			for _, pod := range snap.Pods {
				require.True(t, pod.Usage.OK, pod.Name)
				var sum float64
				for _, c := range pod.Containers {
					sum += c.Rootfs.Value + c.Logs.Value
				}
				for _, vol := range pod.Volumes {
					if (vol.Type == model.VolumeEmptyDir && vol.Medium == model.MediumDisk) || vol.Type == model.VolumeConfigMap {
						sum += vol.Used.Value
					}
				}
				assert.Equal(t, pod.Usage.Value, sum+r.etcHosts, "%s/%s", pod.Namespace, pod.Name)
			}
		})
	}
}

func u64(v uint64) *uint64 { return &v }

func fsStats(used uint64) *statsv1alpha1.FsStats { return &statsv1alpha1.FsStats{UsedBytes: u64(used)} }

func quantity(s string) *resource.Quantity { q := resource.MustParse(s); return &q }

func summaryOf(pods ...statsv1alpha1.PodStats) *statsv1alpha1.Summary {
	return &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: "n1"}, Pods: pods}
}

func podStats(uid string, containers []statsv1alpha1.ContainerStats, volumes ...statsv1alpha1.VolumeStats) statsv1alpha1.PodStats {
	return statsv1alpha1.PodStats{PodRef: statsv1alpha1.PodReference{Name: "p-" + uid, Namespace: "ns", UID: uid}, Containers: containers, VolumeStats: volumes}
}

func volStats(name string, used uint64) statsv1alpha1.VolumeStats {
	return statsv1alpha1.VolumeStats{Name: name, FsStats: statsv1alpha1.FsStats{UsedBytes: u64(used)}}
}

func podSpec(uid string, spec corev1.PodSpec) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p-" + uid, Namespace: "ns", UID: types.UID(uid)}, Spec: spec}
}

func build(t *testing.T, s *statsv1alpha1.Summary, pods []*corev1.Pod, node *corev1.Node, mode model.ImageFsMode) *model.Snapshot {
	t.Helper()
	return model.Build(model.Inputs{Summary: s, Pods: pods, Node: node, Now: time.Unix(1000, 0)}, model.Options{ImageFs: mode})
}

func TestContainerRatioFollowsImageFs(t *testing.T) {
	limit := corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("1000")}
	spec := podSpec("u1", corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Limits: limit}}}})
	stats := summaryOf(podStats("u1", []statsv1alpha1.ContainerStats{{Name: "app", Logs: fsStats(400), Rootfs: fsStats(600)}}))
	for _, tt := range []struct {
		mode      model.ImageFsMode
		wantUsage float64
		wantRatio float64
	}{
		{model.ImageFsShared, 1000, 1}, // usage == limit: ratio 1, not evicted
		{model.ImageFsDedicated, 400, 0.4},
	} {
		c := build(t, stats, []*corev1.Pod{spec}, nil, tt.mode).Pods[0].Containers[0]
		assert.Equal(t, tt.wantUsage, c.Usage.Value, tt.mode)
		assert.Equal(t, tt.wantRatio, c.Ratio.Value, tt.mode)
		assert.Equal(t, model.ContainerApp, c.Type)
	}
}

func TestNoFakeZeros(t *testing.T) {
	spec := podSpec("u1", corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app"}},
		Volumes:    []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: quantity("1Mi")}}}},
	})
	stats := summaryOf(podStats("u1",
		[]statsv1alpha1.ContainerStats{{Name: "app"}}, // no rootfs, no logs
		statsv1alpha1.VolumeStats{Name: "cache"}))     // no usedBytes
	pod := build(t, stats, []*corev1.Pod{spec}, nil, model.ImageFsAuto).Pods[0]
	assert.False(t, pod.Usage.OK, "no ephemeral-storage stats")
	assert.False(t, pod.Limit.OK, "no container sets a limit")
	assert.False(t, pod.Ratio.OK)
	c := pod.Containers[0]
	assert.False(t, c.Rootfs.OK || c.Logs.OK || c.Usage.OK || c.Limit.OK || c.Ratio.OK)
	v := pod.Volumes[0]
	assert.True(t, v.SizeLimit.OK, "the sizeLimit is known")
	assert.False(t, v.Used.OK || v.Ratio.OK, "usage is not")
}

func TestEmptyDirs(t *testing.T) {
	memLimit := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
	spec := podSpec("u1", corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Limits: memLimit}}},
		Volumes: []corev1.Volume{
			{Name: "disk", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: quantity("30Mi")}}},
			{Name: "unbounded", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "tmpfs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: quantity("128Mi")}}},
			{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-p"}}},
		},
	})
	node := &corev1.Node{Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("8Gi")}}}
	stats := summaryOf(podStats("u1", nil,
		volStats("disk", 30<<20+1), volStats("unbounded", 5), volStats("tmpfs", 32<<20), volStats("data", 7)))
	vols := map[string]model.Volume{}
	for _, v := range build(t, stats, []*corev1.Pod{spec}, node, model.ImageFsAuto).Pods[0].Volumes {
		vols[v.Name] = v
	}
	assert.Equal(t, model.MediumDisk, vols["disk"].Medium)
	assert.Greater(t, vols["disk"].Ratio.Value, 1.0, "sizeLimit + 1 byte: evicted")
	assert.False(t, vols["unbounded"].SizeLimit.OK, "no sizeLimit: no bound")
	assert.Equal(t, model.MediumMemory, vols["tmpfs"].Medium)
	assert.Equal(t, float64(64<<20), vols["tmpfs"].SizeLimit.Value, "tmpfs sized to the pod memory limit")
	assert.Equal(t, 0.5, vols["tmpfs"].Ratio.Value)
	assert.Equal(t, model.VolumePVC, vols["data"].Type)
	assert.Equal(t, "data-p", vols["data"].Claim)
}

func TestMemoryEmptyDirFallsBackToReportedTmpfsSize(t *testing.T) {
	spec := podSpec("u1", corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "tmpfs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}}})
	vs := volStats("tmpfs", 1<<20)
	vs.CapacityBytes = u64(8 << 20)
	v := build(t, summaryOf(podStats("u1", nil, vs)), []*corev1.Pod{spec}, nil, model.ImageFsAuto).Pods[0].Volumes[0]
	assert.Equal(t, float64(8<<20), v.SizeLimit.Value, "without the node object, the tmpfs capacity the kubelet reports")
}

func TestJoin(t *testing.T) {
	static := podSpec("api-object-uid", corev1.PodSpec{Containers: []corev1.Container{{Name: "etcd"}}})
	static.Annotations = map[string]string{"kubernetes.io/config.mirror": "kubelet-uid"}
	evicted := podSpec("evicted", corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}})
	evicted.Status.Phase = corev1.PodFailed
	withTerminated := podSpec("init", corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "setup"}},
		Containers:     []corev1.Container{{Name: "app"}}})
	withTerminated.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "setup", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{}}}}
	containers := func(names ...string) []statsv1alpha1.ContainerStats {
		var cs []statsv1alpha1.ContainerStats
		for _, n := range names {
			cs = append(cs, statsv1alpha1.ContainerStats{Name: n, Logs: fsStats(1)})
		}
		return cs
	}
	snap := build(t, summaryOf(
		podStats("kubelet-uid", containers("etcd")),
		podStats("evicted", containers("app")),
		podStats("init", containers("setup", "app")),
		podStats("unknown", containers("x")),
	), []*corev1.Pod{static, evicted, withTerminated}, nil, model.ImageFsAuto)

	require.Len(t, snap.Pods, 3, "the evicted pod's series go")
	assert.Equal(t, "Node", snap.Pods[0].WorkloadKind, "static pod joined through the mirror annotation")
	require.Len(t, snap.Pods[1].Containers, 1, "a terminated init container reports no usage")
	assert.Equal(t, "app", snap.Pods[1].Containers[0].Name)
	assert.Equal(t, 1, snap.UnmatchedPods)
	assert.Empty(t, snap.Pods[2].WorkloadKind, "unmatched: usage only")
	assert.Empty(t, snap.Pods[2].Containers[0].Type)
}

func TestNodeSignalsAndImageFs(t *testing.T) {
	fs := func(capacity, available uint64) *statsv1alpha1.FsStats {
		return &statsv1alpha1.FsStats{CapacityBytes: u64(capacity), AvailableBytes: u64(available), Inodes: u64(1000), InodesFree: u64(10)}
	}
	thresholds, err := accounting.ParseThresholds("nodefs.available<100,nodefs.inodesFree<5%,imagefs.available<15%,containerfs.available<1")
	require.NoError(t, err)
	s := &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{NodeName: "n1", Fs: fs(1000, 99),
		Runtime: &statsv1alpha1.RuntimeStats{ImageFs: fs(2000, 1000)}}}
	node := &corev1.Node{Status: corev1.NodeStatus{
		Allocatable: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("900")},
		Conditions:  []corev1.NodeCondition{{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue}}}}
	snap := model.Build(model.Inputs{Summary: s, Node: node}, model.Options{ImageFs: model.ImageFsAuto, Thresholds: thresholds})
	assert.True(t, snap.Node.ImageFsDedicated, "imagefs differs in capacity from nodefs")
	signals := map[string]model.Signal{}
	for _, sig := range snap.Node.Signals {
		signals[sig.Name] = sig
	}
	require.Len(t, signals, 3, "no containerfs stats: no containerfs signal")
	assert.InDelta(t, 901.0/900.0, signals["nodefs.available"].Ratio.Value, 1e-12, "available 99 < threshold 100: above 1")
	assert.Equal(t, model.Some(50.0), signals["nodefs.inodesFree"].Threshold)
	assert.True(t, signals["nodefs.inodesFree"].Inodes)
	assert.Equal(t, model.Some(300.0), signals["imagefs.available"].Threshold)
	assert.Equal(t, float64(900), snap.Node.Allocatable.Value)
	assert.Equal(t, float64(1), snap.Node.DiskPressure.Value)
}
