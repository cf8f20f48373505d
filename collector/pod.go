package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

type podDescs struct {
	usage, request, limit, ratio, info *prometheus.Desc
}

func newPodDescs() podDescs {
	l := []string{"node", "namespace", "pod"}
	return podDescs{
		usage:   desc("pod", "usage_bytes", "The pod's local ephemeral storage usage: containers' rootfs and logs, disk-backed emptyDirs, configMaps, pod logs and etc-hosts.", l...),
		request: desc("pod", "request_bytes", "The pod's effective ephemeral-storage request.", l...),
		limit:   desc("pod", "limit_bytes", "The pod's effective ephemeral-storage limit, as the kubelet computes it (PodLimits).", l...),
		ratio:   desc("pod", "limit_ratio", "Pod usage over its ephemeral-storage limit; the kubelet evicts the pod when it is above 1.", l...),
		info:    desc("pod", "info", "The pod's owning workload.", append(l, "workload_kind", "workload")...),
	}
}

func (d podDescs) all() []*prometheus.Desc {
	return []*prometheus.Desc{d.usage, d.request, d.limit, d.ratio, d.info}
}

func (d podDescs) collect(ch chan<- prometheus.Metric, node string, pod *model.Pod) {
	gauge(ch, d.usage, pod.Usage, node, pod.Namespace, pod.Name)
	gauge(ch, d.request, pod.Request, node, pod.Namespace, pod.Name)
	gauge(ch, d.limit, pod.Limit, node, pod.Namespace, pod.Name)
	gauge(ch, d.ratio, pod.Ratio, node, pod.Namespace, pod.Name)
	if pod.WorkloadKind != "" {
		ch <- prometheus.MustNewConstMetric(d.info, prometheus.GaugeValue, 1, node, pod.Namespace, pod.Name, pod.WorkloadKind, pod.Workload)
	}
}
