package collector

import (
	"bytes"
	"context"
	"sync/atomic"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	promodel "github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// podUsage parses an exposition and returns ephemeral_storage_pod_usage_bytes of the pod named
// name; found is false when there is no such series.
func podUsage(t *testing.T, text []byte, name string) (value float64, found bool) {
	t.Helper()
	parser := expfmt.NewTextParser(promodel.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	require.NoError(t, err, "the exposition must parse")
	for _, m := range families["ephemeral_storage_pod_usage_bytes"].GetMetric() {
		if labelValue(m, "pod") == name {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// The exposition follows the snapshot: a new snapshot is rendered anew (not the first one served
// forever), and a pod name holding the three bytes the text format escapes (quote, backslash,
// newline) goes through the real rendering path, parses, and round-trips byte for byte.
func TestExpositionFollowsSnapshotsAndEscapesLabels(t *testing.T) {
	d, err := dump.Sample()
	require.NoError(t, err)
	summary, err := d.Summary(context.Background())
	require.NoError(t, err)
	base := model.Build(model.Inputs{Summary: summary, Pods: d.Pods, Node: d.Node, Now: d.Time()}, model.Options{ImageFs: model.ImageFsAuto})
	require.NotEmpty(t, base.Pods)

	const hostile = "we\"ird\\pod\nname"
	withUsage := func(usage float64) *model.Snapshot {
		s := *base
		s.Pods = append([]model.Pod(nil), base.Pods...)
		s.Pods[0].Name = hostile
		s.Pods[0].Usage = model.Some(usage)
		return &s
	}
	var current atomic.Pointer[model.Snapshot]
	current.Store(withUsage(1000))
	e := NewExposition(SnapshotFunc(current.Load))

	for _, usage := range []float64{1000, 2000, 3000} {
		current.Store(withUsage(usage))
		text, _, err := e.Render()
		require.NoError(t, err)
		got, found := podUsage(t, text, hostile)
		require.True(t, found, "the pod named %q must be exposed under exactly that name", hostile)
		require.Equal(t, usage, got, "the exposition of the current snapshot")
	}

	current.Store(nil)
	text, _, err := e.Render()
	require.NoError(t, err)
	_, found := podUsage(t, text, hostile)
	require.False(t, found, "no snapshot: no storage series")
}
