package inspect

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/fixtures"
)

// TestClusterPartialResults: one node forbids the proxy, one never answers. The others are
// printed, the two are listed by name with why, the run ends in ErrPartial (exit code 3), and the
// whole run takes about one node timeout, not one per node.
func TestClusterPartialResults(t *testing.T) {
	f := newFakeCluster(t)
	var good []string
	for _, v := range fixtures.Versions {
		good = append(good, f.addDump(t, dumps(t)["kubelet-"+v]))
	}
	f.addNode("forbidden-node", true, false)
	f.addNode("slow-node", false, true)
	f.latency = 50 * time.Millisecond
	const timeout = 300 * time.Millisecond
	var (
		mu       sync.Mutex
		progress []int
	)
	c := &Cluster{Client: f.client(t), Model: defaultModel(t), Concurrency: 2, NodeTimeout: timeout,
		Progress: func(done, total int) {
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, len(good)+2, total)
			progress = append(progress, done)
		}}

	start := time.Now()
	var out, errOut bytes.Buffer
	o := TopOptions{Scope: Scope{Pods: true, AllNodes: true}, Selection: Selection{Pods: true, Signals: true}, Output: OutputWide}
	err := RunTop(context.Background(), c, o, &out, &errOut)
	elapsed := time.Since(start)

	require.ErrorIs(t, err, ErrPartial)
	assert.Equal(t, ExitPartial, ExitCode(err))
	assert.Less(t, elapsed, 5*time.Second, "one hanging node costs one timeout")
	for _, n := range good {
		assert.Contains(t, out.String(), n+"  ", "rows of %s are printed", n)
	}
	assert.NotContains(t, out.String(), "forbidden-node")
	assert.NotContains(t, out.String(), "slow-node")
	assert.Equal(t, "Partial results: 2 node(s) could not be read:\n"+
		`  forbidden-node: forbidden: the plugin needs "get nodes/proxy" on node forbidden-node (nodes "forbidden-node" is forbidden: User "viewer" cannot get resource "nodes/proxy" in API group "" at the cluster scope)`+"\n"+
		"  slow-node: no summary within 300ms\n", errOut.String())
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7}, progress)
	assert.LessOrEqual(t, f.maxInflight.Load(), int64(2), "summaries are read at most --concurrency at a time")
	// The API requests: one node list, one pod list, one summary per node.
	assert.Equal(t, int64(1), f.count("/api/v1/nodes"))
	assert.Equal(t, int64(1), f.count("/api/v1/pods"))
	for _, n := range append(good, "forbidden-node", "slow-node") {
		assert.Equal(t, int64(1), f.count("/api/v1/nodes/"+n+"/proxy/stats/summary"), n)
	}
	assert.Equal(t, int64(2+len(good)+2), f.requests.Load())

	// json keeps stdout one document: the failed nodes are in it.
	out.Reset()
	errOut.Reset()
	o.Output = OutputJSON
	require.ErrorIs(t, RunTop(context.Background(), c, o, &out, &errOut), ErrPartial)
	assert.Contains(t, out.String(), `"failedNodes": [`)
	assert.Contains(t, out.String(), `"forbidden": true`)
	assert.Empty(t, errOut.String())
}

// TestClusterScope: a namespace or a label selector reads only the nodes that run a selected pod.
func TestClusterScope(t *testing.T) {
	f := newFakeCluster(t)
	sample := dumps(t)["sample"]
	f.addDump(t, sample)
	f.addDump(t, dumps(t)["kubelet-1.31"])
	f.addNode("forbidden-node", true, false)
	c := &Cluster{Client: f.client(t), Model: defaultModel(t), Concurrency: 4, NodeTimeout: time.Second}

	tests := []struct {
		name      string
		scope     Scope
		wantNodes []string
		wantPods  []string
	}{
		{"namespace of the sample", Scope{Namespace: "db", Pods: true}, []string{"sample-node"}, []string{"postgres-0"}},
		{"namespace of the recording", Scope{Namespace: "scraper", Pods: true}, []string{"datagen-1-31"}, []string{"e2e-daemonset-rljnj", "e2e-deployment-7788bdb6df-7r2fx", "e2e-deployment-7788bdb6df-fqlfk"}},
		{"no pod selected", Scope{Namespace: "nowhere", Pods: true}, nil, nil},
		{"nodes only", Scope{AllNodes: true}, []string{"sample-node", "datagen-1-31"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snaps, failed, err := c.Snapshots(context.Background(), tt.scope)
			require.NoError(t, err)
			if !tt.scope.AllNodes {
				require.Empty(t, failed)
			}
			var nodes, pods []string
			for _, s := range snaps {
				nodes = append(nodes, s.NodeName)
			}
			for _, r := range TopRows(snaps, nil, Selection{Pods: true}) {
				if len(pods) == 0 || pods[len(pods)-1] != r.Pod {
					pods = append(pods, r.Pod)
				}
			}
			assert.Equal(t, tt.wantNodes, nodes)
			assert.ElementsMatch(t, tt.wantPods, dedupe(pods))
		})
	}
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// TestClusterForbiddenLists: without list on nodes or pods the run stops with the permission named.
func TestClusterForbiddenLists(t *testing.T) {
	f := newFakeCluster(t)
	f.forbidList = true
	c := &Cluster{Client: f.client(t), Model: defaultModel(t), Concurrency: 1, NodeTimeout: time.Second}
	_, _, err := c.Snapshots(context.Background(), Scope{Pods: true})
	require.Error(t, err)
	assert.Equal(t, ExitError, ExitCode(err))
	assert.True(t, strings.HasPrefix(err.Error(), `forbidden: the plugin needs "list nodes" (nodes are cluster-scoped)`), err.Error())
}

// TestClusterDu reads one pod's breakdown through the proxy, and names the node proxy
// permission when it is missing.
func TestClusterDu(t *testing.T) {
	f := newFakeCluster(t)
	f.addDump(t, dumps(t)["sample"])
	f.addNode("forbidden-node", true, false)
	c := &Cluster{Client: f.client(t), Model: defaultModel(t), Concurrency: 1, NodeTimeout: time.Second}

	var viaProxy, viaSample bytes.Buffer
	require.NoError(t, RunDu(context.Background(), c, "db", "postgres-0", OutputTable, &viaProxy))
	require.NoError(t, RunDu(context.Background(), &Sample{Dump: dumps(t)["sample"], Model: defaultModel(t)}, "db", "postgres-0", OutputTable, &viaSample))
	assert.Equal(t, viaSample.String(), viaProxy.String())
	assert.Contains(t, viaProxy.String(), "Total 900.0Mi of pod limit 2.0Gi (43.9%)")

	err := RunDu(context.Background(), c, "default", "on-forbidden-node", OutputTable, &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `node forbidden-node: forbidden: the plugin needs "get nodes/proxy" on node forbidden-node`)

	err = RunDu(context.Background(), c, "db", "missing", OutputTable, &bytes.Buffer{})
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrPartial))
	assert.Contains(t, err.Error(), `pods "missing" not found`)
}
