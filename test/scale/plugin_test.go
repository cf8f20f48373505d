package scale

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestKubectlTopTimings times `kubectl ephemeral-storage top -A` at SCALE_PLUGIN_NODES (default
// 1,100,1000) nodes of 10 pods, through the real API server's node proxy to the fake kubelets
// (on the namespace's 10.x address: the proxy refuses loopback), three runs per size, and counts
// the requests it cost from the API server's /metrics. Every pod of the cluster must be in the
// output and no node may fail. Results: $SCALE_ARTIFACTS/plugin-timings.md.
func TestKubectlTopTimings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	h := newHarness(t, ctx)
	if h.env.PluginBin == "" {
		t.Fatal("SCALE_PLUGIN_BIN is not set")
	}
	sizes, err := IntList(envOr("SCALE_PLUGIN_NODES", "1,100,1000"))
	if err != nil {
		t.Fatal(err)
	}
	const pods, runs = 10, 3
	var md strings.Builder
	fmt.Fprintln(&md, "| nodes | pods | wall time of `top -A -o json` (min / median / max of 3) | API requests per run (all) | LIST nodes | LIST pods | node proxy (CONNECT nodes/proxy) | API server latency sum of the proxy requests, s |")
	fmt.Fprintln(&md, "|---:|---:|---:|---:|---:|---:|---:|---:|")
	have := 0
	for _, n := range sizes {
		h.addNodes(t, ctx, have, n, pods, nil)
		have = n
		var walls []time.Duration
		var delta *APIMetrics
		for range runs {
			before, err := ScrapeAPIServer(ctx, h.env.RESTConfig())
			if err != nil {
				t.Fatal(err)
			}
			kubeletReqs := h.kubelets.Requests.Load()
			start := time.Now()
			out := h.runPlugin(t, ctx, "top", "-A", "-o", "json", "--request-timeout", "60s")
			walls = append(walls, time.Since(start))
			after, err := ScrapeAPIServer(ctx, h.env.RESTConfig())
			if err != nil {
				t.Fatal(err)
			}
			delta = before.Delta(after)
			checkTop(t, out, n, pods)
			if got := h.kubelets.Requests.Load() - kubeletReqs; got != int64(n) {
				t.Errorf("%d nodes: the fake kubelets served %d summaries, want one per node", n, got)
			}
		}
		slices.Sort(walls)
		proxyKey := ""
		for _, k := range Keys(delta.Requests) {
			if strings.HasSuffix(k, " nodes/proxy") {
				proxyKey = k
			}
		}
		var total float64
		for k, v := range delta.Requests {
			if !strings.HasSuffix(k, " ") { // non-resource requests (/metrics) are the harness's
				total += v
			}
		}
		fmt.Fprintf(&md, "| %d | %d | %.2f s / %.2f s / %.2f s | %.0f | %.0f | %.0f | %.0f | %.2f |\n", n, n*pods,
			walls[0].Seconds(), walls[len(walls)/2].Seconds(), walls[len(walls)-1].Seconds(), total,
			delta.Requests["LIST nodes"], delta.Requests["LIST pods"], delta.Requests[proxyKey], delta.LatencySum[proxyKey])
		t.Logf("%d nodes: walls %v, requests %v", n, walls, delta.Requests)
	}
	t.Log("\n" + md.String())
	if err := os.WriteFile(filepath.Join(h.env.Artifacts, "plugin-timings.md"), []byte(md.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) runPlugin(t *testing.T, ctx context.Context, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, h.env.PluginBin, append([]string{"--kubeconfig", h.env.AdminKubeconfig}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %v\nstderr: %s", cmd.Args, err, stderr.String())
	}
	return stdout.Bytes()
}

// checkTop: every pod of the n simulated nodes is in the report, no node failed.
func checkTop(t *testing.T, out []byte, nodes, pods int) {
	t.Helper()
	var rep struct {
		Rows        []map[string]any `json:"rows"`
		FailedNodes []any            `json:"failedNodes"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("top -o json: %v", err)
	}
	if len(rep.FailedNodes) != 0 {
		t.Fatalf("%d nodes: failed nodes %v", nodes, rep.FailedNodes)
	}
	seen := map[string]bool{}
	for _, r := range rep.Rows {
		ns, _ := r["namespace"].(string)
		pod, _ := r["pod"].(string)
		if pod != "" {
			seen[ns+"/"+pod] = true
		}
	}
	if len(seen) != nodes*pods {
		t.Fatalf("%d nodes: %d distinct pods in the report, want %d", nodes, len(seen), nodes*pods)
	}
}
