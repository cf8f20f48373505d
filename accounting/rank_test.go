package accounting

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// rankPod is a pod with one container (rootfs, logs) and a disk emptyDir, requesting request
// bytes of ephemeral-storage, at priority prio.
func rankPod(name string, rootfs, logs, emptyDir uint64, request string, prio int32) RankPod {
	c := corev1.Container{Name: "c"}
	if request != "" {
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse(request)}
	}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{c}, Priority: &prio,
		Volumes: []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}}}
	pod.Name = name
	stats := &statsv1alpha1.PodStats{
		Containers:  []statsv1alpha1.ContainerStats{{Name: "c", Rootfs: &statsv1alpha1.FsStats{UsedBytes: &rootfs, InodesUsed: &rootfs}, Logs: &statsv1alpha1.FsStats{UsedBytes: &logs}}},
		VolumeStats: []statsv1alpha1.VolumeStats{{Name: "scratch", FsStats: statsv1alpha1.FsStats{UsedBytes: &emptyDir}}},
	}
	return RankPod{Pod: pod, Stats: stats}
}

// rankDiskPressureFunc and buildSignalToRankFunc (pkg/kubelet/eviction/helpers.go, k8s.io/kubernetes
// v1.37.2); the same order is checked against the kubelet's own manager by make test-kubeletref.
func TestRankDiskPressure(t *testing.T) {
	noStats := rankPod("nostats", 0, 0, 0, "", 0)
	noStats.Stats = nil
	critical := rankPod("critical", 1<<30, 0, 0, "", 2000000000)
	tests := []struct {
		name   string
		signal string
		layout FsLayout
		pods   []RankPod
		want   []int
	}{
		{name: "over request first, then lower priority, then usage above request",
			signal: SignalNodeFsAvailable,
			pods: []RankPod{
				rankPod("under", 10, 0, 0, "1Ki", 0),
				rankPod("over-high-prio", 2000, 0, 0, "1Ki", 100),
				rankPod("over-small", 1100, 0, 0, "1Ki", 0),
				rankPod("over-big", 5000, 0, 0, "1Ki", 0),
			},
			want: []int{4, 3, 2, 1}},
		{name: "exactly at the request does not exceed it",
			signal: SignalNodeFsAvailable,
			pods:   []RankPod{rankPod("at", 1024, 0, 0, "1Ki", 0), rankPod("one-above", 1025, 0, 0, "1Ki", 5)},
			want:   []int{2, 1}},
		{name: "ties share a rank; no stats first; critical pods unranked",
			signal: SignalNodeFsAvailable,
			pods:   []RankPod{rankPod("a", 10, 0, 0, "", 0), rankPod("b", 10, 0, 0, "", 0), noStats, critical},
			want:   []int{2, 2, 1, 0}},
		{name: "dedicated imagefs, nodefs: logs and local volumes only",
			signal: SignalNodeFsAvailable, layout: FsLayout{DedicatedImageFs: true},
			pods: []RankPod{rankPod("rootfs-heavy", 1<<30, 0, 0, "", 0), rankPod("emptydir-heavy", 0, 0, 1<<20, "", 0)},
			want: []int{2, 1}},
		{name: "dedicated imagefs, imagefs: writable layers only",
			signal: SignalImageFsAvailable, layout: FsLayout{DedicatedImageFs: true},
			pods: []RankPod{rankPod("rootfs-heavy", 1<<30, 0, 0, "", 0), rankPod("emptydir-heavy", 0, 0, 1<<20, "", 0)},
			want: []int{1, 2}},
		{name: "split containerfs, imagefs: nothing of the pods is measured, all tie",
			signal: SignalImageFsAvailable, layout: FsLayout{DedicatedImageFs: true, SplitContainerFs: true},
			pods: []RankPod{rankPod("a", 1<<30, 0, 0, "", 0), rankPod("b", 0, 0, 1<<20, "", 0)},
			want: []int{1, 1}},
		{name: "inodes: nobody exceeds an inode request, the ephemeral-storage request is still subtracted",
			signal: SignalNodeFsInodesFree,
			pods:   []RankPod{rankPod("many-inodes-big-request", 100, 0, 0, "1Ki", 0), rankPod("few-inodes", 50, 0, 0, "", 0)},
			want:   []int{2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, RankDiskPressure(tt.signal, tt.layout, Version{}, tt.pods))
		})
	}
}

// GetResourceRequestQuantity skips container-level requests when pod-level resources are set and
// the PodLevelResources gate is on (default from 1.34, pkg/features/kube_features.go v1.34.2).
func TestRankRequestWithPodLevelResources(t *testing.T) {
	p := rankPod("p", 2000, 0, 0, "1Mi", 0)
	assert.Equal(t, int64(1<<20), rankRequest(p.Pod, corev1.ResourceEphemeralStorage, Version{1, 37}))
	p.Pod.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
	assert.Equal(t, int64(0), rankRequest(p.Pod, corev1.ResourceEphemeralStorage, Version{1, 37}))
	assert.Equal(t, int64(1<<20), rankRequest(p.Pod, corev1.ResourceEphemeralStorage, Version{1, 33}), "gate off before 1.34")
}
