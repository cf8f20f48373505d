// Package dump loads a recorded node: a saved /stats/summary, the pod list of the same node
// (`kubectl get pods -o yaml`) and optionally the node object. The replay and advise commands,
// the README's first command (on the sample node embedded here) and the tests all read
// recordings through it.
package dump

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kube"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kubelet"
)

// MaxSummaryBytes bounds a summary read from a file, as the live client bounds a response.
const MaxSummaryBytes = 256 << 20

//go:embed sample/summary.json sample/pods.yaml sample/node.yaml
var sample embed.FS

// Dump is one node's saved state. It serves its summary as a kubelet would.
type Dump struct {
	summary *statsv1alpha1.Summary
	Pods    []*corev1.Pod
	Node    *corev1.Node // nil when the dump has none
}

// Summary serves the saved summary, as the kubelet client serves a live one.
func (d *Dump) Summary(context.Context) (*statsv1alpha1.Summary, error) { return d.summary, nil }

// Time is when the summary was taken: its newest timestamp. Replayed ages are measured against it,
// so a replay shows the node as it was, and the same dump always renders the same metrics.
func (d *Dump) Time() time.Time { return newestTimestamp(d.summary) }

// View serves the dump's pods and node as the live node view does.
func (d *Dump) View() View { return View{d} }

// View is a dump seen as the agent's source of pod specs.
type View struct{ d *Dump }

// Pods are the dump's pods.
func (v View) Pods() []*corev1.Pod { return v.d.Pods }

// Node is the dump's node, or nil.
func (v View) Node() *corev1.Node { return v.d.Node }

// Sample is the embedded sample node.
func Sample() (*Dump, error) {
	read := func(name string) ([]byte, error) { return sample.ReadFile("sample/" + name) }
	return load(read, "summary.json", "pods.yaml", "node.yaml")
}

// Load reads a dump from files; nodePath may be empty.
func Load(summaryPath, podsPath, nodePath string) (*Dump, error) {
	return load(os.ReadFile, summaryPath, podsPath, nodePath)
}

func load(read func(string) ([]byte, error), summaryPath, podsPath, nodePath string) (*Dump, error) {
	raw, err := read(summaryPath)
	if err != nil {
		return nil, err
	}
	summary, err := kubelet.DecodeSummary(bytes.NewReader(raw), MaxSummaryBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", summaryPath, err)
	}
	d := &Dump{summary: summary}
	if raw, err = read(podsPath); err != nil {
		return nil, err
	}
	if d.Pods, err = DecodePods(raw, summary.Node.NodeName); err != nil {
		return nil, fmt.Errorf("%s: %w", podsPath, err)
	}
	if nodePath != "" {
		if raw, err = read(nodePath); err != nil {
			return nil, err
		}
		if d.Node, err = decodeNode(raw); err != nil {
			return nil, fmt.Errorf("%s: %w", nodePath, err)
		}
	}
	return d, nil
}

// DecodePods decodes a Pod, a PodList or a v1 List of pods (YAML or JSON) and keeps the pods bound
// to nodeName, as the agent's field-selected watch would.
func DecodePods(raw []byte, nodeName string) ([]*corev1.Pod, error) {
	objects, err := decodeObjects(raw)
	if err != nil {
		return nil, err
	}
	pods := make([]*corev1.Pod, 0, len(objects))
	for _, obj := range objects {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return nil, fmt.Errorf("want pods, found a %T", obj)
		}
		if pod.Spec.NodeName == "" || pod.Spec.NodeName == nodeName {
			pods = append(pods, pod)
		}
	}
	return pods, nil
}

func decodeNode(raw []byte) (*corev1.Node, error) {
	obj, _, err := kube.Codecs.UniversalDeserializer().Decode(raw, nil, nil)
	if err != nil {
		return nil, err
	}
	node, ok := obj.(*corev1.Node)
	if !ok {
		return nil, fmt.Errorf("want a Node, found a %T", obj)
	}
	return node, nil
}

func decodeObjects(raw []byte) ([]runtime.Object, error) {
	decoder := kube.Codecs.UniversalDeserializer()
	obj, _, err := decoder.Decode(raw, nil, nil)
	if err != nil {
		return nil, err
	}
	switch list := obj.(type) {
	case *corev1.PodList:
		objects := make([]runtime.Object, 0, len(list.Items))
		for i := range list.Items {
			objects = append(objects, &list.Items[i])
		}
		return objects, nil
	case *corev1.List:
		objects := make([]runtime.Object, 0, len(list.Items))
		for _, item := range list.Items {
			o, _, err := decoder.Decode(item.Raw, nil, nil)
			if err != nil {
				return nil, err
			}
			objects = append(objects, o)
		}
		return objects, nil
	default:
		return []runtime.Object{obj}, nil
	}
}

func newestTimestamp(s *statsv1alpha1.Summary) time.Time {
	var newest time.Time
	see := func(fs *statsv1alpha1.FsStats) {
		if fs != nil && fs.Time.After(newest) {
			newest = fs.Time.Time
		}
	}
	see(s.Node.Fs)
	if s.Node.Runtime != nil {
		see(s.Node.Runtime.ImageFs)
		see(s.Node.Runtime.ContainerFs)
	}
	for i := range s.Pods {
		see(s.Pods[i].EphemeralStorage)
		for j := range s.Pods[i].Containers {
			see(s.Pods[i].Containers[j].Rootfs)
			see(s.Pods[i].Containers[j].Logs)
		}
	}
	return newest
}
