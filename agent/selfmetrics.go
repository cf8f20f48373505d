package agent

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/kubelet"
)

// selfMetrics say whether the kubelet is readable and how old the exported data is.
type selfMetrics struct {
	up          prometheus.Gauge
	requests    prometheus.Counter
	errors      *prometheus.CounterVec
	duration    prometheus.Histogram
	lastSuccess prometheus.Gauge
	unmatched   prometheus.Gauge
	dataAgeDesc *prometheus.Desc
	node        string
	dataAge     func() (float64, bool)
}

func newSelfMetrics(node string, dataAge func() (float64, bool)) *selfMetrics {
	labels := prometheus.Labels{"node": node}
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "ephemeral_storage", Subsystem: "exporter", Name: name, Help: help, ConstLabels: labels}
	}
	m := &selfMetrics{
		up:       prometheus.NewGauge(prometheus.GaugeOpts(opts("kubelet_up", "1 when the last kubelet summary fetch succeeded."))),
		requests: prometheus.NewCounter(prometheus.CounterOpts(opts("kubelet_requests_total", "Summary requests sent to the kubelet."))),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts(opts("kubelet_errors_total",
			"Failed summary requests by kind: timeout, connection, tls, auth, http_status, too_large, decode.")), []string{"kind"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "ephemeral_storage", Subsystem: "exporter", Name: "kubelet_request_duration_seconds",
			Help: "Duration of summary requests, decoding included.", ConstLabels: labels,
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts(opts("last_success_timestamp_seconds", "Unix time of the last successful summary fetch."))),
		unmatched: prometheus.NewGauge(prometheus.GaugeOpts(opts("pods_unmatched",
			"Pods in the summary with no pod spec in the agent's view: usage is exported, limits and ratios are not."))),
		dataAgeDesc: prometheus.NewDesc("ephemeral_storage_exporter_data_age_seconds",
			"Age of the summary the storage series come from; they are dropped past --kubelet.max-staleness.", nil, labels),
		node:    node,
		dataAge: dataAge,
	}
	for _, kind := range kubelet.ErrorKinds {
		m.errors.WithLabelValues(string(kind))
	}
	return m
}

func (m *selfMetrics) succeeded(at time.Time, unmatched int) {
	m.up.Set(1)
	m.lastSuccess.Set(float64(at.UnixNano()) / 1e9)
	m.unmatched.Set(float64(unmatched))
}

func (m *selfMetrics) failed(kind kubelet.ErrorKind) {
	m.up.Set(0)
	m.errors.WithLabelValues(string(kind)).Inc()
}

// Describe implements prometheus.Collector.
func (m *selfMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
	ch <- m.dataAgeDesc
}

// Collect implements prometheus.Collector.
func (m *selfMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
	if age, ok := m.dataAge(); ok {
		ch <- prometheus.MustNewConstMetric(m.dataAgeDesc, prometheus.GaugeValue, age)
	}
}

func (m *selfMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.up, m.requests, m.errors, m.duration, m.lastSuccess, m.unmatched}
}
