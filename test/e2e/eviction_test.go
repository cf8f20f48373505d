package e2e

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

const (
	scenarioNS = "e2e-scenario"
	sizeLimit  = 5 << 20 // 5Mi
)

// kubeletReading is the filler's "data" volume as the kubelet's /stats/summary reported it.
type kubeletReading struct {
	At   time.Time // when the test read it
	Used uint64
}

// TestEmptyDirEviction: the agent, running as a ServiceAccount with the deployed RBAC, against a
// real kubelet (webhook authn/authz) and scraped by a real Prometheus, follows a pod filling its
// emptyDir (sizeLimit 5Mi) at 1MiB/s until the kubelet evicts it.
func TestEmptyDirEviction(t *testing.T) {
	e := loadEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cs := adminClient(t, e)
	hc := httpClient(t, e)
	adminToken := adminBearer(t, e)
	timing := newTimings(t, e)

	// --- The agent's identity: ServiceAccount + RBAC, token from the TokenRequest API.
	r := applyRBAC(ctx, t, e, cs)
	agentDir := filepath.Join(e.WorkDir, "agent")
	if err := os.MkdirAll(agentDir, 0o700); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(agentDir, "token")
	token := saToken(ctx, t, cs, r.Namespace, r.ServiceAccount)
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(agentDir, "kubeconfig")
	writeKubeconfig(t, kubeconfig, e, tokenFile)

	// The kubelet really asks the API server: a ServiceAccount without the binding is refused.
	if _, err := cs.CoreV1().ServiceAccounts(r.Namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "e2e-no-rbac"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	noRBAC := saToken(ctx, t, cs, r.Namespace, "e2e-no-rbac")
	if code, body, err := get(hc, e.KubeletURL+"/stats/summary", noRBAC); err != nil || code != http.StatusForbidden {
		t.Fatalf("kubelet /stats/summary without RBAC: want 403, got %d %v: %.200s", code, err, body)
	}
	if code, body, err := get(hc, e.KubeletURL+"/stats/summary", "not-a-token"); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("kubelet /stats/summary with a bad token: want 401, got %d %v: %.200s", code, err, body)
	}
	eventually(t, 30*time.Second, time.Second, "kubelet /stats/summary with the agent's token", func() (bool, string) {
		code, body, err := get(hc, e.KubeletURL+"/stats/summary", token)
		return err == nil && code == http.StatusOK, fmt.Sprintf("%d %v %.200s", code, err, body)
	})
	timing("rbac applied; kubelet authz checked (403 without RBAC, 200 with)")

	// --- The agent, as in a cluster (its own binary, its ServiceAccount token).
	agentPort := freePort(t)
	agentURL := fmt.Sprintf("http://127.0.0.1:%d", agentPort)
	startProcess(t, e, "agent", e.AgentBin, "serve",
		"--node.name="+e.Node,
		"--kubeconfig="+kubeconfig,
		"--kubelet.url="+e.KubeletURL,
		"--kubelet.ca-file="+e.CA,
		"--kubelet.token-file="+tokenFile,
		"--kubelet.min-interval=1s",
		"--eviction.hard="+e.EvictionHard,
		"--web.listen-address="+fmt.Sprintf("127.0.0.1:%d", agentPort),
	)
	eventually(t, 60*time.Second, 500*time.Millisecond, "agent /readyz", func() (bool, string) {
		code, body, err := get(hc, agentURL+"/readyz", "")
		return err == nil && code == http.StatusOK, fmt.Sprintf("%d %v %s", code, err, body)
	})
	timing("agent ready")

	// --- A real Prometheus scraping the agent every second.
	promPort := freePort(t)
	promURL := fmt.Sprintf("http://127.0.0.1:%d", promPort)
	promDir := filepath.Join(e.WorkDir, "prometheus")
	if err := os.MkdirAll(promDir, 0o755); err != nil {
		t.Fatal(err)
	}
	promCfg := fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: ephemeral-storage-exporter
  static_configs: [{targets: ["127.0.0.1:%d"]}]
`, agentPort)
	if err := os.WriteFile(filepath.Join(promDir, "prometheus.yml"), []byte(promCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(e.Artifacts, "prometheus.yml"), []byte(promCfg), 0o644)
	startProcess(t, e, "prometheus", e.PrometheusBin,
		"--config.file="+filepath.Join(promDir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(promDir, "data"),
		"--web.listen-address="+fmt.Sprintf("127.0.0.1:%d", promPort),
	)
	eventually(t, 60*time.Second, 500*time.Millisecond, "prometheus scraping the agent (up == 1 and kubelet_up == 1)", func() (bool, string) {
		s, err := promQuery(hc, promURL, `up{job="ephemeral-storage-exporter"} == 1 and on() ephemeral_storage_exporter_kubelet_up == 1`)
		return err == nil && len(s) == 1, fmt.Sprintf("%v %v", s, err)
	})
	timing("prometheus scraping the agent")

	// --- Scenario: a bystander that idles, and a pod filling a 5Mi emptyDir at 1MiB/s.
	ensureNamespace(ctx, t, cs, scenarioNS)
	for _, p := range []*corev1.Pod{
		testPod(e, "idle", "100Mi", nil),
		testPod(e, "filler", "5Mi", []string{"--fill", "/data/fill", "--rate", "1MiB/s"}),
	} {
		if _, err := cs.CoreV1().Pods(scenarioNS).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s: %v", p.Name, err)
		}
	}
	timing("pods created")
	eventually(t, 90*time.Second, time.Second, "filler running", func() (bool, string) {
		p, err := cs.CoreV1().Pods(scenarioNS).Get(ctx, "filler", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodFailed, fmt.Sprintf("%s %v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	timing("filler running")

	// Follow the kubelet's own numbers for the volume until the kubelet evicts the pod.
	var readings []kubeletReading
	var evicted *corev1.Pod
	deadline := time.Now().Add(3 * time.Minute)
	for evicted == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the kubelet did not evict the filler within 3 minutes; readings: %v", readings)
		}
		if s, err := kubeletSummary(hc, e, adminToken); err == nil {
			if used, ok := volumeUsed(s, "filler", "data"); ok {
				readings = append(readings, kubeletReading{At: time.Now(), Used: used})
			}
		} else {
			t.Logf("kubelet summary: %v", err)
		}
		p, err := cs.CoreV1().Pods(scenarioNS).Get(ctx, "filler", metav1.GetOptions{})
		if err == nil && (p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded) {
			evicted = p
			break
		}
		time.Sleep(time.Second)
	}
	timing("filler evicted")
	t.Logf("filler: phase %s reason %s message %q", evicted.Status.Phase, evicted.Status.Reason, evicted.Status.Message)
	if evicted.Status.Reason != "Evicted" || !strings.Contains(evicted.Status.Message, `Usage of EmptyDir volume "data" exceeds the limit "5Mi"`) {
		t.Errorf("filler: want reason Evicted for emptyDir data over 5Mi, got %s: %q", evicted.Status.Reason, evicted.Status.Message)
	}
	eventually(t, 30*time.Second, time.Second, "Warning Evicted event for the filler", func() (bool, string) {
		evs, err := cs.CoreV1().Events(scenarioNS).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=filler"})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, ev := range evs.Items {
			seen = append(seen, ev.Reason)
			if ev.Reason == "Evicted" && ev.Type == corev1.EventTypeWarning {
				return true, ""
			}
		}
		return false, strings.Join(seen, ",")
	})

	// --- The ratio Prometheus stored rose and equals the kubelet's numbers (raw samples).
	sel := fmt.Sprintf(`{namespace=%q,pod="filler",volume="data"}`, scenarioNS)
	samples, err := promQuery(hc, promURL, "ephemeral_storage_volume_size_limit_ratio"+sel+"[15m]")
	if err != nil {
		t.Fatal(err)
	}
	limitSamples, err := promQuery(hc, promURL, "ephemeral_storage_volume_size_limit_bytes"+sel+"[15m]")
	if err != nil {
		t.Fatal(err)
	}
	writeSeries(t, e, samples, readings)
	checkRatio(t, samples, limitSamples, readings)
	timing("ratio checked against the kubelet's summary")

	// --- The evicted pod's storage series go away; the bystander's stay.
	podSel := fmt.Sprintf(`{__name__=~"ephemeral_storage_(pod|container|volume)_.*",namespace=%q,pod="filler"}`, scenarioNS)
	eventually(t, 90*time.Second, time.Second, "the filler's series to disappear", func() (bool, string) {
		s, err := promQuery(hc, promURL, podSel)
		if err != nil {
			return false, err.Error()
		}
		return len(s) == 0, fmt.Sprintf("%d series left, e.g. %v", len(s), first(s))
	})
	timing("filler series gone")
	if s, err := promQuery(hc, promURL, fmt.Sprintf(`ephemeral_storage_pod_usage_bytes{namespace=%q,pod="idle"}`, scenarioNS)); err != nil || len(s) != 1 {
		t.Errorf("the idle pod's usage series should still be there: %v %v", s, err)
	}

	// --- The eviction counter, once it exists in the agent.
	_, metricsText, err := get(hc, agentURL+"/metrics", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(metricsText), "ephemeral_storage_evictions_total") {
		t.Logf("SKIP eviction counter check: the agent does not export ephemeral_storage_evictions_total yet")
		_ = os.WriteFile(filepath.Join(e.Artifacts, "evictions-counter.txt"), []byte("not exported by this agent build\n"), 0o644)
	} else {
		q := fmt.Sprintf(`ephemeral_storage_evictions_total{namespace=%q}`, scenarioNS)
		eventually(t, 60*time.Second, time.Second, "ephemeral_storage_evictions_total for the filler", func() (bool, string) {
			s, err := promQuery(hc, promURL, q)
			if err != nil {
				return false, err.Error()
			}
			return len(s) > 0, "no series"
		})
		time.Sleep(5 * time.Second) // a double count would show by now
		s, err := promQuery(hc, promURL, q)
		if err != nil {
			t.Fatal(err)
		}
		var total float64
		for _, x := range s {
			total += x.V
		}
		if len(s) != 1 || total != 1 || s[0].Labels["cause"] != "empty_dir" || s[0].Labels["volume"] != "data" {
			t.Errorf("want exactly one eviction with cause=empty_dir volume=data, got %v", s)
		} else {
			t.Logf("eviction counted once: %v", s[0].Labels)
		}
		timing("eviction counter checked")
	}
}

func testPod(e env, name, limit string, args []string) *corev1.Pod {
	q := resource.MustParse(limit)
	no, yes := false, true
	uid := int64(65532)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: scenarioNS},
		Spec: corev1.PodSpec{
			NodeName:                      e.Node, // no scheduler runs
			HostNetwork:                   true,   // no CNI runs
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  &no, // no controller-manager publishes kube-root-ca.crt
			TerminationGracePeriodSeconds: ptr(int64(2)),
			Containers: []corev1.Container{{
				Name: "main", Image: e.Image, ImagePullPolicy: corev1.PullNever, Args: args,
				SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: &yes, RunAsUser: &uid, RunAsNonRoot: &yes},
				VolumeMounts:    []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &q}}}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

func volumeUsed(s *statsv1alpha1.Summary, pod, volume string) (uint64, bool) {
	for _, p := range s.Pods {
		if p.PodRef.Namespace != scenarioNS || p.PodRef.Name != pod {
			continue
		}
		for _, v := range p.VolumeStats {
			if v.Name == volume && v.UsedBytes != nil {
				return *v.UsedBytes, true
			}
		}
	}
	return 0, false
}

// checkRatio: the stored ratio rose, its bound is the sizeLimit, and every stored value equals
// usedBytes/sizeLimit of a kubelet summary the test read within a few seconds of that scrape.
func checkRatio(t *testing.T, samples, limits []promSample, readings []kubeletReading) {
	t.Helper()
	if len(samples) == 0 {
		t.Fatal("Prometheus has no ephemeral_storage_volume_size_limit_ratio sample for the filler's data volume")
	}
	for _, l := range limits {
		if l.V != sizeLimit {
			t.Errorf("size_limit_bytes = %v, want %d", l.V, sizeLimit)
			break
		}
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i].T.Before(samples[j].T) })
	var distinct []float64
	for i, s := range samples {
		if i > 0 && s.V < samples[i-1].V {
			t.Errorf("ratio went down: %v at %s after %v", s.V, s.T.Format(time.RFC3339Nano), samples[i-1].V)
		}
		if len(distinct) == 0 || distinct[len(distinct)-1] != s.V {
			distinct = append(distinct, s.V)
		}
	}
	t.Logf("ratio: %d samples, distinct values in order %v", len(samples), distinct)
	if len(distinct) < 2 || distinct[len(distinct)-1] <= distinct[0] || distinct[len(distinct)-1] < 0.4 {
		t.Errorf("ratio did not rise (want >= 2 increasing values reaching >= 0.4): %v", distinct)
	}
	// Match each stored value to the kubelet's numbers: a reading within +-window of the scrape.
	const window = 3 * time.Second
	var mismatched []string
	for _, s := range samples {
		ok := false
		for _, r := range readings {
			if d := r.At.Sub(s.T); d < -window || d > window {
				continue
			}
			if math.Abs(float64(r.Used)/sizeLimit-s.V) < 1e-9 {
				ok = true
				break
			}
		}
		// Samples taken before the test's first reading (or after its last) cannot be checked.
		if !ok && len(readings) > 0 && s.T.After(readings[0].At.Add(window)) && s.T.Before(readings[len(readings)-1].At.Add(-window)) {
			mismatched = append(mismatched, fmt.Sprintf("%s=%v", s.T.Format("15:04:05.000"), s.V))
		}
	}
	if len(mismatched) > 0 {
		t.Errorf("%d of %d stored ratios match no kubelet usedBytes/5Mi within %s: %v", len(mismatched), len(samples), window, mismatched)
	}
}

func writeSeries(t *testing.T, e env, samples []promSample, readings []kubeletReading) {
	var b strings.Builder
	b.WriteString("# prometheus ephemeral_storage_volume_size_limit_ratio{pod=filler,volume=data}: time value\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "%s %v\n", s.T.Format("15:04:05.000"), s.V)
	}
	b.WriteString("# kubelet /stats/summary data volume: time usedBytes usedBytes/5Mi\n")
	for _, r := range readings {
		fmt.Fprintf(&b, "%s %d %v\n", r.At.Format("15:04:05.000"), r.Used, float64(r.Used)/sizeLimit)
	}
	_ = os.WriteFile(filepath.Join(e.Artifacts, "filler-ratio.txt"), []byte(b.String()), 0o644)
}

func first(s []promSample) any {
	if len(s) == 0 {
		return nil
	}
	return s[0].Labels
}

func adminBearer(t *testing.T, e env) string {
	t.Helper()
	b, err := os.ReadFile(e.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if _, tok, ok := strings.Cut(line, "token: \""); ok {
			return strings.TrimRight(tok, "\"}")
		}
	}
	t.Fatal("no token in the admin kubeconfig")
	return ""
}

// newTimings logs each step with the seconds since the test started, also to timings.txt.
func newTimings(t *testing.T, e env) func(string) {
	start := time.Now()
	f, _ := os.OpenFile(filepath.Join(e.Artifacts, "timings.txt"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	t.Cleanup(func() { f.Close() })
	return func(what string) {
		line := "e2e test [+" + strconv.FormatFloat(time.Since(start).Seconds(), 'f', 1, 64) + "s] " + what
		t.Log(line)
		if f != nil {
			fmt.Fprintln(f, line)
		}
	}
}
