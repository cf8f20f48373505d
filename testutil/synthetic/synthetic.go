// Package synthetic generates realistic nodes for benchmarks and load tests: N pods shaped like
// the real recordings in testdata/kubelet/nri-kubernetes (cpu, memory, network and swap stats on every pod and
// container, a projected service-account volume on every pod) with a mix of init and sidecar
// containers, disk and memory emptyDirs, configMaps and PVCs.
package synthetic

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// NodeName of every synthetic node.
const NodeName = "synthetic-node"

// Node is a generated node: its summary and its pod specs.
type Node struct {
	Summary *statsv1alpha1.Summary
	Pods    []*corev1.Pod
	Node    *corev1.Node
}

// Generate returns a node with n pods. The same n always gives the same node; seed varies usage,
// so that successive cycles of a load test see changing numbers.
func Generate(n int, seed uint64) *Node {
	at := metav1.NewTime(time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC))
	g := &Node{
		Summary: &statsv1alpha1.Summary{Node: statsv1alpha1.NodeStats{
			NodeName: NodeName, StartTime: at,
			CPU: cpu(at, 1), Memory: memory(at, 1), Network: network(at),
			Fs: fs(at, 100<<30, 60<<30),
			Runtime: &statsv1alpha1.RuntimeStats{
				ImageFs: fs(at, 100<<30, 60<<30), ContainerFs: fs(at, 100<<30, 60<<30),
			},
		}},
		Node: &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: NodeName},
			Status: corev1.NodeStatus{
				Allocatable: corev1.ResourceList{
					corev1.ResourceEphemeralStorage: resource.MustParse("90Gi"),
					corev1.ResourceMemory:           resource.MustParse("60Gi"),
				},
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse}},
			},
		},
	}
	for i := range n {
		stats, spec := generatePod(i, seed, at)
		g.Summary.Pods = append(g.Summary.Pods, stats)
		g.Pods = append(g.Pods, spec)
	}
	return g
}

// shape of pod i: most pods are one app container with a service-account volume; every 3rd has a
// disk emptyDir with a sizeLimit, every 4th a sidecar, every 5th a finished init container, every
// 6th a memory emptyDir, every 7th a PVC, every 2nd a configMap.
func generatePod(i int, seed uint64, at metav1.Time) (statsv1alpha1.PodStats, *corev1.Pod) {
	name := fmt.Sprintf("app-%d-7f9c8d6b5-%05d", i%40, i)
	namespace := fmt.Sprintf("team-%d", i%12)
	uid := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	usage := func(base uint64) *uint64 { v := base + (seed*7919+uint64(i)*104729)%(base+1); return &v }

	spec := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, UID: types.UID(uid),
			Labels: map[string]string{"app": fmt.Sprintf("app-%d", i%40), "pod-template-hash": "7f9c8d6b5"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet",
				Name: fmt.Sprintf("app-%d-7f9c8d6b5", i%40), Controller: ptr(true)}}},
		Spec:   corev1.PodSpec{NodeName: NodeName},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	stats := statsv1alpha1.PodStats{
		PodRef:    statsv1alpha1.PodReference{Name: name, Namespace: namespace, UID: uid},
		StartTime: at, CPU: cpu(at, 0), Memory: memory(at, 0), Network: network(at), Swap: swap(at),
		ProcessStats: &statsv1alpha1.ProcessStats{ProcessCount: ptr(uint64(3))},
	}
	local := uint64(4096)

	addContainer := func(c corev1.Container, init bool) {
		rootfs, logs := usage(64<<10), usage(8<<20)
		stats.Containers = append(stats.Containers, statsv1alpha1.ContainerStats{
			Name: c.Name, StartTime: at, CPU: cpu(at, 0), Memory: memory(at, 0), Swap: swap(at),
			Rootfs: fsUsed(at, *rootfs), Logs: fsUsed(at, *logs),
		})
		local += *rootfs + *logs
		if init {
			spec.Spec.InitContainers = append(spec.Spec.InitContainers, c)
		} else {
			spec.Spec.Containers = append(spec.Spec.Containers, c)
		}
	}
	addVolume := func(v corev1.Volume, used uint64, countsLocal bool, pvc string) {
		spec.Spec.Volumes = append(spec.Spec.Volumes, v)
		vs := statsv1alpha1.VolumeStats{Name: v.Name, FsStats: *fsUsed(at, used)}
		vs.Time = metav1.NewTime(at.Add(-40 * time.Second))
		if pvc != "" {
			vs.PVCRef = &statsv1alpha1.PVCReference{Name: pvc, Namespace: namespace}
		}
		stats.VolumeStats = append(stats.VolumeStats, vs)
		if countsLocal {
			local += used
		}
	}

	addContainer(container("app", "1Gi", "512Mi", "512Mi", true), false)
	if i%4 == 0 {
		sidecar := container("proxy", "256Mi", "64Mi", "128Mi", true)
		sidecar.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
		addContainer(sidecar, true)
	}
	if i%5 == 0 {
		spec.Spec.InitContainers = append(spec.Spec.InitContainers, container("migrate", "512Mi", "", "128Mi", true))
		spec.Status.InitContainerStatuses = append(spec.Status.InitContainerStatuses, corev1.ContainerStatus{
			Name: "migrate", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}})
	}
	addVolume(corev1.Volume{Name: "kube-api-access-" + fmt.Sprint(i), VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}}, 12288, false, "")
	if i%2 == 0 {
		addVolume(corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}, 8192, true, "")
	}
	if i%3 == 0 {
		addVolume(corev1.Volume{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr(resource.MustParse("100Mi"))}}}, *usage(40 << 20), true, "")
	}
	if i%6 == 0 {
		addVolume(corev1.Volume{Name: "shm", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr(resource.MustParse("64Mi"))}}}, *usage(8 << 20), false, "")
	}
	if i%7 == 0 {
		claim := "data-" + name
		addVolume(corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}, *usage(1 << 30), false, claim)
	}
	stats.EphemeralStorage = fsUsed(at, local)
	return stats, spec
}

func container(name, limit, request, memoryLimit string, readOnly bool) corev1.Container {
	c := corev1.Container{Name: name, Image: "registry.example/" + name + ":1",
		Resources:       corev1.ResourceRequirements{Limits: corev1.ResourceList{}, Requests: corev1.ResourceList{}},
		SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr(readOnly)}}
	if limit != "" {
		c.Resources.Limits[corev1.ResourceEphemeralStorage] = resource.MustParse(limit)
	}
	if request != "" {
		c.Resources.Requests[corev1.ResourceEphemeralStorage] = resource.MustParse(request)
	}
	if memoryLimit != "" {
		c.Resources.Limits[corev1.ResourceMemory] = resource.MustParse(memoryLimit)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

func fs(at metav1.Time, capacity, available uint64) *statsv1alpha1.FsStats {
	return &statsv1alpha1.FsStats{Time: at, CapacityBytes: ptr(capacity), AvailableBytes: ptr(available),
		UsedBytes: ptr(capacity - available), Inodes: ptr(uint64(6553600)), InodesFree: ptr(uint64(5000000)), InodesUsed: ptr(uint64(1553600))}
}

func fsUsed(at metav1.Time, used uint64) *statsv1alpha1.FsStats {
	s := fs(at, 100<<30, 60<<30)
	s.UsedBytes = ptr(used)
	s.InodesUsed = ptr(uint64(17))
	return s
}

func cpu(at metav1.Time, scale uint64) *statsv1alpha1.CPUStats {
	return &statsv1alpha1.CPUStats{Time: at, UsageNanoCores: ptr(262203 + scale*458936180), UsageCoreNanoSeconds: ptr(147239000 + scale*39387596000)}
}

func memory(at metav1.Time, scale uint64) *statsv1alpha1.MemoryStats {
	return &statsv1alpha1.MemoryStats{Time: at, AvailableBytes: ptr(uint64(38682624)), UsageBytes: ptr(13750272 + scale*2633809920),
		WorkingSetBytes: ptr(uint64(13746176)), RSSBytes: ptr(uint64(13033472)), PageFaults: ptr(uint64(4854)), MajorPageFaults: ptr(uint64(0))}
}

func swap(at metav1.Time) *statsv1alpha1.SwapStats {
	return &statsv1alpha1.SwapStats{Time: at, SwapAvailableBytes: ptr(uint64(0)), SwapUsageBytes: ptr(uint64(0))}
}

// network has the ten interfaces a kind node reports on every pod of the recordings.
func network(at metav1.Time) *statsv1alpha1.NetworkStats {
	n := &statsv1alpha1.NetworkStats{Time: at, InterfaceStats: statsv1alpha1.InterfaceStats{Name: "eth0", RxBytes: ptr(uint64(586088171)), TxBytes: ptr(uint64(6279534)), RxErrors: ptr(uint64(0)), TxErrors: ptr(uint64(0))}}
	for _, name := range []string{"tunl0", "gre0", "gretap0", "erspan0", "ip_vti0", "ip6_vti0", "sit0", "ip6tnl0", "ip6gre0", "eth0"} {
		n.Interfaces = append(n.Interfaces, statsv1alpha1.InterfaceStats{Name: name, RxBytes: ptr(uint64(0)), TxBytes: ptr(uint64(0)), RxErrors: ptr(uint64(0)), TxErrors: ptr(uint64(0))})
	}
	return n
}
