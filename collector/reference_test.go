package collector

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/label"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/synthetic"
)

// Storage is the test-only reference rendering of the storage families: the same declarations
// (metrics) and the same snapshot, gathered the client_golang way as const metrics. The product is
// Exposition, which writes the text itself; assertSameSeries requires both to expose exactly the
// same series, and a pedantic registry and promlint check what the reference gathers.
type Storage struct {
	source  SnapshotSource
	metrics *metrics
	descs   map[string]*prometheus.Desc
}

var _ prometheus.Collector = (*Storage)(nil)

// NewStorage returns the reference collector of the snapshots source hands out.
func NewStorage(source SnapshotSource) *Storage {
	s := &Storage{source: source, metrics: newMetrics(), descs: map[string]*prometheus.Desc{}}
	for _, f := range s.metrics.families() {
		s.descs[f.name] = prometheus.NewDesc(f.name, f.help, f.labels, nil)
	}
	return s
}

// Describe implements prometheus.Collector.
func (c *Storage) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range c.metrics.families() {
		ch <- c.descs[f.name]
	}
}

// Collect implements prometheus.Collector.
func (c *Storage) Collect(ch chan<- prometheus.Metric) {
	snap := c.source.Snapshot()
	if snap == nil {
		return
	}
	m := c.metrics
	for i := range snap.Node.Filesystems {
		f := &snap.Node.Filesystems[i]
		for _, fm := range m.node.fs {
			collect(c, ch, fm, f, []string{snap.NodeName, f.Name})
		}
	}
	for i := range snap.Node.Signals {
		s := &snap.Node.Signals[i]
		for _, sm := range m.node.signal {
			collect(c, ch, sm, s, []string{snap.NodeName, s.Name})
		}
	}
	for _, nm := range m.node.node {
		collect(c, ch, nm, &snap.Node, []string{snap.NodeName})
	}
	for i := range snap.Pods {
		pod := &snap.Pods[i]
		for _, pm := range m.pods {
			collect(c, ch, pm, pod, podLabelValues(snap.NodeName, pod))
		}
		for j := range pod.Containers {
			ctr := &pod.Containers[j]
			for _, cm := range m.containers {
				collect(c, ch, cm, ctr, containerLabelValues(snap.NodeName, pod, ctr))
			}
		}
		for j := range pod.Volumes {
			v := &pod.Volumes[j]
			for _, vm := range m.volumes {
				collect(c, ch, vm, v, volumeLabelValues(snap.NodeName, pod, v))
			}
		}
	}
	ranks := podRanks(snap.Pods)
	for i := range ranks {
		for _, rm := range m.podRanks {
			collect(c, ch, rm, &ranks[i], podRankLabelValues(snap.NodeName, &ranks[i]))
		}
	}
}

// collect emits x's series as a const metric with the object's label values, made safe
// (label.Values): a const metric with an invalid UTF-8 value would panic.
func collect[T any](c *Storage, ch chan<- prometheus.Metric, m *metric[T], x *T, labelValues []string) {
	v := m.value(x)
	if !v.OK {
		return
	}
	if m.extra != nil {
		labelValues = append(labelValues[:len(labelValues):len(labelValues)], m.extra(x)...)
	}
	ch <- prometheus.MustNewConstMetric(c.descs[m.name], prometheus.GaugeValue, v.Value, label.Values(labelValues)...)
}

// BenchmarkRenderConstMetrics renders a synthetic node's storage series through the reference
// (const metrics gathered by a registry and text-encoded): the path Exposition replaced, kept to
// show what it saves; ./bench's BenchmarkRender measures Exposition on the same nodes.
func BenchmarkRenderConstMetrics(b *testing.B) {
	thresholds, err := accounting.ParseThresholds(accounting.DefaultEvictionHard)
	if err != nil {
		b.Fatal(err)
	}
	for _, pods := range []int{30, 110, 250} {
		node := synthetic.Generate(pods, 1)
		snap := model.Build(model.Inputs{Summary: node.Summary, Pods: node.Pods, Node: node.Node, Now: time.Unix(100, 0)},
			model.Options{ImageFs: model.ImageFsAuto, Thresholds: thresholds})
		b.Run(fmt.Sprintf("pods=%d", pods), func(b *testing.B) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(NewStorage(SnapshotFunc(func() *model.Snapshot { return snap })))
			var buf bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				families, err := reg.Gather()
				if err != nil {
					b.Fatal(err)
				}
				enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
				for _, mf := range families {
					if err := enc.Encode(mf); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
