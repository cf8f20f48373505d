package scale

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// harness is what every scenario shares: the environment, the admin client, one fake-kubelet
// process and the populator.
type harness struct {
	env      *Env
	cs       *kubernetes.Clientset
	pop      *Populator
	kubelets *Kubelets
	agents   AgentConfig
	nodes    map[int]*SimNode // every node created, with the UIDs the API server gave its pods
}

func newHarness(t *testing.T, ctx context.Context) *harness {
	t.Helper()
	env, ok, err := LoadEnv()
	if !ok {
		t.Skip("not inside the scale harness: run `make scale` or `make scale-short` (hack/scale/run.sh)")
	}
	if err != nil {
		t.Fatal(err)
	}
	cs, err := env.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	kubelets, err := NewKubelets(env.NodeIP, env.KubeletCert, env.KubeletKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kubelets.Close() })
	h := &harness{env: env, nodes: map[int]*SimNode{}, cs: cs, pop: &Populator{CS: cs, Concurrency: 24}, kubelets: kubelets,
		agents: AgentConfig{Bin: env.AgentBin, Dir: t.TempDir(), LogDir: filepath.Join(env.Artifacts, "agents", t.Name()), Token: env.Token, CA: env.CA}}
	if err := h.pop.EnsureNamespaces(ctx); err != nil {
		t.Fatal(err)
	}
	return h
}

// addNodes creates nodes [from, to) with p pods each; withKubelet nodes get a fake kubelet.
func (h *harness) addNodes(t *testing.T, ctx context.Context, from, to, p int, withKubelet func(i int) bool) map[int]*SimNode {
	t.Helper()
	out := map[int]*SimNode{}
	nodes := make([]*SimNode, to-from)
	for i := from; i < to; i++ {
		nodes[i-from] = Simulate(i, p, 1)
		out[i] = nodes[i-from]
		h.nodes[i] = nodes[i-from]
	}
	ports := make([]int, len(nodes))
	for k, n := range nodes {
		ports[k] = 10250 // nobody dials a node without a fake kubelet
		if withKubelet == nil || withKubelet(n.Index) {
			port, err := h.kubelets.Add(n.Node.Node.Name)
			if err != nil {
				t.Fatal(err)
			}
			ports[k] = port
		}
	}
	// Nodes in parallel, each node's pods in parallel too: bounded by the populator's limit twice.
	outer := &Populator{CS: h.cs, Concurrency: 8}
	if err := outer.each(ctx, len(nodes), func(ctx context.Context, k int) error {
		if err := h.pop.AddNode(ctx, nodes[k], h.env.NodeIP, ports[k]); err != nil {
			return err
		}
		if ports[k] == 10250 {
			return nil
		}
		return h.kubelets.Set(nodes[k].Node.Node.Name, nodes[k].Summary)
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// startAgents starts one agent per node (each through its own proxy) and waits until all are ready.
func (h *harness) startAgents(t *testing.T, ctx context.Context, proxies []*CountingProxy, extra []string) []*Agent {
	t.Helper()
	cfg := h.agents
	cfg.ExtraArgs = extra
	agents := make([]*Agent, 0, len(proxies))
	for _, p := range proxies {
		a, err := StartAgent(cfg, p, h.kubelets.URL(p.Node))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Stop)
		agents = append(agents, a)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, a := range agents {
		if err := a.WaitReady(wctx); err != nil {
			for _, b := range agents {
				b.Stop()
			}
			t.Fatal(err)
		}
	}
	return agents
}

func stopAll(agents []*Agent) {
	for _, a := range agents {
		a.Stop()
	}
}

func (h *harness) proxies(t *testing.T, nodes []int) []*CountingProxy {
	t.Helper()
	out := make([]*CountingProxy, 0, len(nodes))
	for _, i := range nodes {
		p, err := NewCountingProxy(h.env.RESTConfig(), NodeName(i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		out = append(out, p)
	}
	return out
}

// controlWatch is the harness's own cluster-wide watch of Pod Events through a counting proxy:
// it proves that the Events were delivered to whoever asks for them (so an agent's 0 means it
// did not ask, not that nothing was sent).
func (h *harness) controlWatch(t *testing.T, ctx context.Context) *CountingProxy {
	t.Helper()
	p := h.proxies(t, []int{-1})[0] // node "-1": no object is its own, every Event counts as "other"
	cfg := h.env.RESTConfig()
	cfg.Host = p.URL
	cfg.TLSClientConfig = restTLSNone
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w, err := cs.CoreV1().Events("").Watch(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Pod"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	go func() {
		for range w.ResultChan() {
		}
	}()
	return p
}

// waitFor polls cond every 200 ms until it holds or the deadline passes.
func waitFor(t *testing.T, ctx context.Context, within time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitWatchQuiet waits until the API server has sent no watch event for two scrapes 1 s apart:
// everything it dispatched has left it.
func (h *harness) waitWatchQuiet(t *testing.T, ctx context.Context) {
	t.Helper()
	var last float64 = -1
	var lastAt time.Time
	waitFor(t, ctx, time.Minute, "the API server's watch traffic to settle", func() (bool, error) {
		m, err := ScrapeAPIServer(ctx, h.env.RESTConfig())
		if err != nil {
			return false, err
		}
		var sum float64
		for _, v := range m.WatchEvents {
			sum += v
		}
		if sum != last {
			last, lastAt = sum, time.Now()
			return false, nil
		}
		return time.Since(lastAt) >= time.Second, nil
	})
}

func agentArgs() []string { return strings.Fields(os.Getenv("SCALE_AGENT_ARGS")) }

func firstPod(n *SimNode) *corev1.Pod { return n.Pods[0] }
