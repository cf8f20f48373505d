package detect

import "github.com/prometheus/client_golang/prometheus"

// metrics are the detector's counters (docs/metrics.md). Labels are bounded: namespaces,
// workloads, container and volume names of the node's pod specs, and closed sets; never pod
// names, messages or paths, which go to the log line instead.
type metrics struct {
	evictions  *prometheus.CounterVec
	nodeEvents *prometheus.CounterVec
	readOnly   *prometheus.CounterVec
}

func newMetrics(node string) *metrics {
	constLabels := prometheus.Labels{"node": node}
	return &metrics{
		evictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ephemeral_storage_evictions_total", ConstLabels: constLabels,
			Help: "Pods evicted by the kubelet, counted once per pod, by cause.",
		}, []string{"namespace", "workload_kind", "workload", "cause", "volume", "container", "resource"}),
		nodeEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ephemeral_storage_node_eviction_events_total", ConstLabels: constLabels,
			Help: "Node events EvictionThresholdMet and NodeHasDiskPressure for this node.",
		}, []string{"reason"}),
		readOnly: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ephemeral_storage_read_only_write_failures_total", ConstLabels: constLabels,
			Help: "Writes that failed with Read-only file system (EROFS), by where they were seen.",
		}, []string{"namespace", "workload_kind", "workload", "container", "source"}),
	}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.evictions.Describe(ch)
	m.nodeEvents.Describe(ch)
	m.readOnly.Describe(ch)
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.evictions.Collect(ch)
	m.nodeEvents.Collect(ch)
	m.readOnly.Collect(ch)
}
