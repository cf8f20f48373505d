package advise

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/detect"
)

var web = Workload{Namespace: "shop", Kind: "Deployment", Name: "web"}

func TestReadOnlyMounts(t *testing.T) {
	pg := Workload{Namespace: "db", Kind: "StatefulSet", Name: "pg"}
	tests := []struct {
		name     string
		failures []FailedWrite
		want     []ReadOnlyMount
	}{
		{"nginx: the deepest shared directory, a cache", []FailedWrite{
			{web, "nginx", "/var/cache/nginx/client_temp"}, {web, "nginx", "/var/cache/nginx/proxy_temp"}, {web, "nginx", "/var/cache/nginx/client_temp"}},
			[]ReadOnlyMount{{Workload: web, Container: "nginx", Dir: "/var/cache/nginx", Volume: "writable-var-cache-nginx", SizeLimit: "1Gi",
				Basis: "cache directory", Paths: []string{"/var/cache/nginx/client_temp", "/var/cache/nginx/proxy_temp"}}}},
		{"PostgreSQL: a socket lock file, and /tmp", []FailedWrite{{pg, "postgres", "/var/run/postgresql/.s.PGSQL.5432.lock"}, {pg, "postgres", "/tmp/pgsql_tmp/x"}},
			[]ReadOnlyMount{
				{Workload: pg, Container: "postgres", Dir: "/tmp/pgsql_tmp", Volume: "writable-tmp-pgsql-tmp", SizeLimit: "100Mi", Basis: "temporary files", Paths: []string{"/tmp/pgsql_tmp/x"}},
				{Workload: pg, Container: "postgres", Dir: "/var/run/postgresql", Volume: "writable-var-run-postgresql", SizeLimit: "10Mi", Basis: "socket, PID and lock directory", Paths: []string{"/var/run/postgresql/.s.PGSQL.5432.lock"}},
			}},
		{"a PID file elsewhere", []FailedWrite{{web, "app", "/app/run/app.pid"}},
			[]ReadOnlyMount{{Workload: web, Container: "app", Dir: "/app/run", Volume: "writable-app-run", SizeLimit: "10Mi", Basis: "socket, PID or lock files", Paths: []string{"/app/run/app.pid"}}}},
		{"logs", []FailedWrite{{web, "app", "/var/log/app/a.log"}},
			[]ReadOnlyMount{{Workload: web, Container: "app", Dir: "/var/log/app", Volume: "writable-var-log-app", SizeLimit: "100Mi", Basis: "log directory", Paths: []string{"/var/log/app/a.log"}}}},
		{"never /etc", []FailedWrite{{web, "app", "/etc/app.conf"}},
			[]ReadOnlyMount{{Workload: web, Container: "app", Paths: []string{"/etc/app.conf"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ReadOnlyMounts(tt.failures))
		})
	}
}

// TestFailedWritesFromEvents: only well-formed hint Events count; the directory is recomputed.
func TestFailedWritesFromEvents(t *testing.T) {
	ev := func(reason string, a map[string]string) corev1.Event {
		return corev1.Event{ObjectMeta: metav1.ObjectMeta{Annotations: a}, Reason: reason,
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "web-5d8f7-abcde"}}
	}
	good := map[string]string{detect.HintAnnotationContainer: "nginx", detect.HintAnnotationPath: "/var/cache/nginx/client_temp",
		detect.HintAnnotationMountDir: "/", detect.HintAnnotationWorkloadKind: "Deployment", detect.HintAnnotationWorkload: "web"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for kk, vv := range good {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	got := FailedWritesFromEvents([]corev1.Event{
		ev("ReadOnlyWriteFailed", good),
		ev("Failed", good),
		ev("ReadOnlyWriteFailed", with(detect.HintAnnotationPath, "relative/x")),
		ev("ReadOnlyWriteFailed", with(detect.HintAnnotationPath, "/tmp/\xff")),
		ev("ReadOnlyWriteFailed", with(detect.HintAnnotationPath, "/"+strings.Repeat("x", 600))),
		ev("ReadOnlyWriteFailed", with(detect.HintAnnotationContainer, "Bad_Name")),
		ev("ReadOnlyWriteFailed", with(detect.HintAnnotationWorkload, "web\nkind: Secret")),
		ev("ReadOnlyWriteFailed", with(detect.HintAnnotationWorkloadKind, "Deploy ment")),
	})
	assert.Equal(t, []FailedWrite{{web, "nginx", "/var/cache/nginx/client_temp"}}, got)
	assert.Equal(t, "/var/cache/nginx", ReadOnlyMounts(got)[0].Dir, "not the Event's mount-dir")
}

// TestReadOnlyPatchApplies applies the patch with the API server's strategic-merge code: the
// containers and volumes the workload had stay, the emptyDir and its mount are added.
func TestReadOnlyPatchApplies(t *testing.T) {
	mounts := ReadOnlyMounts([]FailedWrite{
		{web, "nginx", "/var/cache/nginx/client_temp"}, {web, "nginx", "/var/run/nginx.pid"}, {web, "nginx", "/etc/nginx/x"},
	})
	var out bytes.Buffer
	require.NoError(t, WriteReadOnlyPatches(&out, mounts))
	assert.Equal(t, `# Writable directories for read-only root filesystems, as strategic-merge patches.
---
# nginx: failed to write /etc/nginx/x
# warning: an emptyDir at /etc/nginx hides what the image has under that directory
# nginx: failed to write /var/cache/nginx/client_temp
# warning: an emptyDir at /var/cache/nginx hides what the image has under that directory
# nginx: failed to write /var/run/nginx.pid
# warning: an emptyDir at /var/run hides what the image has under that directory
# kubectl -n shop patch deployment web --type strategic --patch-file FILE
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers:
      - name: nginx
        volumeMounts:
        - name: writable-etc-nginx
          mountPath: "/etc/nginx"
        - name: writable-var-cache-nginx
          mountPath: "/var/cache/nginx"
        - name: writable-var-run
          mountPath: "/var/run"
      volumes:
      - name: writable-etc-nginx
        emptyDir:
          sizeLimit: 100Mi
      - name: writable-var-cache-nginx
        emptyDir:
          sizeLimit: 1Gi
      - name: writable-var-run
        emptyDir:
          sizeLimit: 10Mi
`, out.String())

	original := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers: []corev1.Container{
			{Name: "nginx", Image: "nginx:1.27", VolumeMounts: []corev1.VolumeMount{{Name: "conf", MountPath: "/etc/nginx/conf.d"}}},
			{Name: "exporter", Image: "nginx-exporter"}},
		Volumes: []corev1.Volume{{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}},
	}}}}
	originalJSON, err := json.Marshal(original)
	require.NoError(t, err)
	doc := strings.SplitN(out.String(), "\n---\n", 2)[1]
	patchJSON, err := yaml.YAMLToJSON([]byte(doc))
	require.NoError(t, err)
	result, err := strategicpatch.StrategicMergePatch(originalJSON, patchJSON, original)
	require.NoError(t, err)
	var got appsv1.Deployment
	require.NoError(t, json.Unmarshal(result, &got))
	spec := got.Spec.Template.Spec

	require.Len(t, spec.Containers, 2)
	assert.Equal(t, "nginx:1.27", spec.Containers[0].Image)
	assert.Equal(t, corev1.Container{Name: "exporter", Image: "nginx-exporter"}, spec.Containers[1])
	assert.ElementsMatch(t, []corev1.VolumeMount{{Name: "conf", MountPath: "/etc/nginx/conf.d"},
		{Name: "writable-etc-nginx", MountPath: "/etc/nginx"}, {Name: "writable-var-cache-nginx", MountPath: "/var/cache/nginx"},
		{Name: "writable-var-run", MountPath: "/var/run"}}, spec.Containers[0].VolumeMounts)
	limit := func(q string) *resource.Quantity { v := resource.MustParse(q); return &v }
	assert.ElementsMatch(t, []corev1.Volume{
		{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
		{Name: "writable-etc-nginx", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: limit("100Mi")}}},
		{Name: "writable-var-cache-nginx", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: limit("1Gi")}}},
		{Name: "writable-var-run", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: limit("10Mi")}}},
	}, spec.Volumes)
}
