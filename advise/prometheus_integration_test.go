//go:build promintegration

// The Prometheus source against a real Prometheus server: recorded series are backfilled with
// promtool and queried through the HTTP API. Run with `make test-advise` or
// `go test -tags promintegration -run TestPrometheusSource ./advise`.

package advise

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recording builds OpenMetrics text: one family after another, each series' samples in time order.
type recording struct {
	families map[string]*family
	order    []string
}

type family struct {
	typ    string
	series map[string][]string // labels -> "value ts" lines
	keys   []string
}

func (r *recording) add(name, typ, labels string, ts time.Time, v float64) {
	if r.families == nil {
		r.families = map[string]*family{}
	}
	f := r.families[name]
	if f == nil {
		f = &family{typ: typ, series: map[string][]string{}}
		r.families[name] = f
		r.order = append(r.order, name)
	}
	if _, ok := f.series[labels]; !ok {
		f.keys = append(f.keys, labels)
	}
	f.series[labels] = append(f.series[labels], fmt.Sprintf("%g %d", v, ts.Unix()))
}

func (r *recording) String() string {
	var b strings.Builder
	for _, name := range r.order {
		f := r.families[name]
		sample := name
		if f.typ == "counter" {
			sample = name + "_total"
		}
		fmt.Fprintf(&b, "# TYPE %s %s\n", name, f.typ)
		for _, labels := range f.keys {
			for _, line := range f.series[labels] {
				fmt.Fprintf(&b, "%s{%s} %s\n", sample, labels, line)
			}
		}
	}
	b.WriteString("# EOF\n")
	return b.String()
}

const (
	window = 6 * time.Hour
	step   = time.Minute
)

// record renders what the agent would have exported over 8 hours ending at end, so the first 2
// hours lie before the window: their peaks must not count.
func record(end time.Time) string {
	var r recording
	start := end.Add(-8 * time.Hour)
	for ts := start; !ts.After(end); ts = ts.Add(step) {
		age := end.Sub(ts)
		pod := func(cluster, ns, name, kind, workload string) string {
			return fmt.Sprintf(`cluster="%s",node="n1",namespace="%s",pod="%s"`, cluster, ns, name)
		}
		emit := func(cluster, ns, podName, kind, workload string, body func(p string)) {
			p := pod(cluster, ns, podName, kind, workload)
			r.add("ephemeral_storage_pod_info", "gauge", fmt.Sprintf(`%s,workload_kind="%s",workload="%s"`, p, kind, workload), ts, 1)
			body(p)
		}
		vol := func(p, name, medium string) string {
			return fmt.Sprintf(`%s,volume="%s",volume_type="empty_dir",medium="%s",persistentvolumeclaim=""`, p, name, medium)
		}
		ctr := func(p, name string) string { return fmt.Sprintf(`%s,container="%s"`, p, name) }

		// shop/web-a: a Deployment pod for the whole 8 hours. Its cache peaks at 900Mi 7 hours
		// ago (before the window) and at 90Mi 2 hours ago.
		emit("c1", "shop", "web-a", "Deployment", "web", func(p string) {
			cache := float64(40 * Mi)
			switch {
			case age == 7*time.Hour:
				cache = float64(900 * Mi)
			case age == 2*time.Hour:
				cache = float64(90 * Mi)
			}
			r.add("ephemeral_storage_volume_used_bytes", "gauge", vol(p, "cache", "disk"), ts, cache)
			r.add("ephemeral_storage_volume_used_bytes", "gauge", vol(p, "run", "memory"), ts, float64(2*Mi))
			r.add("ephemeral_storage_volume_size_limit_bytes", "gauge", vol(p, "cache", "disk"), ts, float64(100*Mi))
			r.add("ephemeral_storage_volume_size_limit_bytes", "gauge", vol(p, "run", "memory"), ts, float64(10*Mi))
			r.add("ephemeral_storage_container_usage_bytes", "gauge", ctr(p, "nginx"), ts, float64(12*Mi))
			r.add("ephemeral_storage_container_rootfs_bytes", "gauge", ctr(p, "nginx"), ts, 8192)
			r.add("ephemeral_storage_container_request_bytes", "gauge", ctr(p, "nginx"), ts, float64(512*Mi))
			r.add("ephemeral_storage_container_limit_bytes", "gauge", ctr(p, "nginx"), ts, float64(Gi))
			r.add("ephemeral_storage_container_info", "gauge", ctr(p, "nginx")+`,container_type="app",read_only_root_filesystem="false"`, ts, 1)
		})
		// shop/web-b: another pod of the same Deployment, gone 3 hours before the end; its cache
		// reached 95Mi inside the window and its container 20Mi.
		if age >= 3*time.Hour {
			emit("c1", "shop", "web-b", "Deployment", "web", func(p string) {
				cache := float64(30 * Mi)
				if age == 4*time.Hour {
					cache = float64(95 * Mi)
				}
				r.add("ephemeral_storage_volume_used_bytes", "gauge", vol(p, "cache", "disk"), ts, cache)
				r.add("ephemeral_storage_volume_size_limit_bytes", "gauge", vol(p, "cache", "disk"), ts, float64(100*Mi))
				r.add("ephemeral_storage_container_usage_bytes", "gauge", ctr(p, "nginx"), ts, float64(20*Mi))
				r.add("ephemeral_storage_container_rootfs_bytes", "gauge", ctr(p, "nginx"), ts, 4096)
				r.add("ephemeral_storage_container_info", "gauge", ctr(p, "nginx")+`,container_type="app",read_only_root_filesystem="false"`, ts, 1)
			})
		}
		// batch/report-x: a Job writing 300Mi to its writable layer and 2Gi of scratch.
		emit("c1", "batch", "report-x", "Job", "report", func(p string) {
			r.add("ephemeral_storage_volume_used_bytes", "gauge", vol(p, "scratch", "disk"), ts, float64(2*Gi))
			r.add("ephemeral_storage_container_usage_bytes", "gauge", ctr(p, "report"), ts, float64(345*Mi))
			r.add("ephemeral_storage_container_rootfs_bytes", "gauge", ctr(p, "report"), ts, float64(300*Mi))
			r.add("ephemeral_storage_container_info", "gauge", ctr(p, "report")+`,container_type="app",read_only_root_filesystem="false"`, ts, 1)
		})
		// Another cluster with the same namespace and pod name: --selector keeps it out, and the
		// join must not mix its pods with c1's.
		emit("c2", "shop", "web-a", "Deployment", "web", func(p string) {
			r.add("ephemeral_storage_volume_used_bytes", "gauge", vol(p, "cache", "disk"), ts, float64(5*Gi))
		})

		// Counters. shop/web empty_dir: 3 before the window, 5 from 2 hours before the end.
		ev := func(cluster, ns, kind, workload, cause string) string {
			return fmt.Sprintf(`cluster="%s",node="n1",namespace="%s",workload_kind="%s",workload="%s",cause="%s",volume="",container="",resource=""`, cluster, ns, kind, workload, cause)
		}
		n := 3.0
		if age <= 2*time.Hour {
			n = 5
		}
		r.add("ephemeral_storage_evictions", "counter", ev("c1", "shop", "Deployment", "web", "empty_dir"), ts, n)
		// shop/web container_limit: first eviction an hour before the end (the series is born at 1).
		if age <= time.Hour {
			r.add("ephemeral_storage_evictions", "counter", ev("c1", "shop", "Deployment", "web", "container_limit"), ts, 1)
		}
		// batch/report pod_limit: born at 1 30 minutes before the end, 2 from 10 minutes before.
		if age <= 30*time.Minute {
			n := 1.0
			if age <= 10*time.Minute {
				n = 2
			}
			r.add("ephemeral_storage_evictions", "counter", ev("c1", "batch", "Job", "report", "pod_limit"), ts, n)
		}
		// Before the window only: not counted.
		if age >= 7*time.Hour {
			r.add("ephemeral_storage_evictions", "counter", ev("c1", "batch", "Job", "old", "node_pressure"), ts, 1)
		}
		// shop/web nginx: EROFS failures from 2 hours before the end, reaching 4.
		if age <= 2*time.Hour {
			n := 1.0
			if age <= time.Hour {
				n = 4
			}
			r.add("ephemeral_storage_read_only_write_failures", "counter",
				`cluster="c1",node="n1",namespace="shop",workload_kind="Deployment",workload="web",container="nginx",source="event"`, ts, n)
		}
	}
	return r.String()
}

func TestPrometheusSource(t *testing.T) {
	promtool, err1 := exec.LookPath("promtool")
	prometheus, err2 := exec.LookPath("prometheus")
	if err1 != nil || err2 != nil {
		t.Skip("promtool and prometheus are not installed (apt-get install -y --no-install-recommends prometheus, or make test-advise)")
	}
	dir := t.TempDir()
	end := time.Now().Truncate(time.Minute).Add(-10 * time.Minute)
	input := filepath.Join(dir, "in.om")
	require.NoError(t, os.WriteFile(input, []byte(record(end)), 0o644))
	data := filepath.Join(dir, "data")
	out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", input, data).CombinedOutput()
	require.NoError(t, err, "promtool: %s", out)

	config := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(config, []byte("global:\n  scrape_interval: 1m\n"), 0o644))
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, prometheus, "--config.file="+config, "--storage.tsdb.path="+data,
		"--storage.tsdb.retention.time=100y", "--web.listen-address="+addr)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	defer func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	}()
	url := "http://" + addr
	waitReady(t, url+"/-/ready")

	client, err := api.NewClient(api.Config{Address: url})
	require.NoError(t, err)
	promAPI := v1.NewAPI(client)

	src := &PrometheusSource{API: promAPI, URL: url, Window: window, End: end, Selector: `cluster="c1"`}
	in, err := src.Observe(context.Background())
	require.NoError(t, err)
	r := Analyze(in, DefaultSizing())
	assert.Equal(t, "peak over 6h", r.Basis)
	assert.False(t, r.Snapshot)

	got := map[string]string{}
	for _, wl := range r.Workloads {
		id := wl.Namespace + "/" + wl.Kind + "/" + wl.Name
		for _, e := range wl.EmptyDirs {
			got[id+" emptyDir "+e.Volume] = fmt.Sprintf("peak=%s limit=%s suggested=%s %s", human(e.PeakBytes), human(e.SizeLimitBytes), e.SuggestedSizeLimit, e.Change)
		}
		for _, m := range wl.MemoryEmptyDirs {
			got[id+" memory "+m.Volume] = fmt.Sprintf("peak=%s limit=%s headroom=%s", human(m.PeakBytes), human(m.SizeLimitBytes), human(m.HeadroomBytes))
		}
		for _, c := range wl.Containers {
			got[id+" container "+c.Container] = fmt.Sprintf("type=%s peak=%s request=%s limit=%s suggested=%s/%s ro=%s rootfs=%s",
				c.Type, human(c.PeakBytes), human(c.RequestBytes), human(c.LimitBytes), c.SuggestedRequest, c.SuggestedLimit, c.ReadOnlyRoot.Verdict, human(c.ReadOnlyRoot.RootfsPeakBytes))
		}
		for _, e := range wl.Evictions {
			got[id+" evictions "+e.Cause] = fmt.Sprint(e.Count)
		}
		for _, f := range wl.ReadOnlyFailures {
			got[id+" erofs "+f.Container] = fmt.Sprint(f.Count)
		}
	}
	want := map[string]string{
		// max over both pods inside the window: 95Mi (web-b, gone since), not the 900Mi before it.
		"shop/Deployment/web emptyDir cache":            "peak=95Mi limit=100Mi suggested=125Mi raise",
		"shop/Deployment/web memory run":                "peak=2Mi limit=10Mi headroom=8Mi",
		"shop/Deployment/web container nginx":           "type=app peak=20Mi request=512Mi limit=1Gi suggested=175Mi/350Mi ro=safe to enable rootfs=8Ki",
		"shop/Deployment/web evictions empty_dir":       "2",
		"shop/Deployment/web evictions container_limit": "1",
		"shop/Deployment/web erofs nginx":               "4",
		"batch/Job/report emptyDir scratch":             "peak=2Gi limit=- suggested=2560Mi set",
		"batch/Job/report container report":             "type=app peak=345Mi request=- limit=- suggested=3584Mi/7Gi ro=writes to its writable layer rootfs=300Mi",
		"batch/Job/report evictions pod_limit":          "2",
	}
	assert.Equal(t, want, got, "all: %s", keys(got))

	// --namespace keeps one namespace.
	src.Namespace = "batch"
	in, err = src.Observe(context.Background())
	require.NoError(t, err)
	r = Analyze(in, DefaultSizing())
	require.Len(t, r.Workloads, 1)
	assert.Equal(t, Workload{Namespace: "batch", Kind: "Job", Name: "report"}, r.Workloads[0].Workload)

	// A selector spanning both clusters: the join keeps each cluster's pods apart (no
	// many-to-many error) and the workload's peak is the larger cluster's.
	src.Namespace, src.Selector = "shop", `cluster=~"c.*"`
	in, err = src.Observe(context.Background())
	require.NoError(t, err)
	r = Analyze(in, DefaultSizing())
	require.Len(t, r.Workloads, 1)
	require.NotEmpty(t, r.Workloads[0].EmptyDirs)
	assert.Equal(t, int64(5*Gi), *r.Workloads[0].EmptyDirs[0].PeakBytes)
}

func keys(m map[string]string) string {
	k := make([]string, 0, len(m))
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return strings.Join(k, "\n")
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func waitReady(t *testing.T, url string) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond) // poll interval of this condition wait (deadline above)
	}
	t.Fatalf("prometheus not ready at %s", url)
}
