package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

type containerDescs struct {
	rootfs, logs, usage, request, limit, ratio, info *prometheus.Desc
}

func newContainerDescs() containerDescs {
	l := []string{"node", "namespace", "pod", "container"}
	return containerDescs{
		rootfs:  desc("container", "rootfs_bytes", "Bytes written to the container's writable layer.", l...),
		logs:    desc("container", "logs_bytes", "Bytes of the container's logs on the node.", l...),
		usage:   desc("container", "usage_bytes", "Bytes the kubelet counts against the container's ephemeral-storage limit: logs, plus rootfs unless the node has a dedicated imagefs.", l...),
		request: desc("container", "request_bytes", "The container's ephemeral-storage request.", l...),
		limit:   desc("container", "limit_bytes", "The container's ephemeral-storage limit.", l...),
		ratio:   desc("container", "limit_ratio", "Container usage over its ephemeral-storage limit; the kubelet evicts the pod when it is above 1.", l...),
		info: desc("container", "info", "Container type (app, init, sidecar) and whether it runs with a read-only root filesystem.",
			append(l, "container_type", "read_only_root_filesystem")...),
	}
}

func (d containerDescs) all() []*prometheus.Desc {
	return []*prometheus.Desc{d.rootfs, d.logs, d.usage, d.request, d.limit, d.ratio, d.info}
}

func (d containerDescs) collect(ch chan<- prometheus.Metric, node string, pod *model.Pod, c *model.Container) {
	labels := []string{node, pod.Namespace, pod.Name, c.Name}
	gauge(ch, d.rootfs, c.Rootfs, labels...)
	gauge(ch, d.logs, c.Logs, labels...)
	gauge(ch, d.usage, c.Usage, labels...)
	gauge(ch, d.request, c.Request, labels...)
	gauge(ch, d.limit, c.Limit, labels...)
	gauge(ch, d.ratio, c.Ratio, labels...)
	if c.Type != "" {
		ch <- prometheus.MustNewConstMetric(d.info, prometheus.GaugeValue, 1, node, pod.Namespace, pod.Name, c.Name, c.Type, boolLabel(c.ReadOnlyRootFilesystem))
	}
}
