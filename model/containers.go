package model

import (
	corev1 "k8s.io/api/core/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
)

func buildContainers(stats []statsv1alpha1.ContainerStats, spec *corev1.Pod, dedicatedImageFs bool) []Container {
	containers := make([]Container, 0, len(stats))
	for i := range stats {
		cs := &stats[i]
		if spec != nil && terminated(spec, cs.Name) {
			// A terminated container (a finished init container, a crashed one awaiting restart)
			// is not using storage now, whatever its last stats said.
			continue
		}
		c := Container{Name: cs.Name}
		if cs.Rootfs != nil {
			c.Rootfs = someUint(cs.Rootfs.UsedBytes)
		}
		if cs.Logs != nil {
			c.Logs = someUint(cs.Logs.UsedBytes)
		}
		if usage, ok := accounting.ContainerUsage(usedBytes(cs.Logs), usedBytes(cs.Rootfs), dedicatedImageFs); ok {
			c.Usage = Some(usage)
		}
		if spec != nil {
			applyContainerSpec(&c, spec)
		}
		containers = append(containers, c)
	}
	return containers
}

func usedBytes(fs *statsv1alpha1.FsStats) *uint64 {
	if fs == nil {
		return nil
	}
	return fs.UsedBytes
}

// applyContainerSpec adds what the spec says: type, read-only root, request and limit. Only app
// containers carry a limit ratio: containerEphemeralStorageLimitEviction reads spec.containers.
func applyContainerSpec(c *Container, spec *corev1.Pod) {
	for i := range spec.Spec.Containers {
		if sc := &spec.Spec.Containers[i]; sc.Name == c.Name {
			c.Type = ContainerApp
			fillResources(c, sc)
			if limit, ok := accounting.ContainerLimit(sc); ok {
				c.Ratio = ratio(c.Usage, limit)
			}
			return
		}
	}
	for i := range spec.Spec.InitContainers {
		if sc := &spec.Spec.InitContainers[i]; sc.Name == c.Name {
			c.Type = ContainerInit
			if sc.RestartPolicy != nil && *sc.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				c.Type = ContainerSidecar
			}
			fillResources(c, sc)
			return
		}
	}
}

func fillResources(c *Container, sc *corev1.Container) {
	c.ReadOnlyRootFilesystem = sc.SecurityContext != nil && sc.SecurityContext.ReadOnlyRootFilesystem != nil && *sc.SecurityContext.ReadOnlyRootFilesystem
	if q, ok := sc.Resources.Requests[corev1.ResourceEphemeralStorage]; ok {
		c.Request = Some(q.Value())
	}
	if q, ok := sc.Resources.Limits[corev1.ResourceEphemeralStorage]; ok {
		c.Limit = Some(q.Value())
	}
}

func terminated(pod *corev1.Pod, name string) bool {
	for _, statuses := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for i := range statuses {
			if statuses[i].Name == name {
				return statuses[i].State.Terminated != nil
			}
		}
	}
	return false
}
