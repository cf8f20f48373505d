package inspect

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// BenchmarkTopAllNamespaces times `top -A` against a loopback fake API server (not a real one:
// no authentication, no proxy hop to a kubelet) holding n copies of the sample node, and reports
// the API requests one run sends:
//
//	go test ./inspect -run '^$' -bench BenchmarkTopAllNamespaces -benchtime 3x
func BenchmarkTopAllNamespaces(b *testing.B) {
	sample := dumps(b)["sample"]
	summary, err := sample.Summary(context.Background())
	require.NoError(b, err)
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			f := newFakeCluster(b)
			for i := range n {
				name := fmt.Sprintf("node-%04d", i)
				node := sample.Node.DeepCopy()
				node.ObjectMeta = metav1.ObjectMeta{Name: name}
				f.nodes = append(f.nodes, *node)
				f.summaries[name] = nodeSummary(b, summary, name)
				for _, p := range sample.Pods {
					pod := p.DeepCopy()
					pod.Spec.NodeName = name
					pod.UID = types.UID(fmt.Sprintf("%s-%s", name, p.UID))
					f.pods = append(f.pods, *pod)
				}
			}
			c := &Cluster{Client: f.client(b), Model: defaultModel(b), Concurrency: 16, NodeTimeout: 30 * time.Second}
			o := TopOptions{Scope: Scope{Pods: true, AllNodes: true}, Selection: Selection{Pods: true, Signals: true}, Output: OutputWide}
			start := f.requests.Load()
			b.ResetTimer()
			for b.Loop() {
				require.NoError(b, RunTop(context.Background(), c, o, io.Discard, io.Discard))
			}
			b.StopTimer()
			b.ReportMetric(float64(f.requests.Load()-start)/float64(b.N), "requests/op")
		})
	}
}

// nodeSummary is summary as node name reports it: its pods carry that node's pod UIDs.
func nodeSummary(b *testing.B, summary *statsv1alpha1.Summary, name string) []byte {
	s := *summary
	s.Node.NodeName = name
	s.Pods = append([]statsv1alpha1.PodStats(nil), summary.Pods...)
	for i := range s.Pods {
		s.Pods[i].PodRef.UID = fmt.Sprintf("%s-%s", name, s.Pods[i].PodRef.UID)
	}
	raw, err := json.Marshal(&s)
	require.NoError(b, err)
	return raw
}
