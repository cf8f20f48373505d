package detect

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/label"
)

// metrics are the detector's counters (docs/metrics.md). Labels are bounded: namespaces,
// workloads, container and volume names of the node's pod specs, and closed sets; never pod
// names, messages or paths, which go to the log line instead.
type metrics struct {
	evictions  *counter
	nodeEvents *counter
	readOnly   *counter
}

func newMetrics(node string) *metrics {
	constLabels := prometheus.Labels{"node": node}
	return &metrics{
		evictions: newCounter(prometheus.CounterOpts{
			Name: "ephemeral_storage_evictions_total", ConstLabels: constLabels,
			Help: "Pods evicted by the kubelet, counted once per pod, by cause.",
		}, "namespace", "workload_kind", "workload", "cause", "volume", "container", "resource"),
		nodeEvents: newCounter(prometheus.CounterOpts{
			Name: "ephemeral_storage_node_eviction_events_total", ConstLabels: constLabels,
			Help: "Node events EvictionThresholdMet and NodeHasDiskPressure for this node.",
		}, "reason"),
		readOnly: newCounter(prometheus.CounterOpts{
			Name: "ephemeral_storage_read_only_write_failures_total", ConstLabels: constLabels,
			Help: "Writes that failed with Read-only file system (EROFS), by where they were seen.",
		}, "namespace", "workload_kind", "workload", "container", "source"),
	}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.evictions.vec.Describe(ch)
	m.nodeEvents.vec.Describe(ch)
	m.readOnly.vec.Describe(ch)
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.evictions.vec.Collect(ch)
	m.nodeEvents.vec.Collect(ch)
	m.readOnly.vec.Collect(ch)
}

// counter is a CounterVec whose label values are made safe in one place (label.Value: valid
// UTF-8, bounded), so that no input reaches WithLabelValues, which panics on invalid UTF-8, and
// which remembers the pods behind each series so that a series can go when its pods are gone.
// Callers hold the detector's lock.
type counter struct {
	vec    *prometheus.CounterVec
	series map[string]*series
}

type series struct {
	values []string
	pods   map[types.UID]struct{}
}

func newCounter(opts prometheus.CounterOpts, labels ...string) *counter {
	return &counter{vec: prometheus.NewCounterVec(opts, labels), series: map[string]*series{}}
}

// add adds n to the series of values, on behalf of pod (empty for series about the node).
func (c *counter) add(pod types.UID, n float64, values ...string) {
	values = label.Values(values)
	m, err := c.vec.GetMetricWithLabelValues(values...)
	if err != nil { // cannot happen with safe values and the right count; never panic on input
		return
	}
	m.Add(n)
	key := strings.Join(values, "\xff")
	s := c.series[key]
	if s == nil {
		s = &series{values: values, pods: map[types.UID]struct{}{}}
		c.series[key] = s
	}
	if pod != "" {
		s.pods[pod] = struct{}{}
	}
}

// prune deletes the series whose pods are all forgotten (known reports false for each). Series
// about the node itself (no pod) stay.
func (c *counter) prune(known func(types.UID) bool) {
	for key, s := range c.series {
		if len(s.pods) == 0 {
			continue
		}
		for uid := range s.pods {
			if !known(uid) {
				delete(s.pods, uid)
			}
		}
		if len(s.pods) == 0 {
			c.vec.DeleteLabelValues(s.values...)
			delete(c.series, key)
		}
	}
}
