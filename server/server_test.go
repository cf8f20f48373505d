package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type countingRefresher struct{ n atomic.Int64 }

// fixedRendered is a storage part and its gzip member, compressed once as the collector does.
type fixedRendered struct{ text, gz []byte }

func rendered(text []byte) fixedRendered {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	_, _ = zw.Write(text)
	_ = zw.Close()
	return fixedRendered{text: text, gz: buf.Bytes()}
}

func (f fixedRendered) Compressed() ([]byte, int, error) { return f.gz, len(f.text), nil }
func (f fixedRendered) Text() ([]byte, error)            { return f.text, nil }

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
	}}, reg, rendered([]byte(storageText)), refresher, slog.New(slog.NewTextHandler(io.Discard, nil)))
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

// A gzip scrape is ONE gzip member holding the storage part then the live part: Go's reader in
// single-member mode (as curl --compressed reads), gzip -d and the exposition parser all see every
// series, and the same bytes as the uncompressed scrape.
func TestGzipScrapeIsOneMember(t *testing.T) {
	big := bigStorageText(2000) // past the deflate window and several flate blocks
	tests := []struct {
		name       string
		storage    []byte
		liveSeries int // beyond one gauge; 6000 make a live part of several stored blocks
	}{
		{name: "small storage part", storage: []byte(storageText)},
		{name: "large storage part", storage: big},
		{name: "empty storage part", storage: []byte{}},
		{name: "live part over 64 KiB", storage: big, liveSeries: 6000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "ephemeral_storage_test", Help: "h"}))
			if tt.liveSeries > 0 {
				vec := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ephemeral_storage_live", Help: "h"}, []string{"i"})
				reg.MustRegister(vec)
				for i := range tt.liveSeries {
					vec.WithLabelValues(strconv.Itoa(i)).Set(float64(i))
				}
			}
			h, err := Handler(Options{TelemetryPath: "/metrics", Ready: func() error { return nil }}, reg, rendered(tt.storage),
				&countingRefresher{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			require.NoError(t, err)
			scrape := func(encoding string) *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Accept-Encoding", encoding)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				require.Equal(t, http.StatusOK, rec.Code)
				return rec
			}
			plain := scrape("identity").Body.Bytes()
			if tt.liveSeries > 0 {
				require.Greater(t, len(plain)-len(tt.storage), 2*maxStoredBlock, "the live part spans several stored blocks")
			}
			for i := 0; i < 2; i++ { // the second scrape reuses the cached storage deflate
				rec := scrape("gzip, deflate")
				require.Equal(t, "gzip", rec.Header().Get("Content-Encoding"))
				require.Equal(t, strconv.Itoa(rec.Body.Len()), rec.Header().Get("Content-Length"))
				zr, err := gzip.NewReader(bytes.NewReader(rec.Body.Bytes()))
				require.NoError(t, err)
				zr.Multistream(false)
				first, err := io.ReadAll(zr)
				require.NoError(t, err, "checksum and length of the member are right")
				require.Equal(t, string(plain), string(first), "the first member is the whole exposition")
				assert.Zero(t, zrRemaining(t, rec.Body.Bytes()), "nothing follows the member")
				assert.True(t, bytes.HasSuffix(first, tt.storage), "storage last")
				assert.True(t, bytes.HasPrefix(first, []byte("# HELP ephemeral_storage_")), "live first")
				if _, err := exec.LookPath("gzip"); err == nil {
					cmd := exec.Command("gzip", "-d", "-c")
					cmd.Stdin = bytes.NewReader(rec.Body.Bytes())
					out, err := cmd.Output()
					require.NoError(t, err, "gzip -d reads it without a warning exit")
					assert.Equal(t, string(plain), string(out))
				}
				parser := expfmt.NewTextParser(model.LegacyValidation)
				families, err := parser.TextToMetricFamilies(bytes.NewReader(first))
				require.NoError(t, err)
				assert.Contains(t, families, "ephemeral_storage_test")
				if len(tt.storage) > 0 {
					assert.Contains(t, families, "ephemeral_storage_pod_usage_bytes")
				}
			}
		})
	}
}

// Without a usable cached member (none, or not a member of the text) the scrape is answered
// uncompressed, never with a broken stream.
func TestGzipScrapeWithoutUsableMember(t *testing.T) {
	good := rendered([]byte(storageText))
	tests := []struct {
		name string
		gz   []byte
	}{
		{name: "no member", gz: nil},
		{name: "member of other text", gz: rendered([]byte(storageText + "x 1\n")).gz},
		{name: "truncated member", gz: good.gz[:12]},
		{name: "not gzip", gz: []byte(storageText)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Handler(Options{TelemetryPath: "/metrics", Ready: func() error { return nil }}, prometheus.NewRegistry(),
				fixedRendered{text: good.text, gz: tt.gz}, &countingRefresher{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			require.NoError(t, err)
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Empty(t, rec.Header().Get("Content-Encoding"))
			assert.Equal(t, storageText, rec.Body.String())
		})
	}
}

// crc32Combine equals hashing the concatenation, for lengths around its bit tricks.
func TestCRC32Combine(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 8, 255, 256, 65535, 65536, 1 << 20, 1<<20 + 3} {
		a, b := bytes.Repeat([]byte("live part\n"), 37), make([]byte, n)
		for i := range b {
			b[i] = byte(i*7919 + i>>8)
		}
		want := crc32.ChecksumIEEE(append(append([]byte{}, a...), b...))
		assert.Equal(t, want, crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(n)), "len(b)=%d", n)
	}
}

// zrRemaining returns how many bytes follow the first gzip member of b.
func zrRemaining(t *testing.T, b []byte) int {
	t.Helper()
	br := bytes.NewReader(b)
	zr, err := gzip.NewReader(br)
	require.NoError(t, err)
	zr.Multistream(false)
	_, err = io.Copy(io.Discard, zr)
	require.NoError(t, err)
	return br.Len()
}

func bigStorageText(pods int) []byte {
	var b bytes.Buffer
	b.WriteString("# HELP ephemeral_storage_pod_usage_bytes u\n# TYPE ephemeral_storage_pod_usage_bytes gauge\n")
	for i := 0; i < pods; i++ {
		fmt.Fprintf(&b, "ephemeral_storage_pod_usage_bytes{namespace=\"ns-%d\",pod=\"pod-%d-%x\"} %d\n", i%37, i, i*7919, i*104729)
	}
	return b.Bytes()
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
		rendered(nil), block, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	first := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		first <- rec.Code
	}()
	<-block.entered // the first scrape holds the only slot

	// The second scrape runs aside, so that one let in (the limit not enforced) fails the
	// assertion below instead of hanging the test.
	second := make(chan int, 1)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		second <- rec.Code
	}()
	select {
	case code := <-second:
		assert.Equal(t, http.StatusServiceUnavailable, code, "a second concurrent scrape is refused")
	case <-time.After(5 * time.Second):
		t.Error("a second concurrent scrape was let in past --web.max-requests=1 (it is waiting in the refresh)")
	}
	close(block.release)
	assert.Equal(t, http.StatusOK, <-first)
}
