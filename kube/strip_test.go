package kube_test

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kube"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/fixtures"
)

func TestStripUnreadKeepsWhatReadersUse(t *testing.T) {
	kept := corev1.Container{Name: "app", Image: "nginx", RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways),
		Resources:       corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")}},
		SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr(true)},
		VolumeMounts:    []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}}}
	full := kept
	full.Env = []corev1.EnvVar{{Name: "A", Value: "b"}}
	full.EnvFrom = []corev1.EnvFromSource{{Prefix: "X"}}
	full.Command, full.Args = []string{"run"}, []string{"--flag"}
	full.Ports = []corev1.ContainerPort{{ContainerPort: 80}}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
	full.LivenessProbe, full.ReadinessProbe, full.StartupProbe = probe, probe, probe
	full.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"stop"}}}}

	meta := metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u", Labels: map[string]string{"pod-template-hash": "abc"},
		Annotations:     map[string]string{kube.MirrorPodAnnotation: "m"},
		OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "rs"}}}
	volumes := []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr(resource.MustParse("1Gi"))}}}}
	status := corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "low on ephemeral-storage",
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Message: "m"}}}}}
	in := &corev1.Pod{ObjectMeta: *meta.DeepCopy(), Spec: corev1.PodSpec{NodeName: "n", Volumes: volumes,
		Containers: []corev1.Container{full}, InitContainers: []corev1.Container{full},
		EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon(full)}},
		Affinity:            &corev1.Affinity{}, Tolerations: []corev1.Toleration{{Key: "k"}},
		TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1}},
		Resources:                 &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}},
		Status: status}
	in.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	in.Annotations["kubectl.kubernetes.io/last-applied-configuration"] = `{"huge":"copy"}`

	want := &corev1.Pod{ObjectMeta: meta, Spec: corev1.PodSpec{NodeName: "n", Volumes: volumes,
		Containers: []corev1.Container{kept}, InitContainers: []corev1.Container{kept},
		EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon(kept)}},
		Resources:           &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}},
		Status: status}
	got, err := kube.StripUnread(in)
	require.NoError(t, err)
	assert.Equal(t, want, got)

	node := &corev1.Node{Status: corev1.NodeStatus{Images: []corev1.ContainerImage{{Names: []string{"i"}}},
		Allocatable: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("10Gi")},
		Conditions:  []corev1.NodeCondition{{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue}}}}
	gotNode, err := kube.StripUnread(node.DeepCopy())
	require.NoError(t, err)
	node.Status.Images = nil
	assert.Equal(t, node, gotNode)
}

// The model built from stripped pods is the one built from full pods, on every recording.
func TestStripUnreadKeepsTheModel(t *testing.T) {
	thresholds, err := accounting.ParseThresholds(accounting.DefaultEvictionHard)
	require.NoError(t, err)
	opts := model.Options{ImageFs: model.ImageFsAuto, Thresholds: thresholds}
	type input struct {
		name string
		d    *dump.Dump
	}
	var inputs []input
	for _, v := range fixtures.Versions {
		d, err := dump.Load(filepath.Join(fixtures.Dir(), "v"+v+"-stats-summary.json"), filepath.Join(fixtures.Dir(), "v"+v+"-pods.yaml"), "")
		require.NoError(t, err)
		inputs = append(inputs, input{"v" + v, d})
	}
	sample, err := dump.Sample()
	require.NoError(t, err)
	inputs = append(inputs, input{"sample", sample})
	for _, in := range inputs {
		summary, err := in.d.Summary(t.Context())
		require.NoError(t, err)
		stripped := make([]*corev1.Pod, 0, len(in.d.Pods))
		for _, p := range in.d.Pods {
			obj, err := kube.StripUnread(p.DeepCopy())
			require.NoError(t, err)
			stripped = append(stripped, obj.(*corev1.Pod))
		}
		at := time.Unix(1.9e9, 0)
		want := model.Build(model.Inputs{Summary: summary, Pods: in.d.Pods, Node: in.d.Node, Now: at}, opts)
		got := model.Build(model.Inputs{Summary: summary, Pods: stripped, Node: in.d.Node, Now: at}, opts)
		assert.True(t, reflect.DeepEqual(want, got), "%s: the model changed", in.name)
		require.NotEmpty(t, want.Pods, in.name)
	}
}

func ptr[T any](v T) *T { return &v }
