package test

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart"
	corev1 "k8s.io/api/core/v1"
)

// The chart ships copies of alerts/rules.yaml and dashboards/*.json in files/ (a chart cannot read
// outside its directory). deploy/sync.sh (make deploy-sync) refreshes them; this fails when a
// copy is stale, missing, or left over from a dashboard that is gone.
func TestChartFilesInSync(t *testing.T) {
	files := filepath.Join(chartDir, "files")
	t.Run("alerts/rules.yaml", func(t *testing.T) {
		src := filepath.Join(repoRoot, "alerts", "rules.yaml")
		want, err := os.ReadFile(src)
		if os.IsNotExist(err) {
			t.Skip("alerts/rules.yaml does not exist yet: nothing to sync into the chart")
		}
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(files, "rules.yaml"))
		require.NoError(t, err, "run deploy/sync.sh (make deploy-sync)")
		require.Equal(t, string(want), string(got), "files/rules.yaml differs from alerts/rules.yaml: run deploy/sync.sh (make deploy-sync)")

		// And the PrometheusRule renders from it.
		docs := chartDocs(t, map[string]any{"prometheusRule": map[string]any{"enabled": true}})
		assert.Contains(t, kinds(docs), "PrometheusRule")
	})
	t.Run("dashboards", func(t *testing.T) {
		srcs, err := filepath.Glob(filepath.Join(repoRoot, "dashboards", "*.json"))
		require.NoError(t, err)
		copies, err := filepath.Glob(filepath.Join(files, "dashboards", "*.json"))
		require.NoError(t, err)
		names := func(paths []string) []string {
			var n []string
			for _, p := range paths {
				n = append(n, filepath.Base(p))
			}
			sort.Strings(n)
			return n
		}
		require.Equal(t, names(srcs), names(copies), "chart dashboards differ from dashboards/*.json: run deploy/sync.sh (make deploy-sync)")
		if len(srcs) == 0 {
			t.Skip("dashboards/*.json does not exist yet: nothing to sync into the chart")
		}
		for _, src := range srcs {
			want, err := os.ReadFile(src)
			require.NoError(t, err)
			got, err := os.ReadFile(filepath.Join(files, "dashboards", filepath.Base(src)))
			require.NoError(t, err)
			require.Equal(t, string(want), string(got), "%s is stale: run deploy/sync.sh (make deploy-sync)", filepath.Base(src))
		}
		docs := chartDocs(t, map[string]any{"dashboards": map[string]any{"enabled": true}})
		n := 0
		for _, d := range docs {
			if d.kind() == "ConfigMap" {
				n++
			}
		}
		assert.Equal(t, len(srcs), n, "one ConfigMap per dashboard")
	})
}

// Each dashboard becomes a ConfigMap the Grafana sidecar picks up (label grafana_dashboard: "1"),
// checked on a made-up dashboard so that it holds before dashboards/ exists.
func TestDashboardConfigMaps(t *testing.T) {
	board := `{"title": "Ephemeral storage", "panels": []}`
	rendered, err := renderChartErr(map[string]any{"dashboards": map[string]any{"enabled": true}},
		&chart.File{Name: "files/dashboards/Ephemeral Storage_Nodes.json", Data: []byte(board)})
	require.NoError(t, err)
	var cms []*corev1.ConfigMap
	for name, text := range rendered {
		for _, y := range splitDocs(text) {
			if cm, ok := decode(t, name, y).obj.(*corev1.ConfigMap); ok {
				cms = append(cms, cm)
			}
		}
	}
	synced, err := filepath.Glob(filepath.Join(chartDir, "files", "dashboards", "*.json"))
	require.NoError(t, err)
	require.Equal(t, len(synced)+1, len(cms), "one ConfigMap per dashboard")
	var cm *corev1.ConfigMap
	for _, c := range cms {
		if _, ok := c.Data["Ephemeral Storage_Nodes.json"]; ok {
			cm = c
		}
	}
	require.NotNil(t, cm, "no ConfigMap for the made-up dashboard")
	assert.Equal(t, "ephemeral-storage-exporter-dashboard-ephemeral-storage-nodes", cm.Name)
	assert.Equal(t, namespace, cm.Namespace)
	assert.Equal(t, "1", cm.Labels["grafana_dashboard"])
	assert.Equal(t, map[string]string{"Ephemeral Storage_Nodes.json": board}, cm.Data)

	// Off by default.
	for _, d := range chartDocs(t, nil) {
		assert.NotEqual(t, "ConfigMap", d.kind())
	}
}
