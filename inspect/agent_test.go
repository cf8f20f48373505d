package inspect

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	promodel "github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/agent"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/collector"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
)

// TestRatiosEqualTheAgents serves the five recordings and the sample as six nodes behind a
// loopback API server, runs the plugin's node-proxy path over them, and runs the real agent on
// each dump: every ratio the plugin prints is a ratio series of the agent's /metrics with the
// same value (bit for bit), and every ratio series of the agent is a row of the plugin.
func TestRatiosEqualTheAgents(t *testing.T) {
	f := newFakeCluster(t)
	all := dumps(t)
	want := map[string]float64{}
	for _, d := range all {
		f.addDump(t, d)
		for k, v := range agentRatios(t, d) {
			want[k] = v
		}
	}
	c := &Cluster{Client: f.client(t), Model: defaultModel(t), Concurrency: 3, NodeTimeout: 10 * time.Second}
	snaps, failed, err := c.Snapshots(context.Background(), Scope{Pods: true, AllNodes: true})
	require.NoError(t, err)
	require.Empty(t, failed)
	require.Len(t, snaps, len(all))
	got := map[string]float64{}
	for _, r := range TopRows(snaps, nil, Selection{Pods: true, Signals: true}) {
		_, dup := got[r.Key()]
		require.False(t, dup, "one row per bound: %s", r.Key())
		got[r.Key()] = r.Ratio
	}
	require.NotEmpty(t, want)
	assert.Equal(t, want, got)
}

// agentRatios runs the agent on a dump and reads the ratio series of its exposition, keyed as
// the plugin keys its rows.
func agentRatios(t *testing.T, d *dump.Dump) map[string]float64 {
	t.Helper()
	summary, err := d.Summary(context.Background())
	require.NoError(t, err)
	// The agent refuses a summary of another node than its own.
	opts := agent.Options{NodeName: summary.Node.NodeName, Timeout: time.Second, MaxStaleness: time.Hour, Now: d.Time, Model: defaultModel(t)}
	a := agent.New(opts, d, d.View(), slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	a.Refresh(context.Background())
	text, _, err := collector.NewExposition(a).Render()
	require.NoError(t, err)
	parser := expfmt.NewTextParser(promodel.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	require.NoError(t, err)
	kinds := map[string]string{
		"ephemeral_storage_pod_limit_ratio":               KindPod,
		"ephemeral_storage_container_limit_ratio":         KindContainer,
		"ephemeral_storage_volume_size_limit_ratio":       KindEmptyDir,
		"ephemeral_storage_node_eviction_threshold_ratio": KindSignal,
	}
	out := map[string]float64{}
	for name, kind := range kinds {
		for _, m := range families[name].GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			r := Row{Node: l["node"], Namespace: l["namespace"], Pod: l["pod"], Kind: kind}
			switch kind {
			case KindContainer:
				r.Name = l["container"]
			case KindEmptyDir:
				require.Equal(t, "empty_dir", l["volume_type"], "only emptyDirs have a size limit ratio")
				r.Name = l["volume"]
			case KindSignal:
				r.Name = l["signal"]
			}
			out[r.Key()] = m.GetGauge().GetValue()
		}
	}
	return out
}
