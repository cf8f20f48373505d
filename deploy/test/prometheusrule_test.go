package test

import (
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
