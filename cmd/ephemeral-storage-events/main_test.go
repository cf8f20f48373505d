package main

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kube"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/fakeapi"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/synthetic"
)

// replica is one events role process in a test: its role, its registry as /metrics serves it,
// and the context that ends it (as SIGTERM would).
type replica struct {
	role   *eventsRole
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan struct{}
}

func startReplica(t *testing.T, identity string, api *fakeapi.Server, leases *fake.Clientset) *replica {
	t.Helper()
	client, err := kube.NewClient(&rest.Config{Host: api.URL})
	require.NoError(t, err)
	r := &replica{role: newEventsRole(client, 0, slog.New(slog.DiscardHandler)), reg: prometheus.NewRegistry(), done: make(chan struct{})}
	r.reg.MustRegister(r.role.collector())
	o := &eventsOptions{leaseNamespace: "monitoring", leaseName: "ese-events", identity: identity,
		leaseDuration: 2 * time.Second, renewDeadline: 1500 * time.Millisecond, retryPeriod: 200 * time.Millisecond}
	elector, err := newElector(o, leases.CoordinationV1(), r.role, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { defer close(r.done); elector.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

// exposition is what the replica's /metrics would carry of the role's series.
func (r *replica) exposition(t *testing.T) string {
	t.Helper()
	families, err := r.reg.Gather()
	require.NoError(t, err)
	var b strings.Builder
	for _, f := range families {
		for _, m := range f.GetMetric() {
			b.WriteString(f.GetName())
			for _, l := range m.GetLabel() {
				b.WriteString(" " + l.GetName() + "=" + l.GetValue())
			}
			if m.GetCounter() != nil {
				b.WriteString(" " + ftoa(m.GetCounter().GetValue()))
			} else {
				b.WriteString(" " + ftoa(m.GetGauge().GetValue()))
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// TestEventsRoleLeaderElection: two replicas share one Lease; exactly one leads, watches and
// exports the counters; the read-only failure an Event shows is counted once across both. When the
// leader stops (a rollout), it releases the Lease and the other takes over without counting again
// what the first list shows.
func TestEventsRoleLeaderElection(t *testing.T) {
	node := synthetic.Generate(3, 1)
	pod := node.Pods[0]
	api := fakeapi.NewServer(node.Pods, node.Node)
	t.Cleanup(api.Close)
	leases := fake.NewClientset()
	a := startReplica(t, "replica-a", api, leases)
	b := startReplica(t, "replica-b", api, leases)

	var leader, follower *replica
	require.Eventually(t, func() bool {
		la, lb := a.role.leading.Load(), b.role.leading.Load()
		switch {
		case la && !lb:
			leader, follower = a, b
		case lb && !la:
			leader, follower = b, a
		default:
			return false
		}
		return leader.role.ready() == nil
	}, 15*time.Second, 20*time.Millisecond, "exactly one replica leads, its watches synced")

	container := pod.Spec.Containers[0].Name
	api.AddEvents(&corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "ro", Namespace: pod.Namespace, UID: "ev-ro"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			FieldPath: "spec.containers{" + container + "}"},
		Reason: "Failed", Count: 1, Type: corev1.EventTypeWarning,
		Message: "Error: failed to create containerd task: mkdir /run/containerd/x/rootfs/etc/app: read-only file system: unknown",
	})
	kind, workload := kube.Workload(pod)
	series := "ephemeral_storage_read_only_write_failures_total container=" + container + " namespace=" + pod.Namespace +
		" node=" + synthetic.NodeName + " source=event workload=" + workload + " workload_kind=" + kind
	require.Eventually(t, func() bool { return strings.Contains(leader.exposition(t), series+" 1\n") }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, "ephemeral_storage_events_leader 1\n"+series+" 1\n", leader.exposition(t))
	assert.Equal(t, "ephemeral_storage_events_leader 0\n", follower.exposition(t), "a follower exports no counter")
	assert.Equal(t, 1.0, testutil.ToFloat64(leader.role.leader))

	// The leader stops; the follower takes the released Lease, lists the same Event and does not
	// count it again (first list), while the old process is gone.
	leader.cancel()
	<-leader.done
	require.Eventually(t, func() bool { return follower.role.leading.Load() && follower.role.ready() == nil }, 10*time.Second, 20*time.Millisecond, "the follower takes over")
	require.Eventually(t, func() bool { return api.Watches.Load() > 0 }, time.Second, 10*time.Millisecond)
	assert.Equal(t, "ephemeral_storage_events_leader 1\n", follower.exposition(t), "the first list is not counted again")
	assert.False(t, leader.role.leading.Load())
	assert.Equal(t, "ephemeral_storage_events_leader 0\n", leader.exposition(t), "a former leader's counters are not exported beside the new leader's")
}
