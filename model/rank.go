package model

import (
	corev1 "k8s.io/api/core/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/accounting"
)

// rankPods gives each pod its place in the kubelet's eviction order for every disk signal the
// node has a hard threshold for. The kubelet ranks its active pods (not finished), with stats
// looked up by UID; a pod without stats ranks first. Pods the kubelet would never evict get no
// rank, and neither do pods of the summary whose spec is unknown.
func rankPods(snap *Snapshot, summary *statsv1alpha1.Summary, pods []*corev1.Pod, index PodIndex, specs *accounting.SpecMemo) {
	if len(snap.Node.Signals) == 0 {
		return
	}
	stats := make(map[string]*statsv1alpha1.PodStats, len(summary.Pods))
	for i := range summary.Pods {
		stats[summary.Pods[i].PodRef.UID] = &summary.Pods[i]
	}
	var input []accounting.RankPod
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		input = append(input, accounting.RankPod{Pod: p, Stats: stats[summaryUID(p)]})
	}
	at := make(map[[2]string]int, len(snap.Pods))
	for i := range snap.Pods {
		at[[2]string{snap.Pods[i].Namespace, snap.Pods[i].Name}] = i
	}
	for _, s := range snap.Node.Signals {
		if !s.Threshold.OK || !rankedApart(s.Name, snap.Node.Layout) {
			continue
		}
		ranks := specs.RankDiskPressure(s.Name, snap.Node.Layout, snap.Node.KubeletVersion, input)
		for i, r := range ranks {
			if r == 0 || input[i].Stats == nil {
				continue
			}
			ref := input[i].Stats.PodRef
			if j, ok := at[[2]string{ref.Namespace, ref.Name}]; ok && snap.Pods[j].UID == ref.UID {
				snap.Pods[j].Ranks = append(snap.Pods[j].Ranks, Rank{Signal: s.Name, Rank: r})
			}
		}
	}
}

// rankedApart reports whether a signal's ranking can differ from the nodefs signal of the same
// kind (buildSignalToRankFunc): containerfs signals always rank as nodefs's (one filesystem,
// split) or imagefs's (dedicated); imagefs signals rank as nodefs's on one filesystem and tie
// every pod on a split one (they measure nothing of the pods). Those get no series of their own.
func rankedApart(signal string, layout accounting.FsLayout) bool {
	switch signalFilesystem(signal) {
	case FsNode:
		return true
	case FsImage:
		return layout.DedicatedImageFs && !layout.SplitContainerFs
	}
	return false
}

// summaryUID is the UID the summary knows a pod by: the kubelet's own for a static pod, which
// its mirror carries in an annotation.
func summaryUID(p *corev1.Pod) string {
	if uid := p.Annotations["kubernetes.io/config.mirror"]; uid != "" {
		return uid
	}
	return string(p.UID)
}
