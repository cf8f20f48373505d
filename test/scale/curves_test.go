package scale

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Phase is what one phase of a run cost: the API server's view (deltas of its /metrics) and each
// agent's (its traffic through its proxy, its CPU and RSS from /proc).
type Phase struct {
	Seconds float64
	API     *APIMetrics
	Agents  []AgentCost
}

// AgentCost is one agent's share of a phase.
type AgentCost struct {
	Node                 string
	WatchOwn, WatchOther int64 // watch events of its own node's objects / of other nodes'
	WatchBookmarks       int64
	WatchBytes           int64
	Lists                int64 // LIST requests
	ListBytes            int64
	Requests             int64 // every request
	CPUSeconds           float64
	RSSPeak              int64 // bytes, sampled every 250 ms
}

// Run is one mode of the agent at one cluster size.
type Run struct {
	Nodes, PodsPerNode, Agents int
	Mode                       string
	AgentArgs                  []string
	StormEvictions, StormFails int
	Rollout, Steady, Storm     Phase
	Restart                    Phase // a DaemonSet rollout: every agent restarts with the storm's Events in the cluster
	// EventsRole is the storm's cost to the cluster-scoped `events` role (after, when the binary
	// has it): one replica, leader of its Lease, watching the cluster's Events once.
	EventsRole *AgentCost `json:",omitempty"`
}

func envInt(t *testing.T, name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive integer", name, v)
		}
		return n
	}
	return def
}

// TestScaleCurves measures, at each cluster size of SCALE_NODES (default 10,100,1000 nodes of
// SCALE_PODS=10 pods), SCALE_AGENTS=10 real agents (on nodes 0..9) in each mode the binary has:
// "before" (--events.cluster-watch, or the binary's defaults when it has no such flag: main
// before the redesign) and "after" (the defaults). Phases: rollout (all agents start: list and
// watch), steady state (SCALE_STEADY_SECONDS=20), an event storm (an eviction on every other node
// and two image-pull Failed Events per node) and a DaemonSet rollout after it (every agent
// restarts). Results: $SCALE_ARTIFACTS/scale-results.{json,md}; docs/scale.md quotes them.
func TestScaleCurves(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 13*time.Minute)
	defer cancel()
	h := newHarness(t, ctx)
	sizes, err := IntList(envOr("SCALE_NODES", "10,100,1000"))
	if err != nil {
		t.Fatal(err)
	}
	pods, maxAgents := envInt(t, "SCALE_PODS", 10), envInt(t, "SCALE_AGENTS", 10)
	steady := time.Duration(envInt(t, "SCALE_STEADY_SECONDS", 20)) * time.Second
	if pods < 2 {
		t.Fatal("SCALE_PODS must be at least 2: each mode's storm evicts a different pod of a node")
	}
	type mode struct {
		name string
		args []string
	}
	modes := []mode{{name: "before"}}
	knows, err := KnowsFlag(h.env.AgentBin, "events.cluster-watch")
	if err != nil {
		t.Fatal(err)
	}
	if knows {
		modes = []mode{{"before", []string{"--events.cluster-watch"}}, {"after", nil}}
	} else {
		t.Logf("%s has no --events.cluster-watch: its defaults are the behaviour before the redesign; \"after\" not measured", h.env.AgentBin)
	}
	for i := range modes {
		modes[i].args = append(modes[i].args, agentArgs()...)
	}

	var runs []Run
	have := 0
	for _, n := range sizes {
		start := time.Now()
		h.addNodes(t, ctx, have, n, pods, func(i int) bool { return i < maxAgents })
		t.Logf("cluster grown from %d to %d nodes (%d pods each) in %v", have, n, pods, time.Since(start).Round(time.Millisecond))
		have = n
		k := min(n, maxAgents)
		for mi, m := range modes {
			r := Run{Nodes: n, PodsPerNode: pods, Agents: k, Mode: m.name, AgentArgs: m.args}
			nodes := make([]int, k)
			for i := range nodes {
				nodes[i] = i
			}
			proxies := h.proxies(t, nodes)
			var cur atomic.Pointer[[]*Agent] // read by the RSS sampler while a phase starts agents
			agents := func() []*Agent {
				if a := cur.Load(); a != nil {
					return *a
				}
				return nil
			}
			start := func() {
				a := h.startAgents(t, ctx, proxies, m.args)
				cur.Store(&a)
			}
			r.Rollout = h.measure(t, ctx, proxies, agents, start)
			r.Steady = h.measure(t, ctx, proxies, agents, func() {
				select {
				case <-time.After(steady): // a measurement window, not a wait for a condition
				case <-ctx.Done():
				}
			})
			var role *Agent
			var roleProxy *CountingProxy
			if m.name == "after" && KnowsCommand(h.env.AgentBin, "events") {
				role, roleProxy = h.startEventsRole(t, ctx)
			}
			var role0 Proc
			if role != nil {
				roleProxy.Reset()
				role0, _ = role.Proc()
			}
			r.Storm = h.measure(t, ctx, proxies, agents, func() {
				r.StormEvictions, r.StormFails = h.storm(t, ctx, n, mi, m.name)
				h.waitWatchQuiet(t, ctx)
			})
			if role != nil {
				tr := roleProxy.Snapshot()
				p1, _ := role.Proc()
				r.EventsRole = &AgentCost{Node: "events role", WatchOther: tr.WatchEventsOf("events", "other"),
					WatchBytes: Sum(tr.Bytes, "WATCH "), Requests: Sum(tr.Requests, ""), CPUSeconds: p1.CPU - role0.CPU, RSSPeak: p1.RSS}
				role.Stop()
				_ = roleProxy.Close()
			}
			stopAll(agents())
			cur.Store(nil)
			r.Restart = h.measure(t, ctx, proxies, agents, func() {
				start()
				h.waitWatchQuiet(t, ctx)
			})
			stopAll(agents())
			for _, p := range proxies {
				_ = p.Close()
			}
			runs = append(runs, r)
			t.Log(summaryLine(r))
		}
	}
	writeResults(t, h.env.Artifacts, runs)
}

// startEventsRole starts the events role through its own proxy and waits until its Events watch
// is open (it leads its Lease and has the cluster's Events) and the API server is quiet again.
func (h *harness) startEventsRole(t *testing.T, ctx context.Context) (*Agent, *CountingProxy) {
	t.Helper()
	p, err := NewCountingProxy(h.env.RESTConfig(), "events-role")
	if err != nil {
		t.Fatal(err)
	}
	role, err := StartEventsRole(h.agents, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(role.Stop)
	waitFor(t, ctx, time.Minute, "the events role's Events watch", func() (bool, error) {
		select {
		case <-role.done:
			return false, fmt.Errorf("events role exited; log %s:\n%s", role.log.Name(), tail(role.log.Name()))
		default:
		}
		return p.Snapshot().Requests["WATCH events"] >= 1, nil
	})
	h.waitWatchQuiet(t, ctx)
	return role, p
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// storm: an eviction on every other node (pod index mi, so that each mode evicts fresh pods) and
// two image-pull Failed Events on every node, all at once (bounded concurrency).
func (h *harness) storm(t *testing.T, ctx context.Context, nodes, mi int, tag string) (evictions, fails int) {
	t.Helper()
	evictions, fails = (nodes+1)/2, 2*nodes
	start := time.Now()
	err := h.pop.each(ctx, evictions+fails, func(ctx context.Context, k int) error {
		if k < evictions {
			node := h.nodes[2*k]
			return h.pop.Evict(ctx, node.Pods[mi], fmt.Sprintf("storm-%s-n%d-evicted-%05d", tag, nodes, k))
		}
		k -= evictions
		node := h.nodes[k/2]
		return h.pop.ImagePullFailed(ctx, node.Pods[k%2], fmt.Sprintf("storm-%s-n%d-failed-%05d", tag, nodes, k))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("storm (%s, %d nodes): %d evictions, %d Failed Events in %v", tag, nodes, evictions, fails, time.Since(start).Round(time.Millisecond))
	return evictions, fails
}

// measure runs phase and returns what it cost, the agents' RSS sampled every 250 ms meanwhile.
func (h *harness) measure(t *testing.T, ctx context.Context, proxies []*CountingProxy, agents func() []*Agent, phase func()) Phase {
	t.Helper()
	for _, p := range proxies {
		p.Reset()
	}
	before, err := ScrapeAPIServer(ctx, h.env.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	cpu0 := map[string]float64{}
	for _, a := range agents() {
		if p, err := a.Proc(); err == nil {
			cpu0[a.Node] = p.CPU
		}
	}
	var mu sync.Mutex
	peak := map[string]int64{}
	cpu1 := map[string]float64{}
	sample := func() {
		for _, a := range agents() {
			if p, err := a.Proc(); err == nil {
				mu.Lock()
				peak[a.Node] = max(peak[a.Node], p.RSS)
				cpu1[a.Node] = p.CPU
				mu.Unlock()
			}
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				sample()
			}
		}
	}()
	start := time.Now()
	phase()
	sec := time.Since(start).Seconds()
	close(stop)
	<-done
	sample()
	after, err := ScrapeAPIServer(ctx, h.env.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	out := Phase{Seconds: sec, API: before.Delta(after)}
	for _, p := range proxies {
		tr := p.Snapshot()
		c := AgentCost{Node: p.Node, WatchOwn: tr.WatchEventsOf("", "own"), WatchOther: tr.WatchEventsOf("", "other"),
			WatchBookmarks: tr.WatchEventsOf("", "BOOKMARK"), WatchBytes: Sum(tr.Bytes, "WATCH "),
			Lists: Sum(tr.Requests, "LIST "), ListBytes: Sum(tr.Bytes, "LIST "), Requests: Sum(tr.Requests, ""),
			RSSPeak: peak[p.Node], CPUSeconds: cpu1[p.Node] - cpu0[p.Node]}
		out.Agents = append(out.Agents, c)
	}
	return out
}

// Mean of f over the agents.
func (p Phase) Mean(f func(AgentCost) float64) float64 {
	if len(p.Agents) == 0 {
		return 0
	}
	var s float64
	for _, a := range p.Agents {
		s += f(a)
	}
	return s / float64(len(p.Agents))
}

// MaxRSS over the agents, MiB.
func (p Phase) MaxRSS() float64 {
	var m int64
	for _, a := range p.Agents {
		m = max(m, a.RSSPeak)
	}
	return float64(m) / (1 << 20)
}

func sumMap(m map[string]float64, match func(string) bool) float64 {
	var s float64
	for k, v := range m {
		if match(k) {
			s += v
		}
	}
	return s
}

func summaryLine(r Run) string {
	return fmt.Sprintf("N=%d %s: storm per agent %.0f own + %.0f other watch events (%.0f KiB), API server sent %.0f watch events; restart per agent %.1f LISTs, %.0f KiB listed",
		r.Nodes, r.Mode, r.Storm.Mean(func(a AgentCost) float64 { return float64(a.WatchOwn) }),
		r.Storm.Mean(func(a AgentCost) float64 { return float64(a.WatchOther) }),
		r.Storm.Mean(func(a AgentCost) float64 { return float64(a.WatchBytes) })/1024,
		sumMap(r.Storm.API.WatchEvents, func(string) bool { return true }),
		r.Restart.Mean(func(a AgentCost) float64 { return float64(a.Lists) }),
		r.Restart.Mean(func(a AgentCost) float64 { return float64(a.ListBytes) })/1024)
}

func writeResults(t *testing.T, dir string, runs []Run) {
	t.Helper()
	b, err := json.MarshalIndent(runs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "scale-results.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	md := ResultsMarkdown(runs)
	if err := os.WriteFile(filepath.Join(dir, "scale-results.md"), []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + md)
}

// ResultsMarkdown renders the tables docs/scale.md quotes.
func ResultsMarkdown(runs []Run) string {
	var b strings.Builder
	mean := func(p Phase, f func(AgentCost) float64) float64 { return p.Mean(f) }
	i64 := func(f func(AgentCost) int64) func(AgentCost) float64 {
		return func(a AgentCost) float64 { return float64(f(a)) }
	}
	fmt.Fprintln(&b, "Event storm (an eviction on every other node + 2 image-pull Failed Events per node); per agent = mean over the agents")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| nodes | mode | storm Events | per agent: watch events own / other | per agent: watch KiB | per agent: CPU s | per agent: RSS peak MiB (max) | API server: watch events sent (events / pods) | API server: watch KiB sent | API server: CPU s | seconds |")
	fmt.Fprintln(&b, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range runs {
		p := r.Storm
		fmt.Fprintf(&b, "| %d | %s | %d | %.0f / %.0f | %.0f | %.2f | %.1f | %.0f / %.0f | %.0f | %.2f | %.1f |\n", r.Nodes, r.Mode, r.StormEvictions+r.StormFails,
			mean(p, i64(func(a AgentCost) int64 { return a.WatchOwn })), mean(p, i64(func(a AgentCost) int64 { return a.WatchOther })),
			mean(p, i64(func(a AgentCost) int64 { return a.WatchBytes }))/1024, mean(p, func(a AgentCost) float64 { return a.CPUSeconds }),
			p.MaxRSS(), p.API.WatchEvents["events"], p.API.WatchEvents["pods"], sumMap(p.API.WatchBytes, func(string) bool { return true })/1024,
			p.API.ProcessCPU, p.Seconds)
	}
	for _, r := range runs {
		if e := r.EventsRole; e != nil {
			fmt.Fprintf(&b, "\nEvents role during the storm at %d nodes (%s): %d watch events, %.0f KiB, %d requests, %.2f CPU s, RSS %.1f MiB\n",
				r.Nodes, r.Mode, e.WatchOther, float64(e.WatchBytes)/1024, e.Requests, e.CPUSeconds, float64(e.RSSPeak)/(1<<20))
		}
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "DaemonSet rollout after the storm (every agent restarts; until all are ready and the API server's watch traffic is quiet)")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| nodes | mode | per agent: requests (LIST / all) | per agent: KiB received (list + watch) | per agent: watch events own / other (initial state included) | per agent: CPU s | API server: watch events sent (events / pods) | API server: watch KiB sent | API server: CPU s | API server: watchers at end (events / pods / nodes) | seconds |")
	fmt.Fprintln(&b, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range runs {
		p := r.Restart
		fmt.Fprintf(&b, "| %d | %s | %.1f / %.1f | %.0f | %.0f / %.0f | %.2f | %.0f / %.0f | %.0f | %.2f | %.0f / %.0f / %.0f | %.1f |\n", r.Nodes, r.Mode,
			mean(p, i64(func(a AgentCost) int64 { return a.Lists })), mean(p, i64(func(a AgentCost) int64 { return a.Requests })),
			mean(p, i64(func(a AgentCost) int64 { return a.ListBytes + a.WatchBytes }))/1024,
			mean(p, i64(func(a AgentCost) int64 { return a.WatchOwn })), mean(p, i64(func(a AgentCost) int64 { return a.WatchOther })),
			mean(p, func(a AgentCost) float64 { return a.CPUSeconds }),
			p.API.WatchEvents["events"], p.API.WatchEvents["pods"], sumMap(p.API.WatchBytes, func(string) bool { return true })/1024,
			p.API.ProcessCPU, p.API.Watchers["events"], p.API.Watchers["pods"], p.API.Watchers["nodes"], p.Seconds)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "Steady state (no change in the cluster; the window of SCALE_STEADY_SECONDS)")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| nodes | mode | seconds | per agent: requests | per agent: watch events | per agent: CPU s | per agent: RSS peak MiB (max) | API server CPU s |")
	fmt.Fprintln(&b, "|---:|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range runs {
		p := r.Steady
		fmt.Fprintf(&b, "| %d | %s | %.0f | %.1f | %.1f | %.3f | %.1f | %.2f |\n", r.Nodes, r.Mode, p.Seconds,
			mean(p, i64(func(a AgentCost) int64 { return a.Requests })),
			mean(p, i64(func(a AgentCost) int64 { return a.WatchOwn + a.WatchOther + a.WatchBookmarks })),
			mean(p, func(a AgentCost) float64 { return a.CPUSeconds }), p.MaxRSS(), p.API.ProcessCPU)
	}
	return b.String()
}

// TestRenderResults re-renders the tables of a saved run (SCALE_RESULTS=.../scale-results.json),
// e.g. after a change of ResultsMarkdown; it needs no cluster.
func TestRenderResults(t *testing.T) {
	path := os.Getenv("SCALE_RESULTS")
	if path == "" {
		t.Skip("SCALE_RESULTS (a scale-results.json) not set")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var runs []Run
	if err := json.Unmarshal(b, &runs); err != nil {
		t.Fatal(err)
	}
	fmt.Print(ResultsMarkdown(runs))
}
