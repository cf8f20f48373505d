package main

// Hostile kubelet and HTTP cases against the real binary: a kubelet (or whatever answers at its
// address) that redirects, echoes the credentials it was sent, or sends a body that inflates to
// just under the cap; and scrapers that never read.

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/fakeapi"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/synthetic"
)

// hostileKubelet is a TLS server at the kubelet's address whose answers a test chooses. It
// records every Authorization header it is sent.
type hostileKubelet struct {
	*httptest.Server
	served atomic.Int64
	mu     sync.Mutex
	auth   []string
}

func newHostileKubelet(t *testing.T, h http.HandlerFunc) *hostileKubelet {
	t.Helper()
	k := &hostileKubelet{}
	k.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		k.auth = append(k.auth, r.Header.Get("Authorization"))
		k.mu.Unlock()
		h(w, r)
		k.served.Add(1)
	}))
	t.Cleanup(k.Close)
	return k
}

// hostileSetup is a fake API server for a small node and the agent's flags pointing at kubelet,
// with a random token so that any leak is recognisable.
func hostileSetup(t *testing.T, kubelet *hostileKubelet) (flags []string, token string) {
	t.Helper()
	dir := t.TempDir()
	node := synthetic.Generate(5, 1)
	api := fakeapi.NewServer(node.Pods, node.Node)
	t.Cleanup(api.Close)
	kubeconfig, err := api.Kubeconfig(dir)
	require.NoError(t, err)
	ca := filepath.Join(dir, "kubelet-ca.crt")
	var pemBuf bytes.Buffer
	require.NoError(t, pemEncodeCert(&pemBuf, kubelet.Certificate().Raw))
	require.NoError(t, os.WriteFile(ca, pemBuf.Bytes(), 0o600))
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	token = "tok-" + hex.EncodeToString(raw)
	tokenFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token), 0o600))
	return []string{"--kubeconfig=" + kubeconfig, "--kubelet.url=" + kubelet.URL, "--kubelet.ca-file=" + ca,
		"--kubelet.token-file=" + tokenFile, "--kubelet.min-interval=200ms"}, token
}

// scrapeUntil scrapes (each scrape may start a kubelet fetch) until the kubelet has answered n
// times, and returns the last exposition.
func scrapeUntil(t *testing.T, p *agentProcess, k *hostileKubelet, n int64) string {
	t.Helper()
	var metrics string
	require.Eventually(t, func() bool {
		var code int
		code, metrics = p.get("/metrics")
		return code == http.StatusOK && k.served.Load() >= n
	}, 60*time.Second, 250*time.Millisecond, "the kubelet answered %d times", n)
	return metrics
}

// assertHealthy: the process is alive, and /metrics parses with expfmt and promtool.
func assertHealthy(t *testing.T, p *agentProcess) string {
	t.Helper()
	code, _ := p.get("/healthz")
	require.Equal(t, http.StatusOK, code, "the process is alive")
	code, metrics := p.get("/metrics")
	require.Equal(t, http.StatusOK, code)
	assertExpositionParses(t, metrics)
	return metrics
}

// A redirecting kubelet: the agent follows no redirect, so the target (a second loopback
// server, over plain HTTP) never sees a request, and the token never leaves the configured host.
func TestHostileKubeletRedirect(t *testing.T) {
	var elsewhere atomic.Int64
	var elsewhereAuth atomic.Value
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		elsewhereAuth.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(synthetic.Generate(5, 1).Summary)
	}))
	defer target.Close()
	k := newHostileKubelet(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusFound)
	})
	flags, token := hostileSetup(t, k)
	p := start(t, []string{"NODE_NAME=" + synthetic.NodeName}, flags...)
	scrapeUntil(t, p, k, 3)
	metrics := assertHealthy(t, p)
	assert.Zero(t, elsewhere.Load(), "the redirect target got a request (Authorization %v)", elsewhereAuth.Load())
	v, ok := sample(metrics, `ephemeral_storage_exporter_kubelet_errors_total{kind="http_status",node="`+synthetic.NodeName+`"}`)
	assert.True(t, ok && v >= 1, "the redirect is counted as an http_status error")
	assert.NotContains(t, metrics, "ephemeral_storage_pod_usage_bytes{", "no summary was accepted")
	assert.Contains(t, p.logs(), "not followed")
	assert.NotContains(t, p.logs(), token)
	assert.NotContains(t, metrics, token)
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, a := range k.auth {
		assert.Equal(t, "Bearer "+token, a, "the configured host, and only it, gets the token")
	}
}

// A kubelet error body echoing the request's Authorization header: the token is in no log line.
func TestHostileKubeletEchoesAuthorization(t *testing.T) {
	k := newHostileKubelet(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "upstream failed; request was:\nGET %s\nAuthorization: %s\n{\"headers\":%q}\n", r.URL.Path,
			r.Header.Get("Authorization"), r.Header.Get("Authorization"))
	})
	flags, token := hostileSetup(t, k)
	p := start(t, []string{"NODE_NAME=" + synthetic.NodeName}, flags...)
	scrapeUntil(t, p, k, 2)
	metrics := assertHealthy(t, p)
	assert.NotContains(t, metrics, token)
	require.Contains(t, p.logs(), "status 500", "the failure is logged")
	assert.NotContains(t, p.logs(), token)
	assert.NotContains(t, p.logs(), token[:12], "not even a prefix")
}

// gzipBody compresses body.
func gzipBody(t *testing.T, body []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = zw.Write(body)
	require.NoError(t, zw.Close())
	return b.Bytes()
}

// summaryOfSize is a valid summary of many pods, just under size bytes.
func summaryOfSize(t *testing.T, size int) []byte {
	t.Helper()
	one, err := json.Marshal(synthetic.Generate(100, 7).Summary)
	require.NoError(t, err)
	pods := 100 * size / len(one)
	for {
		b, err := json.Marshal(synthetic.Generate(pods, 7).Summary)
		require.NoError(t, err)
		if len(b) <= size {
			return b
		}
		pods = pods * 97 / 100
	}
}

// The worst bodies the agent accepts (just under the default --kubelet.max-response-size,
// gzipped) keep the process alive and its peak RSS within the chart's memory limit with an eighth
// to spare (peaks vary with load: a 6 MiB cap measured 72.4 MiB alone and 83.5 MiB during a
// parallel `make test`). This is the measurement the default cap and the chart's limit come from:
//
//	go test -run TestKubeletBodyUnderTheCapFitsTheChartLimit -v ./cmd/ephemeral-storage-exporter
func TestKubeletBodyUnderTheCapFitsTheChartLimit(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc")
	}
	capBytes, err := units.ParseBase2Bytes(defaultMaxResponseSize)
	require.NoError(t, err)
	limit := chartMemoryLimit(t)
	size := int(capBytes) - 4096
	head := `{"node":{"nodeName":"` + synthetic.NodeName + `"},"pods":[`
	tests := []struct {
		name string
		body func() []byte
	}{
		{name: "whitespace bomb", body: func() []byte {
			return []byte(head + strings.Repeat(" ", size-len(head)-2) + "]}")
		}},
		{name: "one huge string", body: func() []byte {
			prefix := `{"node":{"nodeName":"` + synthetic.NodeName + `","systemContainers":[{"name":"`
			return []byte(prefix + strings.Repeat("a", size-len(prefix)-5) + `"}]}}`)
		}},
		{name: "many pods", body: func() []byte { return summaryOfSize(t, size) }},
	}
	var worst int64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body()
			require.LessOrEqual(t, len(body), int(capBytes))
			gz := gzipBody(t, body)
			k := newHostileKubelet(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Encoding", "gzip")
				_, _ = w.Write(gz)
			})
			flags, _ := hostileSetup(t, k)
			// As deployed: the chart hands the container's memory limit to the agent (downward
			// API MEMORY_LIMIT), which makes 60 % of it the Go soft memory limit.
			p := startBinary(t, plainBinary, []string{"NODE_NAME=" + synthetic.NodeName, "MEMORY_LIMIT=" + strconv.FormatInt(limit, 10)}, flags...)
			scrapeUntil(t, p, k, 4)
			metrics := assertHealthy(t, p)
			tooLarge := mustSample(t, metrics, `ephemeral_storage_exporter_kubelet_errors_total{kind="too_large"`)
			assert.Zero(t, tooLarge, "a body under the cap is accepted")
			hwm := procStatusBytes(t, p.cmd.Process.Pid, "VmHWM")
			worst = max(worst, hwm)
			t.Logf("%s: %.1f MiB decompressed from %.1f KiB gzip: peak RSS %.1f MiB (chart limit %.0f MiB)",
				tt.name, float64(len(body))/(1<<20), float64(len(gz))/(1<<10), float64(hwm)/(1<<20), float64(limit)/(1<<20))
			assert.LessOrEqual(t, hwm+hwm/8, limit, "peak RSS plus an eighth fits the chart's memory limit")
		})
	}
	t.Logf("worst peak RSS under the %s cap: %.1f MiB; chart limit %.0f MiB", defaultMaxResponseSize,
		float64(worst)/(1<<20), float64(limit)/(1<<20))
}

// Clients that request the uncompressed /metrics of a 1,500-pod node and never read do not
// starve scrapers: 45 of them against the default 40 slots, then a scrape is served.
func TestSlowReadersDoNotStarveScrapes(t *testing.T) {
	node := synthetic.Generate(1500, 1)
	c := newCluster(t, node)
	p := start(t, []string{"NODE_NAME=" + synthetic.NodeName}, c.flags...)
	require.Eventually(t, func() bool { code, _ := p.get("/readyz"); return code == http.StatusOK }, 30*time.Second, 50*time.Millisecond)
	_, full := p.get("/metrics")
	t.Logf("uncompressed /metrics at 1,500 pods: %d bytes", len(full))

	dialer := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) }); err != nil {
			return err
		}
		return serr
	}}
	for range 45 {
		conn, err := dialer.Dial("tcp", p.addr)
		require.NoError(t, err)
		defer conn.Close()
		_, err = fmt.Fprintf(conn, "GET /metrics HTTP/1.1\r\nHost: %s\r\n\r\n", p.addr)
		require.NoError(t, err)
	}
	// Wait until at least 40 responses (the number of slots) are stuck in the agent's socket
	// send queues: before the fix, each held a slot for the 60 s write timeout.
	require.Eventually(t, func() bool { return stuckResponses(t, p.addr) >= 40 }, 30*time.Second, 50*time.Millisecond)
	ok := 0
	for range 5 {
		code, metrics := p.get("/metrics")
		if code == http.StatusOK && strings.Contains(metrics, "ephemeral_storage_pod_usage_bytes{") {
			ok++
		}
	}
	assert.Equal(t, 5, ok, "every scrape is served while 45 clients stall")
	assertHealthy(t, p)
}

// stuckResponses counts the agent's connections on addr with unsent bytes in their send queue
// (/proc/net/tcp: tx_queue of the local socket).
func stuckResponses(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	var portNum int
	_, err = fmt.Sscanf(port, "%d", &portNum)
	require.NoError(t, err)
	table, err := os.ReadFile("/proc/net/tcp")
	require.NoError(t, err)
	local := fmt.Sprintf(":%04X", portNum)
	n := 0
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasSuffix(f[1], local) {
			continue
		}
		if tx, _, ok := strings.Cut(f[4], ":"); ok && strings.Trim(tx, "0") != "" {
			n++
		}
	}
	return n
}

func pemEncodeCert(w *bytes.Buffer, der []byte) error {
	return pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// curl --compressed reads only the first gzip member: the gzip /metrics must be one member that
// holds every series, the same exposition as the uncompressed one.
func TestCurlCompressedReadsEverySeries(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl")
	}
	c := newCluster(t, synthetic.Generate(30, 1))
	p := start(t, []string{"NODE_NAME=" + synthetic.NodeName}, c.flags...)
	require.Eventually(t, func() bool { code, _ := p.get("/readyz"); return code == http.StatusOK }, 20*time.Second, 50*time.Millisecond)
	fetch := func(args ...string) map[string]bool {
		out, err := exec.Command(curl, append([]string{"-sS", "--fail", "--max-time", "10"}, append(args, "http://"+p.addr+"/metrics")...)...).Output()
		require.NoError(t, err)
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(bytes.NewReader(out))
		require.NoError(t, err)
		names := map[string]bool{}
		for name := range families {
			names[name] = true
		}
		return names
	}
	plain, compressed := fetch(), fetch("--compressed")
	assert.True(t, compressed["ephemeral_storage_pod_usage_bytes"], "storage series survive curl --compressed")
	assert.True(t, compressed["ephemeral_storage_exporter_kubelet_up"], "self-metrics too")
	assert.Equal(t, plain, compressed)
}
