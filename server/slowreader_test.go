package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil"
)

// Clients that request the uncompressed exposition and never read must not starve scrapers: the
// issue's case was 45 of them against --web.max-requests=40 holding every slot for the 60 s write
// timeout. Measured over loopback with the real server:
//
//	go test -run TestSlowReadersDoNotStarveScrapers -v ./server
//
// logs how long a normal scrape took while the stalled clients were connected and how long the
// stalled responses lived.
func TestSlowReadersDoNotStarveScrapers(t *testing.T) {
	const (
		maxRequests = 40
		stalled     = 45
		writeStall  = 5 * time.Second // long enough for all of them to start on a loaded machine
	)
	storage := bigStorageText(110_000) // about 8 MB, like 1,500 pods uncompressed
	t.Logf("storage part: %d bytes", len(storage))
	h := newMetricsHandler(Options{MaxRequests: maxRequests, WriteStall: writeStall}, prometheus.NewRegistry(),
		rendered(storage), &countingRefresher{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	addr := testutil.FreeAddr(t)
	systemd, config := false, ""
	flags := &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: &systemd, WebConfigFile: &config}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ListenAndServe(ctx, h, flags, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	defer func() { cancel(); assert.NoError(t, <-done) }()
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)

	// Each stalled client shrinks its receive buffer before connecting, so the server's writes
	// block as they would against a client whose kernel buffers are full.
	dialer := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
	conns := make([]net.Conn, 0, stalled)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < stalled; i++ {
		c, err := dialer.Dial("tcp", addr)
		require.NoError(t, err)
		conns = append(conns, c)
		_, err = fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		require.NoError(t, err)
	}
	// As many stalled responses at once as there are slots: the old handler held every slot then.
	require.Eventually(t, func() bool { return h.writing.Load() >= maxRequests }, 20*time.Second, 10*time.Millisecond,
		"stalled responses started")

	start := time.Now()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true}}
	resp, err := client.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	took := time.Since(start)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a scraper is served while %d clients stall", stalled)
	assert.Equal(t, len(storage), len(body), "the whole exposition (the live part of an empty registry is empty)")
	t.Logf("scrape with %d stalled clients: status %d, %d bytes in %v", stalled, resp.StatusCode, len(body), took)

	// The stalled responses end at the write stall, not at the 60 s write timeout.
	require.Eventually(t, func() bool { return h.writing.Load() == 0 }, 3*writeStall+5*time.Second, 20*time.Millisecond,
		"stalled responses are dropped after the write stall")
	t.Logf("stalled responses all ended %v after the scrape started (write stall %v)", time.Since(start), writeStall)
}
