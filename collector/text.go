package collector

import (
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

// appendText renders a snapshot in the Prometheus text format, family by family. Each object's
// label set is rendered once and shared by all its families. After each family, flush (if not
// nil) may hand the text so far on and return the buffer to go on with, so that the whole text
// need not be held at once.
func (m *metrics) appendText(buf []byte, snap *model.Snapshot, flush func([]byte) []byte) []byte {
	if flush == nil {
		flush = func(b []byte) []byte { return b }
	}
	node := snap.NodeName
	fsLabelText := m.labelSets.render(len(snap.Node.Filesystems), fsLabels, func(i int) []string { return []string{node, snap.Node.Filesystems[i].Name} })
	for _, x := range m.node.fs {
		buf = flush(appendFamily(buf, flush, x, len(snap.Node.Filesystems), func(i int) *model.Filesystem { return &snap.Node.Filesystems[i] }, fsLabelText))
	}
	signalLabelText := m.labelSets.render(len(snap.Node.Signals), signalLabels, func(i int) []string { return []string{node, snap.Node.Signals[i].Name} })
	for _, x := range m.node.signal {
		buf = flush(appendFamily(buf, flush, x, len(snap.Node.Signals), func(i int) *model.Signal { return &snap.Node.Signals[i] }, signalLabelText))
	}
	nodeLabelText := m.labelSets.render(1, nodeLabels, func(int) []string { return []string{node} })
	for _, x := range m.node.node {
		buf = flush(appendFamily(buf, flush, x, 1, func(int) *model.Node { return &snap.Node }, nodeLabelText))
	}

	pods := snap.Pods
	podLabelText := m.labelSets.render(len(pods), podLabels, func(i int) []string { return podLabelValues(node, &pods[i]) })
	for _, x := range m.pods {
		buf = flush(appendFamily(buf, flush, x, len(pods), func(i int) *model.Pod { return &pods[i] }, podLabelText))
	}

	ranks := podRanks(pods)
	rankLabelText := m.labelSets.render(len(ranks), podRankLabels, func(i int) []string { return podRankLabelValues(node, &ranks[i]) })
	for _, x := range m.podRanks {
		buf = flush(appendFamily(buf, flush, x, len(ranks), func(i int) *podRank { return &ranks[i] }, rankLabelText))
	}

	type ref struct{ pod, item int }
	nc, nv := 0, 0
	for i := range pods {
		nc, nv = nc+len(pods[i].Containers), nv+len(pods[i].Volumes)
	}
	containers, volumes := make([]ref, 0, nc), make([]ref, 0, nv)
	for i := range pods {
		for j := range pods[i].Containers {
			containers = append(containers, ref{i, j})
		}
		for j := range pods[i].Volumes {
			volumes = append(volumes, ref{i, j})
		}
	}
	containerAt := func(i int) *model.Container { r := containers[i]; return &pods[r.pod].Containers[r.item] }
	containerLabelText := m.labelSets.render(len(containers), containerLabels, func(i int) []string {
		return containerLabelValues(node, &pods[containers[i].pod], containerAt(i))
	})
	for _, x := range m.containers {
		buf = flush(appendFamily(buf, flush, x, len(containers), containerAt, containerLabelText))
	}
	volumeAt := func(i int) *model.Volume { r := volumes[i]; return &pods[r.pod].Volumes[r.item] }
	volumeLabelText := m.labelSets.render(len(volumes), volumeLabels, func(i int) []string {
		return volumeLabelValues(node, &pods[volumes[i].pod], volumeAt(i))
	})
	for _, x := range m.volumes {
		buf = flush(appendFamily(buf, flush, x, len(volumes), volumeAt, volumeLabelText))
	}
	return buf
}

// labelSets is an arena for the rendered label sets of one kind of object at a time. It is kept
// across renders, so that once a node's objects stop growing a render allocates no label text.
type labelSets struct {
	arena []byte
	ends  []int
}

// render renders the label sets of n objects, replacing the previous kind's, and returns a lookup
// of object i's rendered set, valid until the next call.
func (s *labelSets) render(n int, names []string, values func(int) []string) func(int) []byte {
	s.arena, s.ends = s.arena[:0], s.ends[:0]
	for i := range n {
		s.arena = appendLabels(s.arena, names, values(i))
		s.ends = append(s.ends, len(s.arena))
	}
	arena, ends := s.arena, s.ends
	return func(i int) []byte {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		return arena[start:ends[i]]
	}
}
