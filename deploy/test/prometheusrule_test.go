package test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func prometheusRule(t *testing.T, values map[string]any) []any {
	t.Helper()
	pr := map[string]any{"enabled": true}
	for k, v := range values {
		pr[k] = v
	}
	docs := chartDocs(t, map[string]any{"prometheusRule": pr})
	for _, d := range docs {
		if d.kind() == "PrometheusRule" {
			u := d.obj.(*unstructured.Unstructured)
			groups, _, err := unstructured.NestedSlice(u.Object, "spec", "groups")
			require.NoError(t, err)
			return groups
		}
	}
	t.Fatal("no PrometheusRule rendered")
	return nil
}

func alertsOf(groups []any) map[string]int {
	n := map[string]int{}
	for _, g := range groups {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			if a, ok := r.(map[string]any)["alert"].(string); ok {
				n[a]++
			}
		}
	}
	return n
}

// The PrometheusRule carries files/rules.yaml unchanged by default; disabledAlerts,
// extraAlertLabels and additionalGroups change only what they say.
func TestPrometheusRule(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "files", "rules.yaml"))
	if os.IsNotExist(err) {
		t.Skip("files/rules.yaml not synced yet (alerts/rules.yaml missing): run deploy/sync.sh")
	}
	require.NoError(t, err)
	var file struct {
		Groups []any `json:"groups"`
	}
	require.NoError(t, yaml.UnmarshalStrict(raw, &file))
	require.NotEmpty(t, file.Groups)

	// Compare through JSON so that numbers and strings have the same Go types on both sides.
	norm := func(v any) any {
		b, err := yaml.Marshal(v)
		require.NoError(t, err)
		var out any
		require.NoError(t, yaml.Unmarshal(b, &out))
		return out
	}
	assert.Equal(t, norm(file.Groups), norm(prometheusRule(t, nil)), "rules pass through unchanged")

	all := alertsOf(file.Groups)
	require.NotEmpty(t, all)
	var victim string
	for a := range all {
		victim = a
		break
	}
	groups := prometheusRule(t, map[string]any{
		"disabledAlerts":   []any{victim},
		"extraAlertLabels": map[string]any{"team": "platform"},
		"additionalGroups": []any{map[string]any{"name": "mine", "rules": []any{
			map[string]any{"alert": "Mine", "expr": "vector(1)"}}}},
	})
	got := alertsOf(groups)
	assert.NotContains(t, got, victim)
	assert.Equal(t, 1, got["Mine"])
	for a, n := range all {
		if a != victim {
			assert.Equal(t, n, got[a], a)
		}
	}
	for _, g := range groups {
		if g.(map[string]any)["name"] == "mine" {
			continue
		}
		for _, r := range g.(map[string]any)["rules"].([]any) {
			r := r.(map[string]any)
			if _, ok := r["alert"]; ok {
				assert.Equal(t, "platform", r["labels"].(map[string]any)["team"], "%v", r["alert"])
				assert.NotEmpty(t, r["labels"].(map[string]any)["severity"], "own labels kept")
			}
		}
	}
}

// ruleOf returns the alerting rule of alert with severity.
func ruleOf(t *testing.T, groups []any, alert, severity string) map[string]any {
	t.Helper()
	for _, g := range groups {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			rule := r.(map[string]any)
			if rule["alert"] == alert && rule["labels"].(map[string]any)["severity"] == severity {
				return rule
			}
		}
	}
	t.Fatalf("no rule %s/%s", alert, severity)
	return nil
}

// prometheusRule.alertOverrides reaches the rendered PrometheusRule: thresholds and windows of the
// overridden alert change, in the expression and the texts; every other rule stays the default.
func TestPrometheusRuleOverrides(t *testing.T) {
	def := prometheusRule(t, nil)
	got := prometheusRule(t, map[string]any{"alertOverrides": map[string]any{
		"EphemeralStorageVolumeFillingUp":     map[string]any{"critical_horizon": "1h30m", "critical_for": "5m"},
		"EphemeralStorageVolumeNearSizeLimit": map[string]any{"critical": 0.99},
		"EphemeralStorageExporterDataStale":   map[string]any{"max_seconds": 200},
	}})
	tests := []struct {
		alert, severity, field, want, wantDefault string
	}{
		{"EphemeralStorageVolumeFillingUp", "critical", "expr", "pod_volume:ephemeral_storage_time_to_limit_seconds{} < 5400", "pod_volume:ephemeral_storage_time_to_limit_seconds{} < 1800"},
		{"EphemeralStorageVolumeFillingUp", "critical", "for", "5m", "2m"},
		{"EphemeralStorageVolumeFillingUp", "critical", "summary", "An emptyDir volume is predicted to reach its bound within 1h30m.", "An emptyDir volume is predicted to reach its bound within 30m."},
		// the warning of the same alert keeps its default horizon
		{"EphemeralStorageVolumeFillingUp", "warning", "expr", "pod_volume:ephemeral_storage_time_to_limit_seconds{} < 7200", "pod_volume:ephemeral_storage_time_to_limit_seconds{} < 7200"},
		{"EphemeralStorageVolumeNearSizeLimit", "critical", "expr", "pod_volume:ephemeral_storage_limit_ratio{} > 0.99", "pod_volume:ephemeral_storage_limit_ratio{} > 0.98"},
		{"EphemeralStorageExporterDataStale", "warning", "expr", `min by (cluster, node) (ephemeral_storage_exporter_data_age_seconds{job="ephemeral-storage-exporter"}) > 200`, `min by (cluster, node) (ephemeral_storage_exporter_data_age_seconds{job="ephemeral-storage-exporter"}) > 150`},
	}
	field := func(r map[string]any, f string) string {
		if f == "summary" {
			return r["annotations"].(map[string]any)["summary"].(string)
		}
		s, _ := r[f].(string)
		return s
	}
	for _, tt := range tests {
		t.Run(tt.alert+"/"+tt.severity+"/"+tt.field, func(t *testing.T) {
			assert.Contains(t, field(ruleOf(t, got, tt.alert, tt.severity), tt.field), tt.want)
			assert.Contains(t, field(ruleOf(t, def, tt.alert, tt.severity), tt.field), tt.wantDefault)
		})
	}
	// no placeholder survives in any rule
	for _, g := range got {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			assert.NotContains(t, fmt.Sprint(r), "<<")
		}
	}
	// other alerts are untouched
	assert.Equal(t, ruleOf(t, def, "EphemeralStoragePodFillingUp", "critical"), ruleOf(t, got, "EphemeralStoragePodFillingUp", "critical"))
}

func TestPrometheusRuleOverridesRejectUnknown(t *testing.T) {
	for name, o := range map[string]map[string]any{
		"no such alert":  {"NoSuchAlert": map[string]any{"for": "5m"}},
		"no such param":  {"EphemeralStorageVolumeFillingUp": map[string]any{"window": "5m"}},
		"not a duration": {"EphemeralStorageVolumeFillingUp": map[string]any{"critical_horizon": "soon"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := renderChartErr(map[string]any{"prometheusRule": map[string]any{"enabled": true, "alertOverrides": o}})
			assert.Error(t, err)
		})
	}
}

func TestPrometheusRuleOptOut(t *testing.T) {
	groups := prometheusRule(t, map[string]any{"optOut": []any{map[string]any{"namespace": "batch", "workload": "scratch"}}})
	last := groups[len(groups)-1].(map[string]any)
	require.Equal(t, "ephemeral-storage-exporter.helm-opt-out", last["name"])
	r := last["rules"].([]any)[0].(map[string]any)
	assert.Equal(t, "ephemeral_storage:alert_opt_out", r["record"])
	assert.Equal(t, map[string]any{"namespace": "batch", "workload": "scratch"}, r["labels"])
}
