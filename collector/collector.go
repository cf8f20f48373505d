// Package collector renders model snapshots as the storage series served on /metrics. Each metric
// family is declared once (one file per part of the snapshot) and rendered by Exposition, the one
// product path (see exposition.go for why it writes text). The tests render the same declarations
// through client_golang's const metrics (reference_test.go) and require the same series, and keep
// docs/metrics.md in sync with the names and labels here.
package collector

import (
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

	labelSets labelSets // appendText's scratch: not for concurrent use
}

func newMetrics() *metrics {
	return &metrics{node: newNodeMetrics(), pods: newPodMetrics(), podRanks: newPodRankMetrics(), containers: newContainerMetrics(), volumes: newVolumeMetrics()}
}

// families lists every storage family's declaration, in exposition order.
func (m *metrics) families() []*family {
	var all []*family
	add := func(f *family) { all = append(all, f) }
	for _, x := range m.node.fs {
		add(&x.family)
	}
	for _, x := range m.node.signal {
		add(&x.family)
	}
	for _, x := range m.node.node {
		add(&x.family)
	}
	for _, x := range m.pods {
		add(&x.family)
	}
	for _, x := range m.podRanks {
		add(&x.family)
	}
	for _, x := range m.containers {
		add(&x.family)
	}
	for _, x := range m.volumes {
		add(&x.family)
	}
	return all
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
