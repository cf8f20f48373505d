package collector

import (
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

var containerLabels = []string{"node", "namespace", "pod", "container"}

func newContainerMetrics() []*metric[model.Container] {
	l := containerLabels
	return []*metric[model.Container]{
		newMetric("container", "rootfs_bytes", "Bytes written to the container's writable layer.", l,
			func(c *model.Container) model.Opt { return c.Rootfs }),
		newMetric("container", "logs_bytes", "Bytes of the container's logs on the node.", l,
			func(c *model.Container) model.Opt { return c.Logs }),
		newMetric("container", "usage_bytes", "Bytes the kubelet counts against the container's ephemeral-storage limit: logs, plus rootfs unless the node has a dedicated imagefs.", l,
			func(c *model.Container) model.Opt { return c.Usage }),
		newMetric("container", "request_bytes", "The container's ephemeral-storage request.", l,
			func(c *model.Container) model.Opt { return c.Request }),
		newMetric("container", "limit_bytes", "The container's ephemeral-storage limit.", l,
			func(c *model.Container) model.Opt { return c.Limit }),
		newMetric("container", "limit_ratio", "Container usage over its ephemeral-storage limit; the kubelet evicts the pod when it is above 1.", l,
			func(c *model.Container) model.Opt { return c.Ratio }),
		newInfo("container", "info", "Container type (app, init, sidecar) and whether it runs with a read-only root filesystem.",
			append(l[:len(l):len(l)], "container_type", "read_only_root_filesystem"),
			func(c *model.Container) bool { return c.Type != "" },
			func(c *model.Container) []string { return []string{c.Type, boolLabel(c.ReadOnlyRootFilesystem)} }),
	}
}

func containerLabelValues(node string, pod *model.Pod, c *model.Container) []string {
	return []string{node, pod.Namespace, pod.Name, c.Name}
}
