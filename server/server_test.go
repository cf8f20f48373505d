package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type countingRefresher struct{ n atomic.Int64 }

func (c *countingRefresher) Refresh(context.Context) { c.n.Add(1) }

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "ephemeral_storage_test", Help: "h"}))
	var ready atomic.Bool
	refresher := &countingRefresher{}
	h, err := Handler(Options{TelemetryPath: "/metrics", MaxRequests: 2, Version: "v0", Ready: func() error {
		if !ready.Load() {
			return errors.New("no kubelet summary read yet")
		}
		return nil
	}}, reg, refresher, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()

	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := get("/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "ephemeral_storage_test 0")
	assert.Equal(t, int64(1), refresher.n.Load(), "a scrape refreshes the snapshot first")

	code, _ = get("/healthz")
	assert.Equal(t, http.StatusOK, code)
	code, body = get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "no kubelet summary")
	ready.Store(true)
	code, _ = get("/readyz")
	assert.Equal(t, http.StatusOK, code)
	code, body = get("/")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "ephemeral-storage-exporter")
}
