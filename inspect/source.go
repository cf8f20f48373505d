package inspect

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/dump"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// Scope is what the user selected: pods by namespace and labels, nodes by labels.
type Scope struct {
	// Namespace is the pods' namespace; empty means all namespaces (-A).
	Namespace string
	// PodSelector and NodeSelector are label selectors (-l applies to pods for `top pods` and
	// `du`, to nodes for `top nodes`).
	PodSelector, NodeSelector string
	// Pods asks for pod rows; without it no pod is listed.
	Pods bool
	// AllNodes reads every selected node; otherwise only the nodes that run a selected pod.
	AllNodes bool
}

// NodeError is a node whose summary could not be read.
type NodeError struct {
	Node   string `json:"node"`
	Reason string `json:"reason"`
	// Forbidden is set when the API server refused the node proxy: the user lacks get on
	// nodes/proxy.
	Forbidden bool `json:"forbidden,omitempty"`
}

// Source hands out snapshots built with the agent's model.
type Source interface {
	// Snapshots builds one snapshot per selected node; nodes that fail are reported, not fatal.
	Snapshots(ctx context.Context, scope Scope) ([]*model.Snapshot, []NodeError, error)
	// Pod builds the snapshot of the node that runs one pod, and returns that pod's entry.
	Pod(ctx context.Context, namespace, name string) (*model.Snapshot, *model.Pod, error)
}

// Sample is the embedded sample node (or any recorded dump) seen as a cluster of one node.
type Sample struct {
	Dump  *dump.Dump
	Model model.Options
}

// Snapshots builds the dump's snapshot with the pods the scope selects.
func (s *Sample) Snapshots(ctx context.Context, scope Scope) ([]*model.Snapshot, []NodeError, error) {
	if s.Dump.Node != nil && scope.NodeSelector != "" {
		sel, err := labels.Parse(scope.NodeSelector)
		if err != nil {
			return nil, nil, err
		}
		if !sel.Matches(labels.Set(s.Dump.Node.Labels)) {
			return nil, nil, nil
		}
	}
	var pods []*corev1.Pod
	if scope.Pods {
		sel, err := labels.Parse(scope.PodSelector)
		if err != nil {
			return nil, nil, err
		}
		for _, p := range s.Dump.Pods {
			if (scope.Namespace == "" || p.Namespace == scope.Namespace) && sel.Matches(labels.Set(p.Labels)) {
				pods = append(pods, p)
			}
		}
		if len(pods) == 0 && !scope.AllNodes {
			return nil, nil, nil
		}
	}
	snap, err := s.build(ctx, pods)
	if err != nil {
		return nil, nil, err
	}
	return []*model.Snapshot{snap}, nil, nil
}

// Pod finds one pod of the dump.
func (s *Sample) Pod(ctx context.Context, namespace, name string) (*model.Snapshot, *model.Pod, error) {
	for _, p := range s.Dump.Pods {
		if p.Namespace == namespace && p.Name == name {
			snap, err := s.build(ctx, []*corev1.Pod{p})
			if err != nil {
				return nil, nil, err
			}
			entry := findPod(snap, p)
			if entry == nil {
				return nil, nil, noStatsError(snap.NodeName, p)
			}
			return snap, entry, nil
		}
	}
	return nil, nil, fmt.Errorf("pod %s/%s not found in the sample (try -A with top to list them)", namespace, name)
}

func (s *Sample) build(ctx context.Context, pods []*corev1.Pod) (*model.Snapshot, error) {
	summary, err := s.Dump.Summary(ctx)
	if err != nil {
		return nil, err
	}
	return model.Build(model.Inputs{Summary: summary, Pods: pods, Node: s.Dump.Node, Now: s.Dump.Time()}, s.Model), nil
}

// findPod returns the snapshot's entry for pod, joined as the model joins them (static pods by
// their mirror annotation), or nil when the kubelet does not report it.
func findPod(snap *model.Snapshot, pod *corev1.Pod) *model.Pod {
	index := model.NewPodIndex([]*corev1.Pod{pod})
	for i := range snap.Pods {
		if index.Lookup(snap.Pods[i].UID) != nil {
			return &snap.Pods[i]
		}
	}
	return nil
}

// noStatsError says why a pod has no entry in its node's snapshot.
func noStatsError(node string, pod *corev1.Pod) error {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return fmt.Errorf("pod %s/%s is %s: the kubelet accounts no storage to finished pods", pod.Namespace, pod.Name, pod.Status.Phase)
	}
	return fmt.Errorf("the kubelet on %s reports no stats for pod %s/%s (not started yet, or already gone)", node, pod.Namespace, pod.Name)
}

// TopRows are the rows of snapshots, each with its growth since the same node's previous
// snapshot when previous is given (--watch).
func TopRows(snaps, previous []*model.Snapshot, sel Selection) []Row {
	before := map[string]*model.Snapshot{}
	for _, s := range previous {
		before[s.NodeName] = s
	}
	var rows []Row
	for _, s := range snaps {
		cur := Rows(s, sel)
		if prev := before[s.NodeName]; prev != nil {
			addGrowth(cur, Rows(prev, sel), s.Time.Sub(prev.Time))
		}
		rows = append(rows, cur...)
	}
	return rows
}

// addGrowth sets each row's growth rate from its usage in the previous sample, and the time until
// the usage passes the bound at that rate.
func addGrowth(rows, previous []Row, elapsed time.Duration) {
	if elapsed <= 0 {
		return
	}
	prev := make(map[string]float64, len(previous))
	for i := range previous {
		prev[previous[i].Key()] = previous[i].Usage
	}
	for i := range rows {
		r := &rows[i]
		before, ok := prev[r.Key()]
		if !ok {
			continue
		}
		rate := (r.Usage - before) / elapsed.Seconds()
		r.GrowthPerSecond = &rate
		if rate > 0 {
			// The kubelet acts on usage > bound; at the bound the time left is zero.
			left := max((r.Bound-r.Usage)/rate, 0)
			r.SecondsToLimit = &left
		}
	}
}
