// Package kube holds the agent's node-scoped view of the API server: the pods bound to its node
// and the node object, watched through informers, plus small helpers on pod specs shared by the
// collectors and the eviction detector.
package kube

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MirrorPodAnnotation carries, on a static pod's mirror object, the UID the kubelet knows the pod
// by; the summary API reports static pods under that UID.
const MirrorPodAnnotation = "kubernetes.io/config.mirror"

// Workload names the object that owns a pod, the way an SRE names it: a ReplicaSet created by a
// Deployment resolves to the Deployment (without reading ReplicaSets: the Deployment controller
// names them "<deployment>-<pod-template-hash>"), a static pod to its Node, and an orphan to
// itself.
func Workload(pod *corev1.Pod) (kind, name string) {
	if _, ok := pod.Annotations[MirrorPodAnnotation]; ok {
		return "Node", pod.Spec.NodeName
	}
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		return "Pod", pod.Name
	}
	if owner.Kind == "ReplicaSet" {
		if hash := pod.Labels["pod-template-hash"]; hash != "" {
			if deployment, ok := strings.CutSuffix(owner.Name, "-"+hash); ok && deployment != "" {
				return "Deployment", deployment
			}
		}
	}
	return owner.Kind, owner.Name
}
