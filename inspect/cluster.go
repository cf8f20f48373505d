package inspect

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kubelet"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// The RBAC the plugin needs, named in its errors (docs/kubectl-plugin.md has the ClusterRole).
const (
	PermNodesList   = "list nodes"
	PermNodesGet    = "get nodes"
	PermNodesProxy  = "get nodes/proxy"
	PermPodsList    = "list pods"
	PermPodsGet     = "get pods"
	listPageSize    = 500
	maxListPages    = 10000
	DefaultMaxBytes = 64 << 20
)

// Cluster reads nodes through the API server: pods and nodes by list, each node's summary through
// the node proxy (/api/v1/nodes/NAME/proxy/stats/summary), so that nothing runs on the cluster.
type Cluster struct {
	Client kubernetes.Interface
	Model  model.Options
	// Concurrency bounds the summaries read at once; NodeTimeout bounds each one.
	Concurrency int
	NodeTimeout time.Duration
	// MaxSummaryBytes bounds a summary: it is untrusted input.
	MaxSummaryBytes int64
	// Progress, when set, is called after each node with the nodes done and the total.
	Progress func(done, total int)
	Now      func() time.Time
}

// target is one node to read and the selected pods it runs.
type target struct {
	name string
	node *corev1.Node // nil when the node is gone or was not listed
	pods []*corev1.Pod
}

// Snapshots lists the selected nodes and pods, then reads the summaries with bounded concurrency.
func (c *Cluster) Snapshots(ctx context.Context, scope Scope) ([]*model.Snapshot, []NodeError, error) {
	targets, err := c.targets(ctx, scope)
	if err != nil {
		return nil, nil, err
	}
	snaps := make([]*model.Snapshot, len(targets))
	errs := make([]*NodeError, len(targets))
	var (
		mu   sync.Mutex
		done int
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(c.Concurrency, 1))
	for i := range targets {
		g.Go(func() error {
			snaps[i], errs[i] = c.snapshot(gctx, &targets[i])
			if c.Progress != nil {
				mu.Lock()
				done++
				c.Progress(done, len(targets))
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait() // node failures are collected, never returned
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	var (
		out    []*model.Snapshot
		failed []NodeError
	)
	for i := range targets {
		if errs[i] != nil {
			failed = append(failed, *errs[i])
		} else {
			out = append(out, snaps[i])
		}
	}
	return out, failed, nil
}

func (c *Cluster) targets(ctx context.Context, scope Scope) ([]target, error) {
	nodes, err := c.listNodes(ctx, scope.NodeSelector)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]int, len(nodes))
	targets := make([]target, 0, len(nodes))
	for _, n := range nodes {
		byName[n.Name] = len(targets)
		targets = append(targets, target{name: n.Name, node: n})
	}
	if !scope.Pods {
		return targets, nil
	}
	pods, err := c.listPods(ctx, scope.Namespace, scope.PodSelector)
	if err != nil {
		return nil, err
	}
	for _, p := range pods {
		if p.Spec.NodeName == "" {
			continue // not scheduled: no kubelet accounts it yet
		}
		i, ok := byName[p.Spec.NodeName]
		if !ok {
			if scope.NodeSelector != "" {
				continue // on a node the selector left out
			}
			i = len(targets)
			byName[p.Spec.NodeName] = i
			targets = append(targets, target{name: p.Spec.NodeName})
		}
		targets[i].pods = append(targets[i].pods, p)
	}
	if scope.AllNodes {
		return targets, nil
	}
	withPods := targets[:0]
	for _, t := range targets {
		if len(t.pods) > 0 {
			withPods = append(withPods, t)
		}
	}
	return withPods, nil
}

func (c *Cluster) listNodes(ctx context.Context, selector string) ([]*corev1.Node, error) {
	var out []*corev1.Node
	opts := metav1.ListOptions{LabelSelector: selector, Limit: listPageSize}
	for range maxListPages {
		list, err := c.Client.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return nil, permissionError(err, PermNodesList, "")
		}
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			return out, nil
		}
	}
	return nil, fmt.Errorf("listing nodes: more than %d pages", maxListPages)
}

func (c *Cluster) listPods(ctx context.Context, namespace, selector string) ([]*corev1.Pod, error) {
	var out []*corev1.Pod
	opts := metav1.ListOptions{LabelSelector: selector, Limit: listPageSize}
	for range maxListPages {
		list, err := c.Client.CoreV1().Pods(namespace).List(ctx, opts)
		if err != nil {
			return nil, permissionError(err, PermPodsList, namespace)
		}
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			return out, nil
		}
	}
	return nil, fmt.Errorf("listing pods: more than %d pages", maxListPages)
}

// snapshot reads one node's summary within the node timeout and builds its snapshot.
func (c *Cluster) snapshot(ctx context.Context, t *target) (*model.Snapshot, *NodeError) {
	summary, err := c.summary(ctx, t.name)
	if err != nil {
		ne := &NodeError{Node: t.name, Reason: err.Error()}
		if apierrors.IsForbidden(err) {
			ne.Forbidden = true
			ne.Reason = fmt.Sprintf("forbidden: the plugin needs %q on node %s (%s)", PermNodesProxy, t.name, apiMessage(err))
		}
		return nil, ne
	}
	return model.Build(model.Inputs{Summary: summary, Pods: t.pods, Node: t.node, Now: c.now()}, c.Model), nil
}

// summary reads /stats/summary through the API server's node proxy.
func (c *Cluster) summary(ctx context.Context, node string) (*statsv1alpha1.Summary, error) {
	timeout := c.NodeTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := c.Client.CoreV1().RESTClient().Get().
		AbsPath("/api/v1/nodes", node, "proxy", "stats", "summary").
		Stream(ctx)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("no summary within %s", timeout)
		}
		return nil, err
	}
	defer body.Close()
	maxBytes := c.MaxSummaryBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	summary, err := kubelet.DecodeSummary(body, maxBytes)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("no summary within %s", timeout)
		}
		return nil, err
	}
	if summary.Node.NodeName != node {
		return nil, fmt.Errorf("the summary read through node %s's proxy is node %q's", node, summary.Node.NodeName)
	}
	return summary, nil
}

// Pod reads the node of one pod and returns that pod's entry in its snapshot.
func (c *Cluster) Pod(ctx context.Context, namespace, name string) (*model.Snapshot, *model.Pod, error) {
	pod, err := c.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, permissionError(err, PermPodsGet, namespace)
	}
	if pod.Spec.NodeName == "" {
		return nil, nil, fmt.Errorf("pod %s/%s is not scheduled: no kubelet accounts its storage yet", namespace, name)
	}
	node, err := c.Client.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, nil, permissionError(err, PermNodesGet, "")
	}
	if err != nil {
		node = nil
	}
	snap, nerr := c.snapshot(ctx, &target{name: pod.Spec.NodeName, node: node, pods: []*corev1.Pod{pod}})
	if nerr != nil {
		return nil, nil, fmt.Errorf("node %s: %s", nerr.Node, nerr.Reason)
	}
	entry := findPod(snap, pod)
	if entry == nil {
		return nil, nil, noStatsError(pod.Spec.NodeName, pod)
	}
	return snap, entry, nil
}

func (c *Cluster) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// permissionError names the missing permission when the API server refused a request.
func permissionError(err error, perm, namespace string) error {
	if !apierrors.IsForbidden(err) {
		return err
	}
	where := "at cluster scope"
	if namespace != "" {
		where = "in namespace " + namespace
	}
	if perm == PermNodesList || perm == PermNodesGet {
		where = "(nodes are cluster-scoped)"
	}
	return fmt.Errorf("forbidden: the plugin needs %q %s: %s", perm, where, apiMessage(err))
}

func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		return status.Status().Message
	}
	return err.Error()
}
