package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kubelet"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/synthetic"
)

// releasingKubelet serves one summary body and, when the agent releases a summary, overwrites
// every counter and filesystem in it, as the next decode into its memory would.
type releasingKubelet struct {
	body     []byte
	released int
}

func (k *releasingKubelet) Summary(context.Context) (*statsv1alpha1.Summary, error) {
	return kubelet.DecodeSummarySelective(bytes.NewReader(k.body), 64<<20)
}

func (k *releasingKubelet) Release(s *statsv1alpha1.Summary) {
	k.released++
	poison := func(fs *statsv1alpha1.FsStats) {
		if fs == nil {
			return
		}
		for _, p := range []*uint64{fs.AvailableBytes, fs.CapacityBytes, fs.UsedBytes, fs.InodesFree, fs.Inodes, fs.InodesUsed} {
			if p != nil {
				*p = 1 << 62
			}
		}
		fs.Time.Time = time.Unix(1, 0)
	}
	poison(s.Node.Fs)
	if s.Node.Runtime != nil {
		poison(s.Node.Runtime.ImageFs)
		poison(s.Node.Runtime.ContainerFs)
	}
	for i := range s.Pods {
		p := &s.Pods[i]
		poison(p.EphemeralStorage)
		for j := range p.Containers {
			poison(p.Containers[j].Rootfs)
			poison(p.Containers[j].Logs)
		}
		for j := range p.VolumeStats {
			poison(&p.VolumeStats[j].FsStats)
		}
	}
}

type specs struct{ n *synthetic.Node }

func (s specs) Pods() []*corev1.Pod { return s.n.Pods }
func (s specs) Node() *corev1.Node  { return s.n.Node }

// The agent releases each summary once its snapshot is built, and the snapshot keeps nothing of
// the summary's memory: overwriting it afterwards (the next decode does) changes no exported value.
func TestReleasedSummaryLeavesTheSnapshotIntact(t *testing.T) {
	node := synthetic.Generate(30, 3)
	body, err := json.Marshal(node.Summary)
	if err != nil {
		t.Fatal(err)
	}
	k := &releasingKubelet{body: body}
	now := time.Unix(1000, 0)
	opts := Options{NodeName: synthetic.NodeName, MinInterval: time.Second, Timeout: time.Second, MaxStaleness: time.Minute,
		Now: func() time.Time { return now }}
	a := New(opts, k, specs{node}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	a.Refresh(context.Background())
	if k.released != 1 {
		t.Fatalf("released %d summaries after one fetch, want 1", k.released)
	}
	fresh, err := kubelet.DecodeSummary(bytes.NewReader(body), 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := model.Build(model.Inputs{Summary: fresh, Pods: node.Pods, Node: node.Node, Now: now}, opts.Model)
	if got := a.Snapshot(); !reflect.DeepEqual(got, want) {
		t.Errorf("the snapshot changed when its summary's memory was overwritten:\n got %+v\nwant %+v", got, want)
	}
}
