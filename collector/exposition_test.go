package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	promodel "github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/synthetic"
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

// The text is streamed into the compressor a family at a time: the member inflates to exactly the
// text rendered in one piece, for a snapshot far larger than a flush; the text is only held once
// asked for, and a new snapshot drops it.
func TestExpositionStreamsTheTextIntoTheMember(t *testing.T) {
	d, err := dump.Sample()
	require.NoError(t, err)
	summary, err := d.Summary(context.Background())
	require.NoError(t, err)
	small := model.Build(model.Inputs{Summary: summary, Pods: d.Pods, Node: d.Node, Now: d.Time()}, model.Options{ImageFs: model.ImageFsAuto})
	big := *small
	big.Pods = nil
	for i := range 400 { // several flushes of the largest families
		for _, p := range small.Pods {
			p.Name = fmt.Sprintf("%s-%d", p.Name, i)
			big.Pods = append(big.Pods, p)
		}
	}
	for _, snap := range []*model.Snapshot{small, &big} {
		want := newMetrics().appendText(nil, snap, nil)
		var current atomic.Pointer[model.Snapshot]
		current.Store(snap)
		e := NewExposition(SnapshotFunc(current.Load))
		gz, size, err := e.Compressed()
		require.NoError(t, err)
		require.Equal(t, len(want), size)
		require.Nil(t, e.text, "no text held before a scrape asks for it")
		text, err := e.Text()
		require.NoError(t, err)
		require.Equal(t, string(want), string(text), "%d bytes", len(want))
		again, err := e.Text()
		require.NoError(t, err)
		require.Same(t, &text[0], &again[0], "inflated once per snapshot, then shared")
		gz2, _, err := e.Compressed()
		require.NoError(t, err)
		require.Same(t, &gz[0], &gz2[0], "compressed once per snapshot")

		next := *snap
		current.Store(&next)
		_, _, err = e.Compressed()
		require.NoError(t, err)
		require.Nil(t, e.text, "a new snapshot drops the old text")
		text, err = e.Text()
		require.NoError(t, err)
		require.Equal(t, string(want), string(text), "rendered again through the kept writer")
	}
}

// BenchmarkCompressors compresses the rendered text of a 250-pod node the way a render writes it
// (80 KiB writes) with each candidate: compress/gzip BestSpeed (new per render, as before issue
// 19's third pass), klauspost's stateless mode, and the kept klauspost level-1 writer the
// exposition uses (docs/performance.md, "What made it fast").
func BenchmarkCompressors(b *testing.B) {
	node := synthetic.Generate(250, 1)
	th, err := accounting.ParseThresholds(accounting.DefaultEvictionHard)
	require.NoError(b, err)
	snap := model.Build(model.Inputs{Summary: node.Summary, Pods: node.Pods, Node: node.Node, Now: time.Unix(100, 0)},
		model.Options{ImageFs: model.ImageFsAuto, Thresholds: th})
	text := newMetrics().appendText(nil, snap, nil)
	write := func(w io.Writer) {
		for rest := text; len(rest) > 0; {
			n := min(len(rest), 80<<10)
			if _, err := w.Write(rest[:n]); err != nil {
				b.Fatal(err)
			}
			rest = rest[n:]
		}
	}
	kept, _ := kgzip.NewWriterLevel(io.Discard, kgzip.BestSpeed)
	for _, c := range []struct {
		name string
		new  func(io.Writer) io.WriteCloser
	}{
		{"compress-gzip-bestspeed", func(w io.Writer) io.WriteCloser { z, _ := gzip.NewWriterLevel(w, gzip.BestSpeed); return z }},
		{"klauspost-stateless", func(w io.Writer) io.WriteCloser {
			z, _ := kgzip.NewWriterLevel(w, kgzip.StatelessCompression)
			return z
		}},
		{"klauspost-level1-kept", func(w io.Writer) io.WriteCloser { kept.Reset(w); return kept }},
	} {
		b.Run(c.name, func(b *testing.B) {
			var out bytes.Buffer
			b.ReportAllocs()
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				out.Reset()
				z := c.new(&out)
				write(z)
				if err := z.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(out.Len()), "gzip-bytes")
		})
	}
}
