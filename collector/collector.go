// Package collector renders model snapshots as Prometheus metrics. Each metric family is defined
// once (one file per part of the snapshot) and rendered two ways: as const metrics by the Storage
// collector, the reference implementation on client_golang, and as text by Exposition, which
// /metrics serves (see exposition.go for why). A test keeps the two identical, and another keeps
// docs/metrics.md in sync with the names and labels here.
package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/model"
)

const namespace = "ephemeral_storage"

// SnapshotSource hands out the snapshot to expose, or nil when there is none fresh enough.
type SnapshotSource interface {
	Snapshot() *model.Snapshot
}

// SnapshotFunc adapts a function to a SnapshotSource.
type SnapshotFunc func() *model.Snapshot

// Snapshot implements SnapshotSource.
func (f SnapshotFunc) Snapshot() *model.Snapshot { return f() }

// metrics are all storage metric families.
type metrics struct {
	node       nodeMetrics
	pods       []*metric[model.Pod]
	podRanks   []*metric[podRank]
	containers []*metric[model.Container]
	volumes    []*metric[model.Volume]
}

func newMetrics() *metrics {
	return &metrics{node: newNodeMetrics(), pods: newPodMetrics(), podRanks: newPodRankMetrics(), containers: newContainerMetrics(), volumes: newVolumeMetrics()}
}

func (m *metrics) descs() []*prometheus.Desc {
	var all []*prometheus.Desc
	for _, x := range m.node.fs {
		all = append(all, x.desc)
	}
	for _, x := range m.node.signal {
		all = append(all, x.desc)
	}
	for _, x := range m.node.node {
		all = append(all, x.desc)
	}
	for _, x := range m.pods {
		all = append(all, x.desc)
	}
	for _, x := range m.podRanks {
		all = append(all, x.desc)
	}
	for _, x := range m.containers {
		all = append(all, x.desc)
	}
	for _, x := range m.volumes {
		all = append(all, x.desc)
	}
	return all
}

// Storage exports the usage, limits and ratios of a snapshot as const metrics.
type Storage struct {
	source  SnapshotSource
	metrics *metrics
}

var _ prometheus.Collector = (*Storage)(nil)

// NewStorage returns a collector of the snapshots source hands out.
func NewStorage(source SnapshotSource) *Storage {
	return &Storage{source: source, metrics: newMetrics()}
}

// Describe implements prometheus.Collector.
func (c *Storage) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.metrics.descs() {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Storage) Collect(ch chan<- prometheus.Metric) {
	snap := c.source.Snapshot()
	if snap == nil {
		return
	}
	c.metrics.node.collect(ch, snap)
	for i := range snap.Pods {
		pod := &snap.Pods[i]
		collectPod(ch, c.metrics.pods, snap.NodeName, pod)
		collectContainers(ch, c.metrics.containers, snap.NodeName, pod)
		collectVolumes(ch, c.metrics.volumes, snap.NodeName, pod)
	}
	ranks := podRanks(snap.Pods)
	for i := range ranks {
		for _, m := range c.metrics.podRanks {
			m.collect(ch, &ranks[i], podRankLabelValues(snap.NodeName, &ranks[i]))
		}
	}
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
