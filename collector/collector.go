// Package collector renders model snapshots as Prometheus metrics. Descriptors are built once;
// every scrape emits const metrics from the latest snapshot, one file per part of the snapshot.
// docs/metrics.md documents every name here, and a test keeps the two in sync.
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

// Storage exports the usage, limits and ratios of a snapshot.
type Storage struct {
	source     SnapshotSource
	containers containerDescs
	pods       podDescs
	volumes    volumeDescs
	node       nodeDescs
}

var _ prometheus.Collector = (*Storage)(nil)

// NewStorage returns a collector of the snapshots source hands out.
func NewStorage(source SnapshotSource) *Storage {
	return &Storage{
		source:     source,
		containers: newContainerDescs(),
		pods:       newPodDescs(),
		volumes:    newVolumeDescs(),
		node:       newNodeDescs(),
	}
}

// Describe implements prometheus.Collector.
func (c *Storage) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
}

func (c *Storage) descs() []*prometheus.Desc {
	var all []*prometheus.Desc
	all = append(all, c.containers.all()...)
	all = append(all, c.pods.all()...)
	all = append(all, c.volumes.all()...)
	return append(all, c.node.all()...)
}

// Collect implements prometheus.Collector.
func (c *Storage) Collect(ch chan<- prometheus.Metric) {
	snap := c.source.Snapshot()
	if snap == nil {
		return
	}
	c.node.collect(ch, snap)
	for i := range snap.Pods {
		pod := &snap.Pods[i]
		c.pods.collect(ch, snap.NodeName, pod)
		for j := range pod.Containers {
			c.containers.collect(ch, snap.NodeName, pod, &pod.Containers[j])
		}
		for j := range pod.Volumes {
			c.volumes.collect(ch, snap.NodeName, pod, &pod.Volumes[j])
		}
	}
}

func desc(subsystem, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, labels, nil)
}

// gauge emits v when it is known: an unknown number is no series, never a zero.
func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v model.Opt, labels ...string) {
	if v.OK {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v.Value, labels...)
	}
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
