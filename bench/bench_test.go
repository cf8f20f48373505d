package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/agent"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/collector"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kubelet"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/server"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/fixtures"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/synthetic"
)

var sizes = []int{30, 110, 250}

type fixture struct {
	node *synthetic.Node
	body []byte
}

func newFixture(b *testing.B, pods int) fixture {
	b.Helper()
	node := synthetic.Generate(pods, 1)
	body, err := json.Marshal(node.Summary)
	if err != nil {
		b.Fatal(err)
	}
	return fixture{node: node, body: body}
}

// decoders are the summary decoders compared: the reference, encoding/json into the kubelet's
// full types (the decoder before issue 19), and the kubelet client's selective decoder, once as
// the agent runs it (each summary released after its snapshot is built, so the next decode fills
// its memory) and once without the release (what a first decode, or any other caller, pays).
var decoders = []struct {
	name    string
	decode  func(io.Reader, int64) (*statsv1alpha1.Summary, error)
	release func(*statsv1alpha1.Summary)
}{
	{"json", kubelet.DecodeSummary, func(*statsv1alpha1.Summary) {}},
	{"selective", kubelet.DecodeSummarySelective, kubelet.ReleaseSummary},
	{"selective-unreleased", kubelet.DecodeSummarySelective, func(*statsv1alpha1.Summary) {}},
}

// bodyProvider serves a summary by decoding a fixed body, as the client decodes the kubelet's,
// and takes it back after the snapshot is built, as the client does.
type bodyProvider struct {
	body    []byte
	decode  func(io.Reader, int64) (*statsv1alpha1.Summary, error)
	release func(*statsv1alpha1.Summary)
}

func (p bodyProvider) Release(s *statsv1alpha1.Summary) {
	if p.release != nil {
		p.release(s)
	}
}

func (p bodyProvider) Summary(context.Context) (*statsv1alpha1.Summary, error) {
	if p.decode == nil {
		return kubelet.DecodeSummarySelective(bytes.NewReader(p.body), 64<<20)
	}
	return p.decode(bytes.NewReader(p.body), 64<<20)
}

type staticPods struct{ n *synthetic.Node }

func (p staticPods) Pods() []*corev1.Pod { return p.n.Pods }
func (p staticPods) Node() *corev1.Node  { return p.n.Node }

func modelOptions(b testing.TB) model.Options {
	thresholds, err := accounting.ParseThresholds(accounting.DefaultEvictionHard)
	if err != nil {
		b.Fatal(err)
	}
	return model.Options{ImageFs: model.ImageFsAuto, Thresholds: thresholds}
}

// BenchmarkDecode decodes the same summary body with each decoder; compare them with
// `benchstat -col /decoder`.
func BenchmarkDecode(b *testing.B) {
	for _, n := range sizes {
		f := newFixture(b, n)
		for _, d := range decoders {
			b.Run(fmt.Sprintf("decoder=%s/pods=%d", d.name, n), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(f.body)))
				for b.Loop() {
					s, err := d.decode(bytes.NewReader(f.body), 64<<20)
					if err != nil {
						b.Fatal(err)
					}
					d.release(s)
				}
			})
		}
	}
}

// BenchmarkDecodeRecordings decodes the real kubelet recordings with each decoder.
func BenchmarkDecodeRecordings(b *testing.B) {
	for _, v := range fixtures.Versions {
		body, err := os.ReadFile(filepath.Join(fixtures.Dir(), "v"+v+"-stats-summary.json"))
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range decoders {
			b.Run(fmt.Sprintf("decoder=%s/recording=v%s", d.name, v), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					s, err := d.decode(bytes.NewReader(body), 64<<20)
					if err != nil {
						b.Fatal(err)
					}
					d.release(s)
				}
			})
		}
	}
}

// BenchmarkCycle is one full fetch cycle: decode, join with pod specs, accounting, snapshot, and
// the render of the new snapshot's exposition that the next scrape would otherwise pay.
func BenchmarkCycle(b *testing.B) {
	for _, n := range sizes {
		f := newFixture(b, n)
		for _, d := range decoders {
			b.Run(fmt.Sprintf("decoder=%s/pods=%d", d.name, n), func(b *testing.B) {
				clock := time.Unix(0, 0)
				opts := agent.Options{NodeName: synthetic.NodeName, Timeout: time.Minute, MaxStaleness: time.Hour, Model: modelOptions(b),
					Now: func() time.Time { clock = clock.Add(time.Second); return clock }}
				a := agent.New(opts, bodyProvider{f.body, d.decode, d.release}, staticPods{f.node}, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
				e := collector.NewExposition(a)
				b.ReportAllocs()
				b.SetBytes(int64(len(f.body)))
				for b.Loop() {
					a.Refresh(context.Background())
					if _, _, err := e.Compressed(); err != nil { // what the agent renders per snapshot
						b.Fatal(err)
					}
				}
				if a.Snapshot() == nil {
					b.Fatal("no snapshot")
				}
			})
		}
	}
}

// BenchmarkServe is one scrape of /metrics from an existing snapshot.
func BenchmarkServe(b *testing.B) {
	for _, n := range sizes {
		f := newFixture(b, n)
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			now := time.Unix(100, 0)
			opts := agent.Options{NodeName: synthetic.NodeName, MinInterval: time.Hour, Timeout: time.Minute, MaxStaleness: time.Hour,
				Model: modelOptions(b), Now: func() time.Time { return now }}
			reg := prometheus.NewRegistry()
			a := agent.New(opts, bodyProvider{body: f.body}, staticPods{f.node}, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
			a.Refresh(context.Background())
			h, err := server.Handler(server.Options{TelemetryPath: "/metrics", Ready: func() error { return nil }}, reg,
				collector.NewExposition(a), a, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				b.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}

// BenchmarkRender renders a new snapshot's storage series (the text streamed into its gzip
// member): paid once per cycle, after the fetch.
func BenchmarkRender(b *testing.B) {
	for _, n := range sizes {
		f := newFixture(b, n)
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			summary, err := bodyProvider{body: f.body}.Summary(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			snaps := [2]*model.Snapshot{}
			for i := range snaps {
				snaps[i] = model.Build(model.Inputs{Summary: summary, Pods: f.node.Pods, Node: f.node.Node, Now: time.Unix(100, 0)}, modelOptions(b))
			}
			i := 0
			e := collector.NewExposition(collector.SnapshotFunc(func() *model.Snapshot { return snaps[i%2] }))
			b.ReportAllocs()
			for b.Loop() {
				i++ // a new snapshot every time: always a full render
				if _, _, err := e.Compressed(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
