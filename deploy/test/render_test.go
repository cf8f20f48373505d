package test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite deploy/manifests/ephemeral-storage-exporter.yaml from the chart")

const (
	repoRoot      = "../.."
	chartDir      = "../helm/ephemeral-storage-exporter"
	kustomizeBase = "../kustomize/base"
	manifestPath  = "../manifests/ephemeral-storage-exporter.yaml"
	// The release name and namespace the kustomize base and the rendered manifest stand for.
	releaseName = "ephemeral-storage-exporter"
	namespace   = "ephemeral-storage-exporter"
)

// strict rejects unknown and duplicate fields: a typo in a template fails here, not on apply.
var strict = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// doc is one rendered object: its source, its YAML and its decoded form (a typed object, or
// *unstructured.Unstructured for monitoring.coreos.com).
type doc struct {
	source string
	yaml   string
	obj    runtime.Object
}

func (d doc) kind() string { return d.obj.GetObjectKind().GroupVersionKind().Kind }

// renderChart renders the chart as `helm template` would with the given values over values.yaml.
// It returns the rendered text of each template (NOTES.txt left out).
func renderChart(t testing.TB, values map[string]any) map[string]string {
	t.Helper()
	out, err := renderChartErr(values)
	require.NoError(t, err)
	return out
}

func renderChartErr(values map[string]any, extraFiles ...*chart.File) (map[string]string, error) {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	chrt.Files = append(chrt.Files, extraFiles...)
	vals, err := chartutil.ToRenderValues(chrt, values, chartutil.ReleaseOptions{
		Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	out, err := engine.Render(chrt, vals)
	if err != nil {
		return nil, err
	}
	for name := range out {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(out, name)
		}
	}
	return out, nil
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

// splitDocs splits a multi-document YAML stream, dropping empty documents and comments-only ones.
func splitDocs(s string) []string {
	var docs []string
	for _, part := range docSep.Split(s, -1) {
		empty := true
		for _, line := range strings.Split(part, "\n") {
			l := strings.TrimSpace(line)
			if l != "" && !strings.HasPrefix(l, "#") {
				empty = false
				break
			}
		}
		if !empty {
			docs = append(docs, strings.TrimSpace(part)+"\n")
		}
	}
	return docs
}

// decode decodes one document strictly with client-go's scheme; monitoring.coreos.com objects
// (not in the scheme) decode to unstructured, after a strict YAML parse.
func decode(t testing.TB, source, y string) doc {
	t.Helper()
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(y), &meta), "%s", source)
	require.NotEmpty(t, meta.APIVersion, "%s: no apiVersion in\n%s", source, y)
	if strings.HasPrefix(meta.APIVersion, "monitoring.coreos.com/") {
		var m map[string]any
		require.NoError(t, yaml.UnmarshalStrict([]byte(y), &m), "%s", source)
		return doc{source: source, yaml: y, obj: &unstructured.Unstructured{Object: m}}
	}
	obj, _, err := strict.Decode([]byte(y), nil, nil)
	require.NoError(t, err, "%s: strict decode of\n%s", source, y)
	return doc{source: source, yaml: y, obj: obj}
}

// chartDocs renders and decodes the chart, in a stable order (template name, then position).
func chartDocs(t testing.TB, values map[string]any) []doc {
	t.Helper()
	rendered := renderChart(t, values)
	names := make([]string, 0, len(rendered))
	for n := range rendered {
		names = append(names, n)
	}
	sort.Strings(names)
	var docs []doc
	for _, n := range names {
		for _, y := range splitDocs(rendered[n]) {
			docs = append(docs, decode(t, n, y))
		}
	}
	return docs
}

// kustomizeDocs builds a kustomization as `kubectl apply -k` would and decodes its objects.
func kustomizeDocs(t testing.TB, dir string) []doc {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	abs, err := filepath.Abs(dir)
	require.NoError(t, err)
	m, err := k.Run(filesys.MakeFsOnDisk(), abs)
	require.NoError(t, err, "kustomize build %s", dir)
	out, err := m.AsYaml()
	require.NoError(t, err)
	var docs []doc
	for _, y := range splitDocs(string(out)) {
		docs = append(docs, decode(t, dir, y))
	}
	return docs
}

// only returns the single object of a kind, failing when there is not exactly one.
func only[T runtime.Object](t testing.TB, docs []doc) T {
	t.Helper()
	var found []T
	for _, d := range docs {
		if o, ok := d.obj.(T); ok {
			found = append(found, o)
		}
	}
	require.Len(t, found, 1, "objects of type %T", *new(T))
	return found[0]
}

func kinds(docs []doc) []string {
	var k []string
	for _, d := range docs {
		k = append(k, d.kind())
	}
	sort.Strings(k)
	return k
}

// manifest is the text of deploy/manifests/ephemeral-storage-exporter.yaml: a Namespace (that
// `helm install --create-namespace` would create) and the chart's default objects.
func manifest(t testing.TB) []byte {
	t.Helper()
	rendered := renderChart(t, nil)
	names := make([]string, 0, len(rendered))
	for n := range rendered {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	b.WriteString("# Rendered from deploy/helm/ephemeral-storage-exporter with its default values (release and\n" +
		"# namespace ephemeral-storage-exporter). Do not edit: `make deploy-manifest` rewrites it, and\n" +
		"# deploy/test fails when it differs from a fresh render.\n" +
		"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + namespace + "\n  labels:\n" +
		"    pod-security.kubernetes.io/enforce: restricted\n    pod-security.kubernetes.io/warn: restricted\n")
	for _, n := range names {
		for _, y := range splitDocs(rendered[n]) {
			b.WriteString("---\n# Source: " + n + "\n" + y)
		}
	}
	return b.Bytes()
}

func TestRenderedManifestUpToDate(t *testing.T) {
	want := manifest(t)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(manifestPath), 0o755))
		require.NoError(t, os.WriteFile(manifestPath, want, 0o644))
	}
	got, err := os.ReadFile(manifestPath)
	require.NoError(t, err, "run `make deploy-manifest`")
	require.Equal(t, string(want), string(got),
		"deploy/manifests/ephemeral-storage-exporter.yaml is stale: run `make deploy-manifest`")
	// And it applies as is: every object decodes strictly.
	for _, y := range splitDocs(string(got)) {
		decode(t, manifestPath, y)
	}
}
