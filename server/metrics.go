package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// Rendered is a pre-rendered part of the exposition: the storage series of the latest snapshot.
type Rendered interface {
	Render() (text, gz []byte, err error)
}

// metricsHandler serves the live registry (self-metrics, build info, counters: small, gathered
// per scrape) followed by the pre-rendered storage series (large, rendered once per snapshot).
// Both parts are in the text format; gzip members may be concatenated (RFC 1952), so the cached
// gzip of the storage part is sent as is.
type metricsHandler struct {
	live      prometheus.Gatherer
	storage   Rendered
	refresher Refresher
	inFlight  chan struct{}
	timeout   time.Duration
	logger    *slog.Logger
}

var textFormat = expfmt.NewFormat(expfmt.TypeTextPlain)

func (h *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.inFlight != nil {
		select {
		case h.inFlight <- struct{}{}:
			defer func() { <-h.inFlight }()
		default:
			http.Error(w, "too many concurrent scrapes", http.StatusServiceUnavailable)
			return
		}
	}
	ctx := r.Context()
	if h.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	h.refresher.Refresh(ctx)

	var live bytes.Buffer
	families, err := h.live.Gather()
	if err != nil {
		h.logger.Error("gathering self-metrics", "err", err) // serve what was gathered
	}
	enc := expfmt.NewEncoder(&live, textFormat)
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			h.logger.Error("encoding self-metrics", "err", err)
		}
	}
	text, gz, err := h.storage.Render()
	if err != nil {
		h.logger.Error("rendering storage metrics", "err", err)
	}

	w.Header().Set("Content-Type", string(textFormat))
	if !acceptsGzip(r) {
		_, _ = w.Write(live.Bytes())
		_, _ = w.Write(text)
		return
	}
	w.Header().Set("Content-Encoding", "gzip")
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	_, _ = zw.Write(live.Bytes())
	if err := zw.Close(); err != nil {
		return
	}
	_, _ = w.Write(gz)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		if strings.TrimSpace(strings.SplitN(part, ";", 2)[0]) == "gzip" {
			return true
		}
	}
	return false
}
