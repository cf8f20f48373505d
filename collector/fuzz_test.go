package collector

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	promodel "github.com/prometheus/common/model"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kubelet"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/label"
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
		text := metrics.appendText(nil, snap, nil)
		parser := expfmt.NewTextParser(promodel.UTF8Validation)
		if _, err := parser.TextToMetricFamilies(bytes.NewReader(text)); err != nil {
			t.Fatalf("rendered invalid exposition: %v\n%s", err, text)
		}
	})
}

// FuzzLabelRendering puts arbitrary bytes in every label value that comes from the API server or
// the kubelet (namespace, pod, owner kind and name, container and volume names) and renders them
// both ways: the text exposition must parse, every label value must read back as its sanitized
// form (label.Value), and the const-metric collector must neither panic nor disagree.
func FuzzLabelRendering(f *testing.F) {
	f.Add("default", "web-0", "StatefulSet", "web", "app", "cache")
	f.Add("ns", "p", "Kind\xff", "owner\xc3\x28", "c\n\"\\", "v\x00\x7f")
	f.Add("ns", "p", strings.Repeat("é", 200), strings.Repeat("x", 1000), "", "\xed\xa0\x80")
	metrics := newMetrics()
	f.Fuzz(func(t *testing.T, namespace, pod, kind, owner, container, volume string) {
		snap := &model.Snapshot{NodeName: "node-1", Pods: []model.Pod{{
			Namespace: namespace, Name: pod, UID: "u", WorkloadKind: kind, Workload: owner,
			Usage:      model.Opt{Value: 1, OK: true},
			Containers: []model.Container{{Name: container, Type: model.ContainerApp, Usage: model.Opt{Value: 2, OK: true}}},
			Volumes:    []model.Volume{{Name: volume, Type: "emptyDir", Used: model.Opt{Value: 3, OK: true}}},
		}}}
		want := map[string]string{"node": "node-1", "namespace": label.Value(namespace), "pod": label.Value(pod),
			"workload_kind": label.Value(kind), "workload": label.Value(owner), "container": label.Value(container), "volume": label.Value(volume)}

		text := metrics.appendText(nil, snap, nil)
		parser := expfmt.NewTextParser(promodel.UTF8Validation)
		families, err := parser.TextToMetricFamilies(bytes.NewReader(text))
		if err != nil {
			t.Fatalf("rendered invalid exposition: %v\n%q", err, text)
		}
		checkLabels(t, "text", families, want)

		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(NewStorage(SnapshotFunc(func() *model.Snapshot { return snap })))
		gathered, err := reg.Gather()
		if err != nil {
			t.Fatalf("gather: %v", err)
		}
		byName := map[string]*dto.MetricFamily{}
		for _, mf := range gathered {
			byName[mf.GetName()] = mf
		}
		checkLabels(t, "const", byName, want)
	})
}

func checkLabels(t *testing.T, path string, families map[string]*dto.MetricFamily, want map[string]string) {
	t.Helper()
	if families["ephemeral_storage_pod_info"] == nil && want["workload_kind"] != "" {
		t.Fatalf("%s: no pod_info series", path)
	}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if w, ok := want[lp.GetName()]; ok && lp.GetValue() != w {
					t.Fatalf("%s: %s{%s} = %q, want %q", path, name, lp.GetName(), lp.GetValue(), w)
				}
				if !utf8.ValidString(lp.GetValue()) || len(lp.GetValue()) > label.MaxBytes {
					t.Fatalf("%s: %s{%s} invalid or too long: %q", path, name, lp.GetName(), lp.GetValue())
				}
			}
		}
	}
}
