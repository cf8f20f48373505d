package collector

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/replay"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/fixtures"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current output")

// TestGolden renders /metrics for the five real recordings and the embedded sample and compares
// it byte for byte with testdata/golden. Run `go test ./collector -update` after a deliberate
// change, and read the diff.
func TestGolden(t *testing.T) {
	cases := map[string]func(t *testing.T) *replay.Dump{
		"sample": func(t *testing.T) *replay.Dump {
			d, err := replay.Sample()
			require.NoError(t, err)
			return d
		},
	}
	for _, v := range fixtures.Versions {
		cases["kubelet-"+v] = func(t *testing.T) *replay.Dump { return fixtures.Load(t, v) }
	}
	for name, load := range cases {
		t.Run(name, func(t *testing.T) {
			got := render(t, load(t))
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

func render(t *testing.T, d *replay.Dump) []byte {
	t.Helper()
	thresholds, err := accounting.ParseThresholds(accounting.DefaultEvictionHard)
	require.NoError(t, err)
	summary, err := d.Summary(context.Background())
	require.NoError(t, err)
	snap := model.Build(model.Inputs{Summary: summary, Pods: d.Pods, Node: d.Node, Now: d.Time()},
		model.Options{ImageFs: model.ImageFsAuto, Thresholds: thresholds})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewStorage(SnapshotFunc(func() *model.Snapshot { return snap })))
	var buf bytes.Buffer
	require.NoError(t, WriteText(&buf, reg))
	return buf.Bytes()
}
