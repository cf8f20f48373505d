package collector

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
)

// InformerSynced reports, per watched resource, whether its initial list has completed.
type InformerSynced struct {
	desc   *prometheus.Desc
	node   string
	synced map[string]func() bool
}

var _ prometheus.Collector = (*InformerSynced)(nil)

// NewInformerSynced reports synced[resource]() for each resource.
func NewInformerSynced(node string, synced map[string]func() bool) *InformerSynced {
	return &InformerSynced{
		desc:   prometheus.NewDesc("ephemeral_storage_exporter_informer_synced", "1 once the watch of resource has synced.", []string{"node", "resource"}, nil),
		node:   node,
		synced: synced,
	}
}

// Describe implements prometheus.Collector.
func (c *InformerSynced) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *InformerSynced) Collect(ch chan<- prometheus.Metric) {
	resources := make([]string, 0, len(c.synced))
	for r := range c.synced {
		resources = append(resources, r)
	}
	sort.Strings(resources)
	for _, r := range resources {
		v := 0.0
		if c.synced[r]() {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, c.node, r)
	}
}
