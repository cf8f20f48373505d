package model

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
)

func buildContainers(stats []statsv1alpha1.ContainerStats, spec *corev1.Pod, dedicatedImageFs bool, version accounting.Version) []Container {
	containers := make([]Container, 0, len(stats))
	seen := make(map[string]bool, len(stats))
	for i := range stats {
		cs := &stats[i]
		if seen[cs.Name] {
			continue // one container, one set of series: the first stats win
		}
		seen[cs.Name] = true
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
		usage, usageOK := accounting.ContainerUsage(usedBytes(cs.Logs), usedBytes(cs.Rootfs), dedicatedImageFs)
		if usageOK {
			c.Usage = Some(usage)
		}
		if spec != nil {
			if limit, ok := applyContainerSpec(&c, spec, version); ok && usageOK {
				c.Ratio = Some(accounting.Ratio(usage, limit))
			}
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

// applyContainerSpec adds what the spec says: type, read-only root, request and limit, and
// returns the bound containerEphemeralStorageLimitEviction checks the container against, if any:
// app containers always, sidecars from kubelet 1.37 (accounting.ContainerLimit).
func applyContainerSpec(c *Container, spec *corev1.Pod, version accounting.Version) (resource.Quantity, bool) {
	for i := range spec.Spec.Containers {
		if sc := &spec.Spec.Containers[i]; sc.Name == c.Name {
			c.Type = ContainerApp
			fillResources(c, sc)
			return accounting.ContainerLimit(sc, false, version)
		}
	}
	for i := range spec.Spec.InitContainers {
		if sc := &spec.Spec.InitContainers[i]; sc.Name == c.Name {
			c.Type = ContainerInit
			fillResources(c, sc)
			if sc.RestartPolicy != nil && *sc.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				c.Type = ContainerSidecar
				return accounting.ContainerLimit(sc, true, version)
			}
			return resource.Quantity{}, false
		}
	}
	return resource.Quantity{}, false
}

func fillResources(c *Container, sc *corev1.Container) {
	c.ReadOnlyRootFilesystem = sc.SecurityContext != nil && sc.SecurityContext.ReadOnlyRootFilesystem != nil && *sc.SecurityContext.ReadOnlyRootFilesystem
	if q, ok := sc.Resources.Requests[corev1.ResourceEphemeralStorage]; ok {
		c.Request = Some(accounting.Bytes(q))
	}
	if q, ok := sc.Resources.Limits[corev1.ResourceEphemeralStorage]; ok {
		c.Limit = Some(accounting.Bytes(q))
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
