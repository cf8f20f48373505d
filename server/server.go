// Package server assembles the agent's HTTP endpoints: /metrics served the Prometheus way from the
// latest snapshot, /healthz, /readyz and the landing page.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"
)

// Refresher brings the snapshot up to date before a scrape is gathered, so that every series of
// one scrape, self-metrics included, describes the same fetch.
type Refresher interface {
	Refresh(ctx context.Context)
}

// Options configure the endpoints.
type Options struct {
	TelemetryPath string
	// MaxRequests bounds concurrent scrapes (promhttp MaxRequestsInFlight); more get 503.
	MaxRequests int
	// Timeout bounds one scrape; it should exceed the kubelet timeout.
	Timeout time.Duration
	// WriteStall bounds how long one chunk of a response may wait for the client to read;
	// 0 means DefaultWriteStall.
	WriteStall time.Duration
	Version    string
	// Ready reports nil once the agent can serve meaningful data.
	Ready func() error
}

// DefaultWriteStall is long enough for any scraper that reads (a chunk is 256 KiB), short enough
// that clients which never read are dropped well before the write timeout.
const DefaultWriteStall = 10 * time.Second

// Handler returns the agent's HTTP handler. /metrics serves live (gathered per scrape) followed
// by storage (rendered once per snapshot); refresher runs first.
func Handler(opts Options, live prometheus.Gatherer, storage Rendered, refresher Refresher, logger *slog.Logger) (http.Handler, error) {
	mux := http.NewServeMux()
	metrics := newMetricsHandler(opts, live, storage, refresher, logger)
	mux.Handle(opts.TelemetryPath, metrics)
	registerProbes(mux, opts.Ready)
	if opts.TelemetryPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "ephemeral-storage-exporter",
			Description: "Local ephemeral storage usage against the limits the kubelet evicts on",
			Version:     opts.Version,
			Links: []web.LandingLinks{
				{Address: opts.TelemetryPath, Text: "Metrics"},
				{Address: "/healthz", Text: "Health"},
				{Address: "/readyz", Text: "Readiness"},
			},
		})
		if err != nil {
			return nil, err
		}
		mux.Handle("/", landing)
	}
	return mux, nil
}

func newMetricsHandler(opts Options, live prometheus.Gatherer, storage Rendered, refresher Refresher, logger *slog.Logger) *metricsHandler {
	h := &metricsHandler{live: live, storage: storage, refresher: refresher, timeout: opts.Timeout,
		writeStall: opts.WriteStall, logger: logger}
	if h.writeStall <= 0 {
		h.writeStall = DefaultWriteStall
	}
	if opts.MaxRequests > 0 {
		h.inFlight = make(chan struct{}, opts.MaxRequests)
	}
	return h
}

// ProbeHandler serves /healthz and /readyz only, for a listener of their own: the main listener
// applies --web.config.file (TLS, basic auth) to every path, and the kubelet's probes carry no
// credentials. Neither path says more than whether the agent is up and has read a summary.
func ProbeHandler(ready func() error) http.Handler {
	mux := http.NewServeMux()
	registerProbes(mux, ready)
	return mux
}

func registerProbes(mux *http.ServeMux, ready func() error) {
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", err)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}
