package collector

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	promodel "github.com/prometheus/common/model"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kubelet"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/fixtures"
)

// FuzzSummaryPipeline feeds arbitrary kubelet responses through decoding, the join with the
// sample node's pod specs, the accounting and the rendering: nothing may panic, and whatever is
// rendered must be valid exposition. Seeds: the five real recordings and the sample.
func FuzzSummaryPipeline(f *testing.F) {
	for _, v := range fixtures.Versions {
		if raw, err := os.ReadFile(filepath.Join(fixtures.Dir(), "v"+v+"-stats-summary.json")); err == nil {
			f.Add(raw)
		}
	}
	sample, err := dump.Sample()
	if err != nil {
		f.Fatal(err)
	}
	if raw, err := os.ReadFile("../dump/sample/summary.json"); err == nil {
		f.Add(raw)
	}
	f.Add([]byte(`{"node":{"nodeName":"n","fs":{"capacityBytes":0,"availableBytes":5}},"pods":[{"podRef":{"uid":"0b5c1f4e-1a2b-4c3d-8e9f-000000000001"},"volume":[{"name":"cache"}]}]}`))
	thresholds, err := accounting.ParseThresholds(accounting.DefaultEvictionHard + ",containerfs.available<1Gi")
	if err != nil {
		f.Fatal(err)
	}
	metrics := newMetrics()
	f.Fuzz(func(t *testing.T, raw []byte) {
		summary, err := kubelet.DecodeSummary(bytes.NewReader(raw), 1<<20)
		if err != nil {
			if kubelet.KindOf(err) == "" {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		snap := model.Build(model.Inputs{Summary: summary, Pods: sample.Pods, Node: sample.Node, Now: time.Unix(1e9, 0)},
			model.Options{ImageFs: model.ImageFsAuto, Thresholds: thresholds})
		text := metrics.appendText(nil, snap)
		parser := expfmt.NewTextParser(promodel.UTF8Validation)
		if _, err := parser.TextToMetricFamilies(bytes.NewReader(text)); err != nil {
			t.Fatalf("rendered invalid exposition: %v\n%s", err, text)
		}
	})
}
