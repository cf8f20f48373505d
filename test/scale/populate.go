package scale

import (
	"context"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/synthetic"
)

// NodeName of simulated node i; pods of that node are named "<node>-<synthetic pod name>", so that
// the name alone says which node an object concerns.
func NodeName(i int) string { return fmt.Sprintf("node-%05d", i) }

// NodeOfObject returns the node a pod or Event's involved object name belongs to.
func NodeOfObject(name string) string {
	if len(name) >= len("node-00000") && strings.HasPrefix(name, "node-") {
		return name[:len("node-00000")]
	}
	return ""
}

// SimNode is one simulated node: its summary (served by a fake kubelet) and its pods (API objects).
type SimNode struct {
	Index int
	*synthetic.Node
}

// Simulate returns node i with p pods, renamed so that names and UIDs are unique in the cluster.
func Simulate(i, p int, seed uint64) *SimNode {
	g := synthetic.Generate(p, seed)
	name := NodeName(i)
	g.Summary.Node.NodeName = name
	g.Node.Name = name
	for j, pod := range g.Pods {
		pod.Name = name + "-" + pod.Name
		pod.UID = types.UID(fmt.Sprintf("%08d-0000-4000-8000-%012d", i, j))
		pod.Spec.NodeName = name
		makeValid(pod)
		ref := &g.Summary.Pods[j].PodRef
		ref.Name, ref.UID = pod.Name, string(pod.UID)
	}
	return &SimNode{Index: i, Node: g}
}

// makeValid fills what the API server's validation requires and the synthetic generator (made for
// the model, not the API) leaves out: owner UIDs and configMap names.
func makeValid(pod *corev1.Pod) {
	for k := range pod.OwnerReferences {
		pod.OwnerReferences[k].UID = types.UID(fmt.Sprintf("00000000-0000-4000-9000-%012d", k))
	}
	for k := range pod.Spec.Volumes {
		if cm := pod.Spec.Volumes[k].ConfigMap; cm != nil && cm.Name == "" {
			cm.Name = "config"
		}
	}
}

// Namespaces the synthetic pods live in.
func Namespaces() []string {
	out := make([]string, 12)
	for i := range out {
		out[i] = fmt.Sprintf("team-%d", i)
	}
	return out
}

// Populator creates objects with bounded concurrency.
type Populator struct {
	CS          kubernetes.Interface
	Concurrency int
}

func (p *Populator) each(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, p.Concurrency))
	for i := range n {
		g.Go(func() error { return f(ctx, i) })
	}
	return g.Wait()
}

// EnsureNamespaces creates the synthetic namespaces.
func (p *Populator) EnsureNamespaces(ctx context.Context) error {
	ns := Namespaces()
	return p.each(ctx, len(ns), func(ctx context.Context, i int) error {
		_, err := p.CS.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns[i]}}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
}

// AddNode creates the Node object (n's pods and summary then carry the UIDs the API server assigned) (status: InternalIP and the kubelet's port, which the node proxy
// dials) and its pods.
func (p *Populator) AddNode(ctx context.Context, n *SimNode, ip string, kubeletPort int) error {
	node := n.Node.Node.DeepCopy()
	created, err := p.CS.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create node %s: %w", node.Name, err)
	}
	created.Status = node.Status
	created.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: node.Name}}
	created.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(kubeletPort)
	created.Status.Conditions = append(created.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(), Reason: "KubeletReady"})
	if _, err := p.CS.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("node %s status: %w", node.Name, err)
	}
	return p.each(ctx, len(n.Pods), func(ctx context.Context, j int) error {
		pod := n.Pods[j].DeepCopy()
		pod.UID, pod.ResourceVersion = "", ""
		created, err := p.CS.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		// The API server assigns the UID; the summary must name the same one (the agent and the
		// plugin join summary and pods by UID).
		n.Pods[j].UID = created.UID
		n.Summary.Pods[j].PodRef.UID = string(created.UID)
		return nil
	})
}

// Evict does what the kubelet's eviction manager does to a pod (pkg/kubelet/eviction
// eviction_manager.go evictPod -> killPodFunc; status from pkg/kubelet/eviction/helpers.go
// evictionMessage): phase Failed, reason Evicted, and an Evicted Warning Event on the pod.
func (p *Populator) Evict(ctx context.Context, pod *corev1.Pod, eventName string) error {
	cur, err := p.CS.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	msg := "The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, available: 512Mi. "
	cur.Status.Phase, cur.Status.Reason, cur.Status.Message = corev1.PodFailed, "Evicted", msg
	if _, err := p.CS.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return err
	}
	return p.Event(ctx, cur, eventName, "Evicted", msg)
}

// Event creates a Warning Event on pod, shaped like the kubelet's (source component kubelet, host
// the pod's node).
func (p *Populator) Event(ctx context.Context, pod *corev1.Pod, name, reason, msg string) error {
	now := metav1.NewTime(time.Now())
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, APIVersion: "v1"},
		Reason:         reason, Message: msg, Type: corev1.EventTypeWarning, Count: 1,
		Source:         corev1.EventSource{Component: "kubelet", Host: pod.Spec.NodeName},
		FirstTimestamp: now, LastTimestamp: now,
	}
	if reason == "Failed" {
		ev.InvolvedObject.FieldPath = "spec.containers{app}"
	}
	_, err := p.CS.CoreV1().Events(pod.Namespace).Create(ctx, ev, metav1.CreateOptions{})
	return err
}

// ImagePullFailed is the kubelet's Failed Event for an image that cannot be pulled
// (pkg/kubelet/images/image_manager.go: events.FailedToPullImage, reason "Failed").
func (p *Populator) ImagePullFailed(ctx context.Context, pod *corev1.Pod, name string) error {
	return p.Event(ctx, pod, name, "Failed",
		`Failed to pull image "registry.example/app:1": rpc error: code = NotFound desc = failed to pull and unpack image "registry.example/app:1": not found`)
}
