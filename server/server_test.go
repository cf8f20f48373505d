package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type countingRefresher struct{ n atomic.Int64 }

type fixedRendered struct{ text []byte }

func (f fixedRendered) Render() ([]byte, []byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(f.text)
	_ = zw.Close()
	return f.text, buf.Bytes(), nil
}

const storageText = "# HELP ephemeral_storage_pod_usage_bytes u\n# TYPE ephemeral_storage_pod_usage_bytes gauge\nephemeral_storage_pod_usage_bytes{pod=\"p\"} 42\n"

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
	}}, reg, fixedRendered{[]byte(storageText)}, refresher, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
	assert.Contains(t, body, storageText, "the pre-rendered storage part follows the live part")
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

// A gzip scrape is the live part's gzip member followed by the cached member of the storage part;
// Go's reader, like Prometheus's, reads concatenated members as one stream.
func TestGzipScrapeIsOneStream(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "ephemeral_storage_test", Help: "h"}))
	h, err := Handler(Options{TelemetryPath: "/metrics", Ready: func() error { return nil }}, reg, fixedRendered{[]byte(storageText)},
		&countingRefresher{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, "gzip", rec.Header().Get("Content-Encoding"))
	zr, err := gzip.NewReader(rec.Body)
	require.NoError(t, err)
	body, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Contains(t, string(body), "ephemeral_storage_test 0")
	assert.True(t, strings.HasSuffix(string(body), storageText))
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err, "the concatenation is valid exposition")
	assert.Len(t, families, 2)
}

// blockingRefresher holds a scrape inside the handler until released, and says when one is in.
type blockingRefresher struct{ entered, release chan struct{} }

func (b blockingRefresher) Refresh(context.Context) {
	b.entered <- struct{}{}
	<-b.release
}

func TestTooManyConcurrentScrapes(t *testing.T) {
	block := blockingRefresher{entered: make(chan struct{}, 1), release: make(chan struct{})}
	h, err := Handler(Options{TelemetryPath: "/metrics", MaxRequests: 1, Ready: func() error { return nil }}, prometheus.NewRegistry(),
		fixedRendered{nil}, block, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	first := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		first <- rec.Code
	}()
	<-block.entered // the first scrape holds the only slot

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "a second concurrent scrape is refused at once")
	close(block.release)
	assert.Equal(t, http.StatusOK, <-first)
}
