package main

// Process tests: the real binary against a fake API server and a fake TLS kubelet, as it runs in a
// cluster but without one.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/fakeapi"
	"github.com/ephemeral-storage-exporter/ephemeral-storage-exporter/testutil/synthetic"
)

// binary is the agent the process tests start: built with -race when the tests run with -race.
// plainBinary is built without: the RSS measurements are of the binary users run (a -race binary
// uses several times the memory).
var binary, plainBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ese-bin")
	if err != nil {
		panic(err)
	}
	plainBinary = filepath.Join(dir, program)
	buildAgent(plainBinary, false)
	binary = plainBinary
	if raceEnabled {
		binary = filepath.Join(dir, program+"-race")
		buildAgent(binary, true)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func buildAgent(out string, race bool) {
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", out}
	cgo := "CGO_ENABLED=0"
	if race {
		args, cgo = append(args, "-race"), "CGO_ENABLED=1" // the race detector needs cgo
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stderr = os.Stderr
	build.Env = append(os.Environ(), cgo)
	if err := build.Run(); err != nil {
		panic(err)
	}
}

type agentProcess struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	log  bytes.Buffer
}

func (p *agentProcess) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func (p *agentProcess) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

// cluster is a fake API server and kubelet for one node, and the flags that point the agent at them.
type cluster struct {
	api     *fakeapi.Server
	kubelet *fakeapi.Kubelet
	flags   []string
}

func newCluster(t *testing.T, node *synthetic.Node) *cluster {
	t.Helper()
	dir := t.TempDir()
	api := fakeapi.NewServer(node.Pods, node.Node)
	t.Cleanup(api.Close)
	kl, err := fakeapi.NewKubelet(node.Summary)
	require.NoError(t, err)
	t.Cleanup(kl.Close)
	kubeconfig, err := api.Kubeconfig(dir)
	require.NoError(t, err)
	ca, err := kl.CAFile(dir)
	require.NoError(t, err)
	token := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(token, []byte("kubelet-token"), 0o600))
	return &cluster{api: api, kubelet: kl, flags: []string{
		"--kubeconfig=" + kubeconfig, "--kubelet.url=" + kl.URL, "--kubelet.ca-file=" + ca,
		"--kubelet.token-file=" + token, "--kubelet.min-interval=200ms",
	}}
}

func start(t *testing.T, env []string, args ...string) *agentProcess {
	t.Helper()
	return startBinary(t, binary, env, args...)
}

// startBinary starts bin; the RSS tests start plainBinary.
func startBinary(t *testing.T, bin string, env []string, args ...string) *agentProcess {
	t.Helper()
	p := &agentProcess{addr: testutil.FreeAddr(t)}
	p.cmd = exec.Command(bin, append(args, "--web.listen-address="+p.addr)...)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	require.NoError(t, p.cmd.Start())
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", p.logs())
		}
	})
	return p
}

func (p *agentProcess) get(path string) (int, string) {
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// mustSample is sample of a series that must exist: a missing series is not 0.
func mustSample(t *testing.T, metrics, prefix string) float64 {
	t.Helper()
	v, found := sample(metrics, prefix)
	require.True(t, found, "no series %s", prefix)
	return v
}

// sample returns the value of the first series whose line starts with prefix.
func sample(metrics, prefix string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(metrics))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix) {
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			return v, err == nil
		}
	}
	return 0, false
}

func TestRefusesToStartWithoutNodeName(t *testing.T) {
	out, err := exec.Command(binary, "--kubeconfig=/nonexistent").CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 1, exit.ExitCode())
	assert.Contains(t, string(out), "--node.name (or NODE_NAME) is required")
}

// TestServesTheNodeFromKubeletAndAPIServer: the agent serves its node; by default it asks the API
// server only node-scoped questions (no Events path at all: the fake records every path), and with
// --events.cluster-watch it watches Events as agents did before the events role.
func TestServesTheNodeFromKubeletAndAPIServer(t *testing.T) {
	nodeScoped := []string{"/api/v1/pods?spec.nodeName=" + synthetic.NodeName, "/api/v1/nodes?metadata.name=" + synthetic.NodeName}
	for _, tc := range []struct {
		name         string
		flags        []string
		selectors    []string
		paths        []string
		eventsSynced bool // the informer_synced series of resource="events" exists (and is 1)
	}{
		{name: "default: no Event watch", selectors: nodeScoped, paths: []string{"/api/v1/pods", "/api/v1/nodes"}},
		{name: "--events.cluster-watch", flags: []string{"--events.cluster-watch"},
			selectors: append(slices.Clone(nodeScoped),
				"/api/v1/events?involvedObject.kind=Node,involvedObject.name="+synthetic.NodeName,
				"/api/v1/events?involvedObject.kind=Pod,reason=Evicted",
				"/api/v1/events?involvedObject.kind=Pod,reason=Failed"),
			paths: []string{"/api/v1/pods", "/api/v1/nodes", "/api/v1/events"}, eventsSynced: true},
		{name: "--events.cluster-watch --no-events.watch-failed", flags: []string{"--events.cluster-watch", "--no-events.watch-failed"},
			selectors: append(slices.Clone(nodeScoped),
				"/api/v1/events?involvedObject.kind=Node,involvedObject.name="+synthetic.NodeName,
				"/api/v1/events?involvedObject.kind=Pod,reason=Evicted"),
			paths: []string{"/api/v1/pods", "/api/v1/nodes", "/api/v1/events"}, eventsSynced: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := synthetic.Generate(30, 1)
			c := newCluster(t, node)
			p := start(t, []string{"NODE_NAME=" + synthetic.NodeName}, append(slices.Clone(c.flags), tc.flags...)...)

			require.Eventually(t, func() bool { code, _ := p.get("/readyz"); return code == http.StatusOK }, 20*time.Second, 50*time.Millisecond)
			require.Eventually(t, func() bool {
				_, metrics := p.get("/metrics")
				return strings.Contains(metrics, "ephemeral_storage_pod_usage_bytes{")
			}, 20*time.Second, 50*time.Millisecond, "the first summary's series")
			code, metrics := p.get("/metrics")
			require.Equal(t, http.StatusOK, code)
			pod := node.Pods[0]
			assert.Contains(t, metrics, fmt.Sprintf(`ephemeral_storage_pod_usage_bytes{node="%s",namespace="%s",pod="%s"`, synthetic.NodeName, pod.Namespace, pod.Name))
			up := mustSample(t, metrics, "ephemeral_storage_exporter_kubelet_up")
			assert.Equal(t, 1.0, up)
			unmatched := mustSample(t, metrics, "ephemeral_storage_exporter_pods_unmatched")
			assert.Equal(t, 0.0, unmatched)
			eventsSeries := `ephemeral_storage_exporter_informer_synced{node="` + synthetic.NodeName + `",resource="events"}`
			if tc.eventsSynced {
				assert.Equal(t, 1.0, mustSample(t, metrics, eventsSeries))
			} else {
				_, found := sample(metrics, eventsSeries)
				assert.False(t, found, "no Event watch, no events series")
			}
			_, ok := c.kubelet.Tokens.Load("kubelet-token")
			assert.True(t, ok, "the kubelet is called with the token file's bearer token")
			assert.ElementsMatch(t, tc.selectors, keys(&c.api.Selectors), "only node-scoped or reason-scoped lists and watches")
			assert.ElementsMatch(t, tc.paths, keys(&c.api.Paths), "every API path the agent asked for")
		})
	}
}

func keys(m *sync.Map) []string {
	var out []string
	m.Range(func(k, _ any) bool { out = append(out, k.(string)); return true })
	return out
}

// An API server that is down at start must not hold back the kubelet-side series; once it is up
// the agent catches up. A watch that expires (410 Gone) is followed by a re-list that brings the
// changes in.
func TestAPIServerDownAtStartThenWatchExpiry(t *testing.T) {
	node := synthetic.Generate(30, 1)
	c := newCluster(t, node)
	c.api.Down.Store(true)
	p := start(t, []string{"NODE_NAME=" + synthetic.NodeName}, c.flags...)

	require.Eventually(t, func() bool {
		_, metrics := p.get("/metrics")
		v, ok := sample(metrics, `ephemeral_storage_node_fs_available_bytes{node="`+synthetic.NodeName+`",fs="nodefs"}`)
		return ok && v > 0
	}, 20*time.Second, 100*time.Millisecond, "node series flow with the API server down")
	_, metrics := p.get("/metrics")
	synced := mustSample(t, metrics, `ephemeral_storage_exporter_informer_synced{node="`+synthetic.NodeName+`",resource="pods"}`)
	assert.Equal(t, 0.0, synced)
	unmatched := mustSample(t, metrics, "ephemeral_storage_exporter_pods_unmatched")
	assert.Equal(t, 30.0, unmatched, "pods without specs are counted, not invented")
	code, _ := p.get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)

	c.api.Down.Store(false)
	require.Eventually(t, func() bool {
		_, metrics := p.get("/metrics")
		v, ok := sample(metrics, "ephemeral_storage_exporter_pods_unmatched")
		return ok && v == 0
	}, 30*time.Second, 100*time.Millisecond, "caught up once the API server is back")

	// The node loses its last pod while the watch is broken; the watch resumes with 410 Gone.
	fewer := node.Pods[:len(node.Pods)-1]
	c.api.SetPods(fewer)
	watches := c.api.Watches.Load()
	c.api.GoneOnce.Store(true)
	c.api.CloseWatches()
	gone := node.Pods[len(node.Pods)-1]
	require.Eventually(t, func() bool {
		_, metrics := p.get("/metrics")
		v, found := sample(metrics, "ephemeral_storage_exporter_pods_unmatched")
		return found && v == 1 // the kubelet still reports it, the API server no longer has it
	}, 30*time.Second, 100*time.Millisecond, "re-listed after 410 Gone")
	assert.Greater(t, c.api.Watches.Load(), watches)
	_, metrics = p.get("/metrics")
	assert.NotContains(t, metrics, `ephemeral_storage_pod_limit_bytes{node="`+synthetic.NodeName+`",namespace="`+gone.Namespace+`",pod="`+gone.Name+`"}`,
		"a pod the API server no longer has loses its limits; its usage stays while the kubelet reports it")
}

// Peak RSS of the agent at 250 pods, after many scrapes and cycles. AGENT_ENV adds one variable to
// the agent's environment, e.g. AGENT_ENV=GOGC=100 to measure without the agent's GC default.
func TestPeakRSSAt250Pods(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc")
	}
	node := synthetic.Generate(250, 1)
	c := newCluster(t, node)
	p := startBinary(t, plainBinary, []string{"NODE_NAME=" + synthetic.NodeName, os.Getenv("AGENT_ENV")}, c.flags...)
	require.Eventually(t, func() bool { code, _ := p.get("/readyz"); return code == http.StatusOK }, 20*time.Second, 50*time.Millisecond)

	// The binary's pages referenced from here on are its working set in steady state; the rest of
	// its file-backed RSS was touched at start (init of every package) or mapped around a touch.
	clearRefs := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.cmd.Process.Pid), []byte("1"), 0)
	var series int
	for i := range 50 {
		require.NoError(t, c.kubelet.SetSummary(synthetic.Generate(250, uint64(i)).Summary))
		code, metrics := p.get("/metrics")
		require.Equal(t, http.StatusOK, code)
		series = strings.Count(metrics, "\n") - 2*strings.Count(metrics, "# HELP")
		// Every scrape sees a new cycle: wait for the next kubelet request.
		before := c.kubelet.Requests.Load()
		require.Eventually(t, func() bool { return c.kubelet.Requests.Load() > before }, 10*time.Second, 10*time.Millisecond)
	}
	if a := os.Getenv("FP_PPROF_FETCH"); a != "" {
		for _, prof := range []string{"heap", "allocs"} {
			resp, err := http.Get("http://" + a + "/debug/pprof/" + prof)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, os.WriteFile("/tmp/fp-"+prof+".pprof", b, 0o644))
		}
	}
	hwm := procStatusBytes(t, p.cmd.Process.Pid, "VmHWM")
	anon, file := procStatusBytes(t, p.cmd.Process.Pid, "RssAnon"), procStatusBytes(t, p.cmd.Process.Pid, "RssFile")
	_, metrics := p.get("/metrics")
	cpu := mustSample(t, metrics, "process_cpu_seconds_total")
	for _, m := range []string{"go_memstats_heap_inuse_bytes", "go_memstats_heap_sys_bytes", "go_memstats_heap_released_bytes", "go_memstats_stack_sys_bytes", "go_memstats_sys_bytes", "go_memstats_next_gc_bytes", "go_goroutines"} {
		t.Logf("%s %.0f", m, mustSample(t, metrics, m))
	}
	t.Logf("peak RSS at 250 pods: %.1f MiB (now: anonymous %.1f MiB, file-backed %.1f MiB; %d series, %d kubelet requests, %.2f s CPU)",
		float64(hwm)/(1<<20), float64(anon)/(1<<20), float64(file)/(1<<20), series, c.kubelet.Requests.Load(), cpu)
	if clearRefs == nil {
		rss, referenced := binaryPages(t, p.cmd.Process.Pid, plainBinary)
		t.Logf("the binary's mapped pages: %.1f MiB resident, %.1f MiB referenced during the 50 cycles", float64(rss)/(1<<20), float64(referenced)/(1<<20))
	}
	// Alone, the peak is 20-21 MiB; under a parallel `make test` the pages of the binary used
	// again are read back in larger pieces (up to 23.4 MiB, 28 MiB before MADV_RANDOM). The
	// issue's 24 MiB is asserted on request (PERF_TARGETS=1); by default a bound that still fails
	// without the release of the binary's pages (32.8-33.4 MiB).
	assert.LessOrEqual(t, hwm, int64(29<<20), "peak RSS at 250 pods, binary pages released")
	if os.Getenv("PERF_TARGETS") != "" {
		assert.LessOrEqual(t, hwm, int64(24<<20), "issue 19 target: peak RSS at most 24 MiB at 250 pods")
	}
}

// binaryPages sums the Rss and Referenced of the mappings of file in /proc/<pid>/smaps, in bytes.
func binaryPages(t *testing.T, pid int, file string) (rss, referenced int64) {
	t.Helper()
	smaps, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	require.NoError(t, err)
	inFile := false
	for _, line := range strings.Split(string(smaps), "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":"):
			inFile = fields[len(fields)-1] == file
		case inFile && len(fields) == 3 && (fields[0] == "Rss:" || fields[0] == "Referenced:"):
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			require.NoError(t, err)
			if fields[0] == "Rss:" {
				rss += kb << 10
			} else {
				referenced += kb << 10
			}
		}
	}
	return rss, referenced
}

// procStatusBytes reads a kB field of /proc/<pid>/status, in bytes.
func procStatusBytes(t *testing.T, pid int, field string) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc status", field)
	return 0
}

// A kubelet that starts failing: the agent keeps serving, with the last good data and its age,
// says so in its self-metrics, and logs the failure once, not once per attempt.
func TestKubeletFailureKeepsServing(t *testing.T) {
	node := synthetic.Generate(30, 1)
	c := newCluster(t, node)
	p := start(t, []string{"NODE_NAME=" + synthetic.NodeName}, c.flags...)
	require.Eventually(t, func() bool { code, _ := p.get("/readyz"); return code == http.StatusOK }, 20*time.Second, 50*time.Millisecond)

	c.kubelet.Status.Store(http.StatusInternalServerError)
	errorsOf := func(metrics string) float64 {
		v, found := sample(metrics, `ephemeral_storage_exporter_kubelet_errors_total{kind="http_status",node="`+synthetic.NodeName+`"}`)
		if !found {
			return -1 // a missing series is not 0
		}
		return v
	}
	require.Eventually(t, func() bool {
		_, metrics := p.get("/metrics")
		return errorsOf(metrics) >= 3
	}, 20*time.Second, 100*time.Millisecond)
	code, metrics := p.get("/metrics")
	assert.Equal(t, http.StatusOK, code)
	up := mustSample(t, metrics, "ephemeral_storage_exporter_kubelet_up")
	assert.Equal(t, 0.0, up)
	age := mustSample(t, metrics, "ephemeral_storage_exporter_data_age_seconds")
	assert.Greater(t, age, 0.2, "the age of the last good data is exposed")
	assert.Contains(t, metrics, "ephemeral_storage_pod_usage_bytes{", "last good data kept within --kubelet.max-staleness")
	assert.Equal(t, 1, strings.Count(p.logs(), "reading the kubelet summary failed"), "one log line for a run of failures")
	assert.Contains(t, p.logs(), "status 500")

	c.kubelet.Status.Store(0)
	require.Eventually(t, func() bool {
		_, metrics := p.get("/metrics")
		up, found := sample(metrics, "ephemeral_storage_exporter_kubelet_up")
		return found && up == 1
	}, 20*time.Second, 100*time.Millisecond)
	assert.Contains(t, p.logs(), "readable again")
}

// Scrapes are served from memory: with a kubelet that takes 2 s to answer and 100 scrapers, the
// /metrics p95 stays within 5 ms at 250 pods and the kubelet sees one request per interval.
// Latency is measured on the binary users run (plainBinary), not a -race one.
func TestScrapesDoNotWaitForASlowKubelet(t *testing.T) {
	node := synthetic.Generate(250, 1)
	c := newCluster(t, node)
	const interval = time.Second
	flags := append(slices.Clone(c.flags[:len(c.flags)-1]), "--kubelet.min-interval="+interval.String(), "--web.max-requests=0")
	p := startBinary(t, plainBinary, []string{"NODE_NAME=" + synthetic.NodeName}, flags...)
	require.Eventually(t, func() bool { code, _ := p.get("/readyz"); return code == http.StatusOK }, 20*time.Second, 50*time.Millisecond)

	c.kubelet.Delay.Store(int64(2 * time.Second))
	before, started := c.kubelet.Requests.Load(), time.Now()
	const scrapers, rounds, period = 100, 3, 5 * time.Second
	latencies := make([]time.Duration, scrapers*rounds)
	var failures atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for s := range scrapers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(s) * period / scrapers) // the schedule under test: scrapers spread over a period
			for r := range rounds {
				next := time.Now().Add(period)
				req, _ := http.NewRequest(http.MethodGet, "http://"+p.addr+"/metrics", nil)
				req.Header.Set("Accept-Encoding", "gzip") // as Prometheus asks; read, not inflated
				start := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				latencies[s*rounds+r] = time.Since(start)
				if err != nil {
					failures.Add(1)
				}
				time.Sleep(time.Until(next)) // the schedule under test: one scrape per period each
			}
		}()
	}
	wg.Wait()
	elapsed, requests := time.Since(started), c.kubelet.Requests.Load()-before
	slices.Sort(latencies)
	p50, p95, p99 := latencies[len(latencies)/2], latencies[len(latencies)*95/100], latencies[len(latencies)*99/100]
	t.Logf("/metrics at 250 pods, kubelet answering in 2 s, %d scrapers every %s: p50 %s, p95 %s, p99 %s; %d kubelet requests in %s",
		scrapers, period, p50, p95, p99, requests, elapsed.Round(time.Millisecond))
	assert.Zero(t, failures.Load(), "every scrape answered 200")
	// A scrape that waited for the kubelet would take 2 s; on a loaded machine the scrapes still
	// queue for CPU, so the 5 ms target of issue 19 is asserted on request (PERF_TARGETS=1, on a
	// quiet machine: docs/performance.md).
	assert.Less(t, p95, time.Second, "p95 of /metrics while the kubelet takes 2 s")
	if os.Getenv("PERF_TARGETS") != "" {
		assert.LessOrEqual(t, p95, 5*time.Millisecond, "issue 19 target: p95 of /metrics within 5 ms")
	}
	// Each fetch takes 2 s and is followed by a wait of at least 0.9 interval.
	assert.LessOrEqual(t, requests, 1+int64(elapsed/(2*time.Second+interval*9/10)), "one kubelet request per interval, not per scrape")
	assert.GreaterOrEqual(t, requests, int64(1))
}
