package collector

import (
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

var podLabels = []string{"node", "namespace", "pod"}

func newPodMetrics() []*metric[model.Pod] {
	l := podLabels
	return []*metric[model.Pod]{
		newMetric("pod", "usage_bytes", "The pod's local ephemeral storage usage: containers' rootfs and logs, disk-backed emptyDirs, configMaps, pod logs and etc-hosts.", l,
			func(p *model.Pod) model.Opt { return p.Usage }),
		newMetric("pod", "request_bytes", "The pod's effective ephemeral-storage request.", l,
			func(p *model.Pod) model.Opt { return p.Request }),
		newMetric("pod", "limit_bytes", "The pod's effective ephemeral-storage limit, as the kubelet computes it (PodLimits).", l,
			func(p *model.Pod) model.Opt { return p.Limit }),
		newMetric("pod", "limit_ratio", "Pod usage over its ephemeral-storage limit; the kubelet evicts the pod when it is above 1.", l,
			func(p *model.Pod) model.Opt { return p.Ratio }),
		newMetric("pod", "evictable", "0 for a critical pod the kubelet never evicts (static, mirror, system-node-critical or system-cluster-critical priority), 1 otherwise.", l,
			func(p *model.Pod) model.Opt { return p.Evictable }),
		newInfo("pod", "info", "The pod's owning workload.", append(l[:len(l):len(l)], "workload_kind", "workload"),
			func(p *model.Pod) bool { return p.WorkloadKind != "" },
			func(p *model.Pod) []string { return []string{p.WorkloadKind, p.Workload} }),
	}
}

func podLabelValues(node string, pod *model.Pod) []string {
	return []string{node, pod.Namespace, pod.Name}
}

var podRankLabels = []string{"node", "namespace", "pod", "signal"}

// podRank is one pod's place in the eviction order of one signal.
type podRank struct {
	pod  *model.Pod
	rank model.Rank
}

func newPodRankMetrics() []*metric[podRank] {
	return []*metric[podRank]{
		newMetric("pod", "eviction_rank", "The pod's place in the order the kubelet evicts pods in when the signal's threshold is met (1 goes first; ties share a rank).", podRankLabels,
			func(r *podRank) model.Opt { return model.Some(float64(r.rank.Rank)) }),
	}
}

func podRanks(pods []model.Pod) []podRank {
	var out []podRank
	for i := range pods {
		for _, r := range pods[i].Ranks {
			out = append(out, podRank{pod: &pods[i], rank: r})
		}
	}
	return out
}

func podRankLabelValues(node string, r *podRank) []string {
	return []string{node, r.pod.Namespace, r.pod.Name, r.rank.Signal}
}
