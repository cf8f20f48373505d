package advise

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

func sampleReport(t *testing.T) (*Report, *dump.Dump) {
	t.Helper()
	dump, err := dump.Sample()
	require.NoError(t, err)
	src := &DumpSource{Dump: dump, Options: model.Options{ImageFs: model.ImageFsAuto}, Name: "embedded sample"}
	in, err := src.Observe(context.Background())
	require.NoError(t, err)
	return Analyze(in, DefaultSizing()), dump
}

func TestGolden(t *testing.T) {
	r, _ := sampleReport(t)
	for _, format := range Formats {
		t.Run(format, func(t *testing.T) {
			var out bytes.Buffer
			require.NoError(t, r.Write(&out, format))
			ext := map[string]string{FormatTable: "txt", FormatJSON: "json", FormatPatch: "yaml"}[format]
			path := filepath.Join("testdata", "golden", "sample."+ext)
			if *update {
				require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./advise -update to create it")
			assert.Equal(t, string(want), out.String(), "run go test ./advise -update after a deliberate change")
		})
	}
}

func TestSnapshotIsLabelled(t *testing.T) {
	r, _ := sampleReport(t)
	var out bytes.Buffer
	require.NoError(t, r.WriteTable(&out))
	assert.Contains(t, out.String(), "snapshot, not a window")
	var decoded map[string]any
	out.Reset()
	require.NoError(t, r.WriteJSON(&out))
	require.NoError(t, json.Unmarshal(out.Bytes(), &decoded))
	assert.Equal(t, true, decoded["snapshot"])
}

// TestPatchApplies applies each apps/v1 patch to a workload built from the sample's pod spec with
// the same strategic-merge code the API server runs for `kubectl patch --type strategic`.
func TestPatchApplies(t *testing.T) {
	r, dump := sampleReport(t)
	var out bytes.Buffer
	require.NoError(t, r.WritePatch(&out))
	podSpec := func(name string) corev1.PodSpec {
		for _, p := range dump.Pods {
			if p.Name == name {
				return *p.Spec.DeepCopy()
			}
		}
		t.Fatalf("no pod %s in the sample", name)
		return corev1.PodSpec{}
	}
	originals := map[string]any{
		"Deployment/web":       &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: podSpec("web-5d8f7c9b4-x2k9p")}}},
		"StatefulSet/postgres": &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: corev1.PodTemplateSpec{Spec: podSpec("postgres-0")}}},
	}
	applied := 0
	for _, doc := range strings.Split(out.String(), "\n---\n") {
		var head struct {
			APIVersion, Kind string
			Metadata         struct{ Name, Namespace string }
		}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &head))
		if head.Kind == "" {
			continue // the header or a commented-out workload
		}
		assert.Equal(t, "apps/v1", head.APIVersion)
		key := head.Kind + "/" + head.Metadata.Name
		original, ok := originals[key]
		require.True(t, ok, key)
		meta := map[string]any{"apiVersion": "apps/v1", "kind": head.Kind, "metadata": map[string]any{"name": head.Metadata.Name, "namespace": head.Metadata.Namespace}}
		originalJSON, err := json.Marshal(original)
		require.NoError(t, err)
		var merged map[string]any
		require.NoError(t, json.Unmarshal(originalJSON, &merged))
		for k, v := range meta {
			merged[k] = v
		}
		originalJSON, _ = json.Marshal(merged)
		patchJSON, err := yaml.YAMLToJSON([]byte(doc))
		require.NoError(t, err)
		result, err := strategicpatch.StrategicMergePatch(originalJSON, patchJSON, original)
		require.NoError(t, err, key)
		var spec struct {
			Spec struct{ Template corev1.PodTemplateSpec }
		}
		require.NoError(t, json.Unmarshal(result, &spec))
		got := spec.Spec.Template.Spec
		applied++

		// Everything the original had is still there; the advice is set.
		want := originals[key]
		var wantSpec corev1.PodSpec
		switch o := want.(type) {
		case *appsv1.Deployment:
			wantSpec = o.Spec.Template.Spec
		case *appsv1.StatefulSet:
			wantSpec = o.Spec.Template.Spec
		}
		assert.Len(t, got.Containers, len(wantSpec.Containers), key)
		assert.Len(t, got.InitContainers, len(wantSpec.InitContainers), key)
		assert.Len(t, got.Volumes, len(wantSpec.Volumes), key)
		for _, wl := range r.Workloads {
			if wl.Kind+"/"+wl.Name != key {
				continue
			}
			for _, c := range wl.Containers {
				sc := findContainer(got, c.Container)
				require.NotNil(t, sc, c.Container)
				assertQuantity(t, c.SuggestedRequest, sc.Resources.Requests[corev1.ResourceEphemeralStorage], key+" "+c.Container+" request")
				assertQuantity(t, c.SuggestedLimit, sc.Resources.Limits[corev1.ResourceEphemeralStorage], key+" "+c.Container+" limit")
				assert.Equal(t, sc.Image, findContainer(wantSpec, c.Container).Image, "untouched fields survive")
			}
			for _, e := range wl.EmptyDirs {
				for _, v := range got.Volumes {
					if v.Name == e.Volume {
						require.NotNil(t, v.EmptyDir, e.Volume)
						assertQuantity(t, e.SuggestedSizeLimit, *v.EmptyDir.SizeLimit, key+" "+e.Volume)
					}
				}
			}
			for _, m := range wl.MemoryEmptyDirs {
				for _, v := range got.Volumes {
					if v.Name == m.Volume {
						assert.Equal(t, corev1.StorageMediumMemory, v.EmptyDir.Medium, "memory emptyDirs are left alone")
					}
				}
			}
		}
	}
	assert.Equal(t, len(originals), applied)
}

func findContainer(spec corev1.PodSpec, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

func assertQuantity(t *testing.T, want string, got resource.Quantity, msg string) {
	t.Helper()
	w := resource.MustParse(want)
	assert.Equal(t, 0, w.Cmp(got), "%s: want %s, got %s", msg, want, got.String())
}
