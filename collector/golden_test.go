package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	promodel "github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/agent"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/fixtures"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

// TestGolden renders /metrics for the five public recordings, the e2e kubelet's (with the
// thresholds it ran with) and the embedded sample and compares
// it byte for byte with testdata/golden. Run `go test ./collector -update` after a deliberate
// change, and read the diff.
func TestGolden(t *testing.T) {
	cases := map[string]func(t *testing.T) *dump.Dump{
		"sample": func(t *testing.T) *dump.Dump {
			d, err := dump.Sample()
			require.NoError(t, err)
			return d
		},
	}
	for _, v := range fixtures.Versions {
		cases["kubelet-"+v] = func(t *testing.T) *dump.Dump { return fixtures.Load(t, v) }
	}
	for _, moment := range fixtures.E2E {
		cases["e2e-v1.34-"+moment] = func(t *testing.T) *dump.Dump { return fixtures.LoadE2E(t, moment) }
	}
	for name, load := range cases {
		t.Run(name, func(t *testing.T) {
			evictionHard := accounting.DefaultEvictionHard
			if strings.HasPrefix(name, "e2e-") {
				evictionHard = fixtures.E2EEvictionHard
			}
			got := render(t, load(t), evictionHard)
			path := filepath.Join("testdata", "golden", name+".prom")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./collector -update to create the golden file")
			require.Equal(t, string(want), string(got))
		})
	}
}

func render(t *testing.T, d *dump.Dump, evictionHard string) []byte {
	t.Helper()
	thresholds, err := accounting.ParseThresholds(evictionHard)
	require.NoError(t, err)
	summary, err := d.Summary(context.Background())
	require.NoError(t, err)
	snap := model.Build(model.Inputs{Summary: summary, Pods: d.Pods, Node: d.Node, Now: d.Time()},
		model.Options{ImageFs: model.ImageFsAuto, Thresholds: thresholds})
	text, gz, err := NewExposition(SnapshotFunc(func() *model.Snapshot { return snap })).Render()
	require.NoError(t, err)
	assertSameSeries(t, snap, text)
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	require.NoError(t, err)
	unzipped, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, string(text), string(unzipped), "the gzip rendering is the text rendering")
	return text
}

// TestPromlint lints everything the agent exports for the sample node, self-metrics included.
func TestPromlint(t *testing.T) {
	d, err := dump.Sample()
	require.NoError(t, err)
	reg := prometheus.NewPedanticRegistry()
	opts := agent.Options{NodeName: "sample-node", Timeout: time.Second, MaxStaleness: time.Hour, Now: d.Time}
	a := agent.New(opts, d, d.View(), slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	a.Refresh(context.Background())
	reg.MustRegister(NewStorage(a), NewInformerSynced("sample-node", map[string]func() bool{"pods": func() bool { return true }}))
	families, err := reg.Gather()
	require.NoError(t, err)
	require.Greater(t, len(families), 30)
	problems, err := promlint.NewWithMetricFamilies(families).Lint()
	require.NoError(t, err)
	assert.Empty(t, problems)
}

// assertSameSeries checks the fast text path against the reference: the const-metric collector
// gathered by a pedantic registry must expose exactly the same families, series and values.
func assertSameSeries(t *testing.T, snap *model.Snapshot, text []byte) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewStorage(SnapshotFunc(func() *model.Snapshot { return snap })))
	want, err := reg.Gather()
	require.NoError(t, err)
	parser := expfmt.NewTextParser(promodel.LegacyValidation)
	got, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	require.NoError(t, err, "the rendered text parses")
	require.Len(t, got, len(want))
	for _, wf := range want {
		gf, ok := got[wf.GetName()]
		require.True(t, ok, wf.GetName())
		assert.Equal(t, wf.GetHelp(), gf.GetHelp())
		assert.Equal(t, wf.GetType(), gf.GetType())
		assert.ElementsMatch(t, seriesOf(wf), seriesOf(gf), wf.GetName())
	}
}

func seriesOf(mf *dto.MetricFamily) []string {
	var out []string
	for _, m := range mf.GetMetric() {
		pairs := make([]string, 0, len(m.GetLabel()))
		for _, l := range m.GetLabel() {
			pairs = append(pairs, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(pairs)
		out = append(out, strings.Join(pairs, ",")+" "+strconv.FormatFloat(m.GetGauge().GetValue(), 'g', -1, 64))
	}
	return out
}
