package scale

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/rest"
)

// APIMetrics is what the API server says about itself (its /metrics), reduced to the series the
// scale curves need, keyed by resource or "VERB resource".
type APIMetrics struct {
	WatchEvents    map[string]float64 // apiserver_watch_events_total, by resource
	WatchBytes     map[string]float64 // apiserver_watch_events_sizes_sum, by resource
	Requests       map[string]float64 // apiserver_request_total, by "VERB resource"
	LatencySum     map[string]float64 // apiserver_request_duration_seconds_sum, by "VERB resource"
	LatencyCount   map[string]float64
	ResponseBytes  map[string]float64 // apiserver_response_sizes_sum, by "VERB resource"
	Watchers       map[string]float64 // apiserver_longrunning_requests{verb="WATCH"}, by resource
	ProcessCPU     float64            // process_cpu_seconds_total
	ProcessRSS     float64            // process_resident_memory_bytes
	DispatchedWCac map[string]float64 // apiserver_watch_cache_events_dispatched_total, by resource
}

// ScrapeAPIServer reads the API server's /metrics with cfg's credentials.
func ScrapeAPIServer(ctx context.Context, cfg *rest.Config) (*APIMetrics, error) {
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("API server /metrics: %s", resp.Status)
	}
	return ParseAPIMetrics(io.LimitReader(resp.Body, 256<<20))
}

// ParseAPIMetrics reduces a text exposition.
func ParseAPIMetrics(r io.Reader) (*APIMetrics, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	m := &APIMetrics{WatchEvents: map[string]float64{}, WatchBytes: map[string]float64{}, Requests: map[string]float64{},
		LatencySum: map[string]float64{}, LatencyCount: map[string]float64{}, ResponseBytes: map[string]float64{},
		Watchers: map[string]float64{}, DispatchedWCac: map[string]float64{}}
	each := func(name string, f func(labels map[string]string, metric *dto.Metric)) {
		fam := families[name]
		if fam == nil {
			return
		}
		for _, metric := range fam.GetMetric() {
			labels := map[string]string{}
			for _, l := range metric.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			f(labels, metric)
		}
	}
	resourceOf := func(l map[string]string) string {
		if r := l["resource"]; r != "" {
			return r
		}
		return strings.ToLower(l["kind"]) // older servers label watch events by kind
	}
	verbResource := func(l map[string]string) string {
		r := l["resource"]
		if s := l["subresource"]; s != "" {
			r += "/" + s
		}
		return l["verb"] + " " + r
	}
	each("apiserver_watch_events_total", func(l map[string]string, x *dto.Metric) { m.WatchEvents[resourceOf(l)] += x.GetCounter().GetValue() })
	each("apiserver_watch_events_sizes", func(l map[string]string, x *dto.Metric) {
		m.WatchBytes[resourceOf(l)] += x.GetHistogram().GetSampleSum()
	})
	each("apiserver_request_total", func(l map[string]string, x *dto.Metric) { m.Requests[verbResource(l)] += x.GetCounter().GetValue() })
	each("apiserver_request_duration_seconds", func(l map[string]string, x *dto.Metric) {
		m.LatencySum[verbResource(l)] += x.GetHistogram().GetSampleSum()
		m.LatencyCount[verbResource(l)] += float64(x.GetHistogram().GetSampleCount())
	})
	each("apiserver_response_sizes", func(l map[string]string, x *dto.Metric) {
		m.ResponseBytes[verbResource(l)] += x.GetHistogram().GetSampleSum()
	})
	each("apiserver_longrunning_requests", func(l map[string]string, x *dto.Metric) {
		if l["verb"] == "WATCH" {
			m.Watchers[l["resource"]] += x.GetGauge().GetValue()
		}
	})
	each("apiserver_watch_cache_events_dispatched_total", func(l map[string]string, x *dto.Metric) { m.DispatchedWCac[resourceOf(l)] += x.GetCounter().GetValue() })
	each("process_cpu_seconds_total", func(_ map[string]string, x *dto.Metric) { m.ProcessCPU = x.GetCounter().GetValue() })
	each("process_resident_memory_bytes", func(_ map[string]string, x *dto.Metric) { m.ProcessRSS = x.GetGauge().GetValue() })
	return m, nil
}

// Delta is b - a for the counters (gauges are b's).
func (a *APIMetrics) Delta(b *APIMetrics) *APIMetrics {
	sub := func(x, y map[string]float64) map[string]float64 {
		out := map[string]float64{}
		for k, v := range y {
			if d := v - x[k]; d != 0 {
				out[k] = d
			}
		}
		return out
	}
	return &APIMetrics{WatchEvents: sub(a.WatchEvents, b.WatchEvents), WatchBytes: sub(a.WatchBytes, b.WatchBytes),
		Requests: sub(a.Requests, b.Requests), LatencySum: sub(a.LatencySum, b.LatencySum), LatencyCount: sub(a.LatencyCount, b.LatencyCount),
		ResponseBytes: sub(a.ResponseBytes, b.ResponseBytes), Watchers: b.Watchers, ProcessCPU: b.ProcessCPU - a.ProcessCPU,
		ProcessRSS: b.ProcessRSS, DispatchedWCac: sub(a.DispatchedWCac, b.DispatchedWCac)}
}

// Keys of a map, sorted.
func Keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
