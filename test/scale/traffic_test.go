package scale

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestAgentWatchTrafficIndependentOfOtherNodes is the guard of issue 17: one agent, 1,000 Events
// (Evicted and image-pull Failed, the two reasons the agent used to watch cluster-wide) and 100
// evictions, all concerning pods of 100 OTHER nodes. With the agent's default flags it must
// receive none of them: no watch event of another node's object, on any resource. A control watch
// of the harness, through the same kind of counting proxy, receives exactly the 1,000 Events, so a
// 0 means the agent did not ask for them. Against the agent as it was before the redesign
// (SCALE_AGENT_ARGS=--events.cluster-watch, or main's binary before the change) it fails.
func TestAgentWatchTrafficIndependentOfOtherNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	h := newHarness(t, ctx)
	const others, events = 100, 1000
	h.addNodes(t, ctx, 0, 1, 10, nil)
	other := h.addNodes(t, ctx, 1, 1+others, 1, func(int) bool { return false })

	proxy := h.proxies(t, []int{0})[0]
	agents := h.startAgents(t, ctx, []*CountingProxy{proxy}, agentArgs())
	defer stopAll(agents)
	control := h.controlWatch(t, ctx)
	h.waitWatchQuiet(t, ctx)
	proxy.Reset()

	start := time.Now()
	if err := h.pop.each(ctx, events, func(ctx context.Context, k int) error {
		node := other[1+k%others]
		pod := firstPod(node)
		name := fmt.Sprintf("scale-%04d", k)
		switch {
		case k < others: // the first Event of each node is its pod's eviction
			return h.pop.Evict(ctx, pod, name)
		case k%2 == 0:
			return h.pop.Event(ctx, pod, name, "Evicted", "The node was low on resource: ephemeral-storage. ")
		default:
			return h.pop.ImagePullFailed(ctx, pod, name)
		}
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d Events and %d evictions on %d other nodes created in %v", events, others, others, time.Since(start).Round(time.Millisecond))
	waitFor(t, ctx, 2*time.Minute, "the control watch to receive every Event", func() (bool, error) {
		return control.Snapshot().WatchEventsOf("events", "other") >= events, nil
	})
	h.waitWatchQuiet(t, ctx)

	if got := control.Snapshot().WatchEventsOf("events", "other"); got != events {
		t.Fatalf("control watch received %d Events, want exactly %d", got, events)
	}
	got := proxy.Snapshot()
	t.Logf("agent %s after the storm: requests %v, response bytes %v, watch events %v", proxy.Node, got.Requests, got.Bytes, got.WatchEvents)
	for _, resource := range Keys(got.WatchEvents) {
		if n := got.WatchEvents[resource]["other"]; n != 0 {
			t.Errorf("agent received %d watch events on %s concerning other nodes' objects, want 0 (its watch traffic grows with the cluster)", n, resource)
		}
	}
}
