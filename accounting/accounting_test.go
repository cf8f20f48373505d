package accounting

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func u64(v uint64) *uint64 { return &v }

func qty(s string) *resource.Quantity { q := resource.MustParse(s); return &q }

func container(name string, limits, requests map[corev1.ResourceName]string) corev1.Container {
	c := corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{}, Requests: corev1.ResourceList{}}}
	for k, v := range limits {
		c.Resources.Limits[k] = resource.MustParse(v)
	}
	for k, v := range requests {
		c.Resources.Requests[k] = resource.MustParse(v)
	}
	return c
}

func storage(v string) map[corev1.ResourceName]string {
	return map[corev1.ResourceName]string{corev1.ResourceEphemeralStorage: v}
}

func sidecar(c corev1.Container) corev1.Container {
	always := corev1.ContainerRestartPolicyAlways
	c.RestartPolicy = &always
	return c
}

func TestExceedsIsStrict(t *testing.T) {
	tests := []struct {
		usage uint64
		limit int64
		want  bool
	}{
		{usage: 1023, limit: 1024, want: false},
		{usage: 1024, limit: 1024, want: false}, // usage == limit is not an eviction
		{usage: 1025, limit: 1024, want: true},  // limit + 1 is
		{usage: 0, limit: 0, want: false},
		{usage: 1, limit: 0, want: true}, // a zero limit that is "found" evicts any usage
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Exceeds(tt.usage, *resource.NewQuantity(tt.limit, resource.BinarySI)), "usage %d limit %d", tt.usage, tt.limit)
	}
}

func TestPodLimit(t *testing.T) {
	tests := []struct {
		name   string
		spec   corev1.PodSpec
		want   int64
		wantOK bool
	}{
		{name: "no container sets a limit: rule skipped",
			spec: corev1.PodSpec{Containers: []corev1.Container{container("app", nil, nil)}}},
		{name: "memory limit only: rule skipped",
			spec: corev1.PodSpec{Containers: []corev1.Container{container("app", map[corev1.ResourceName]string{corev1.ResourceMemory: "1Gi"}, nil)}}},
		{name: "sum of app containers, a container without limit adds nothing",
			spec: corev1.PodSpec{Containers: []corev1.Container{container("a", storage("1Gi"), nil), container("b", storage("512Mi"), nil), container("c", nil, nil)}},
			want: 1536 << 20, wantOK: true},
		{name: "init container larger than the app sum wins",
			spec: corev1.PodSpec{InitContainers: []corev1.Container{container("init", storage("4Gi"), nil)},
				Containers: []corev1.Container{container("a", storage("1Gi"), nil)}},
			want: 4 << 30, wantOK: true},
		{name: "init container smaller than the app sum",
			spec: corev1.PodSpec{InitContainers: []corev1.Container{container("init", storage("100Mi"), nil)},
				Containers: []corev1.Container{container("a", storage("1Gi"), nil)}},
			want: 1 << 30, wantOK: true},
		{name: "sidecar adds to the app sum",
			spec: corev1.PodSpec{InitContainers: []corev1.Container{sidecar(container("proxy", storage("256Mi"), nil))},
				Containers: []corev1.Container{container("a", storage("1Gi"), nil)}},
			want: 1280 << 20, wantOK: true},
		{name: "init after a sidecar needs its own limit plus the sidecar's",
			spec: corev1.PodSpec{InitContainers: []corev1.Container{sidecar(container("proxy", storage("1Gi"), nil)), container("migrate", storage("2Gi"), nil)},
				Containers: []corev1.Container{container("a", storage("500Mi"), nil)}},
			want: 3 << 30, wantOK: true},
		{name: "overhead added to a non-zero limit",
			spec: corev1.PodSpec{Overhead: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("10Mi")},
				Containers: []corev1.Container{container("a", storage("1Gi"), nil)}},
			want: 1034 << 20, wantOK: true},
		{name: "overhead alone sets no limit",
			spec: corev1.PodSpec{Overhead: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("10Mi")},
				Containers: []corev1.Container{container("a", nil, nil)}}},
		{name: "pod-level resources do not cover ephemeral-storage",
			spec: corev1.PodSpec{Resources: &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("9Gi")}},
				Containers: []corev1.Container{container("a", storage("1Gi"), nil)}},
			want: 1 << 30, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := PodLimit(&corev1.Pod{Spec: tt.spec})
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.want, got.Value())
		})
	}
}

func TestPodRequest(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{sidecar(container("proxy", nil, storage("100Mi")))},
		Containers:     []corev1.Container{container("a", nil, storage("1Gi")), container("b", nil, nil)},
	}}
	got, ok := PodRequest(pod)
	require.True(t, ok)
	assert.Equal(t, int64(1124<<20), got.Value())
	_, ok = PodRequest(&corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{container("a", nil, nil)}}})
	assert.False(t, ok)
}

func TestContainerLimit(t *testing.T) {
	_, ok := ContainerLimit(&corev1.Container{}, false, Version{})
	assert.False(t, ok, "no limit")
	c := container("a", storage("0"), nil)
	_, ok = ContainerLimit(&c, false, Version{})
	assert.False(t, ok, "a zero limit is not checked by containerEphemeralStorageLimitEviction")
	c = container("a", storage("1Gi"), nil)
	got, ok := ContainerLimit(&c, false, Version{})
	assert.True(t, ok)
	assert.Equal(t, int64(1<<30), got.Value())
}

func TestContainerUsage(t *testing.T) {
	tests := []struct {
		name      string
		logs      *uint64
		rootfs    *uint64
		dedicated bool
		want      uint64
		wantOK    bool
	}{
		{name: "shared imagefs: logs + rootfs", logs: u64(100), rootfs: u64(28), want: 128, wantOK: true},
		{name: "dedicated imagefs: logs only", logs: u64(100), rootfs: u64(28), dedicated: true, want: 100, wantOK: true},
		{name: "no rootfs stats count as zero", logs: u64(100), want: 100, wantOK: true},
		{name: "no logs stats count as zero", rootfs: u64(7), want: 7, wantOK: true},
		{name: "nothing known: no value", wantOK: false},
		{name: "dedicated imagefs and no logs: no value", rootfs: u64(7), dedicated: true, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ContainerUsage(tt.logs, tt.rootfs, tt.dedicated)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

// The container rule at its boundary, both imagefs layouts: usage == limit keeps the pod.
func TestContainerRuleBoundary(t *testing.T) {
	c := container("a", storage("1Mi"), nil)
	limit, _ := ContainerLimit(&c, false, Version{})
	for _, dedicated := range []bool{false, true} {
		atLimit, _ := ContainerUsage(u64(1<<20-4096), u64(4096), dedicated)
		over, _ := ContainerUsage(u64(1<<20-4096+1), u64(4096), dedicated)
		if dedicated {
			assert.False(t, Exceeds(atLimit, limit))
			assert.False(t, Exceeds(over, limit), "with a dedicated imagefs the rootfs does not count")
			continue
		}
		assert.False(t, Exceeds(atLimit, limit), "usage == limit")
		assert.True(t, Exceeds(over, limit), "usage == limit + 1")
	}
}

func TestEmptyDirSizeLimit(t *testing.T) {
	_, ok := EmptyDirSizeLimit(&corev1.EmptyDirVolumeSource{})
	assert.False(t, ok, "no sizeLimit")
	_, ok = EmptyDirSizeLimit(&corev1.EmptyDirVolumeSource{SizeLimit: qty("0")})
	assert.False(t, ok, "zero sizeLimit: size.Sign() != 1")
	got, ok := EmptyDirSizeLimit(&corev1.EmptyDirVolumeSource{SizeLimit: qty("30Mi")})
	require.True(t, ok)
	assert.Equal(t, int64(30<<20), got.Value())
	assert.False(t, Exceeds(30<<20, got))
	assert.True(t, Exceeds(30<<20+1, got))
}

func TestMemoryEmptyDirSize(t *testing.T) {
	mem := func(v string) map[corev1.ResourceName]string {
		return map[corev1.ResourceName]string{corev1.ResourceMemory: v}
	}
	limited := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{container("a", mem("256Mi"), nil), container("b", mem("256Mi"), nil)}}}
	partlyLimited := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{container("a", mem("256Mi"), nil), container("b", nil, nil)}}}
	initUnlimited := &corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{container("i", nil, nil)},
		Containers: []corev1.Container{container("a", mem("256Mi"), nil)}}}
	tests := []struct {
		name   string
		ed     *corev1.EmptyDirVolumeSource
		pod    *corev1.Pod
		alloc  *resource.Quantity
		want   int64
		wantOK bool
	}{
		{name: "sizeLimit smallest", ed: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: qty("8Mi")}, pod: limited, alloc: qty("8Gi"), want: 8 << 20, wantOK: true},
		{name: "pod memory limit smallest", ed: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: qty("1Gi")}, pod: limited, alloc: qty("8Gi"), want: 512 << 20, wantOK: true},
		{name: "no sizeLimit: pod memory limit", ed: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}, pod: limited, alloc: qty("8Gi"), want: 512 << 20, wantOK: true},
		{name: "a container without memory limit: node allocatable", ed: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}, pod: partlyLimited, alloc: qty("8Gi"), want: 8 << 30, wantOK: true},
		{name: "an init container without memory limit: node allocatable", ed: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}, pod: initUnlimited, alloc: qty("8Gi"), want: 8 << 30, wantOK: true},
		{name: "node allocatable smallest", ed: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: qty("16Gi")}, pod: partlyLimited, alloc: qty("8Gi"), want: 8 << 30, wantOK: true},
		{name: "node allocatable unknown", ed: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: qty("8Mi")}, pod: limited, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := MemoryEmptyDirSize(tt.ed, tt.pod, tt.alloc)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}
