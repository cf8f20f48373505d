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
	"sigs.k8s.io/yaml"
)

const (
	scenarioNS = "e2e-scenario"
	sizeLimit  = 20 << 20   // the filler's emptyDir: 20Mi...
	fillRate   = "256KiB/s" // ...filled at this rate: ~80 s, time for the alerts to go pending and fire
	// fillBytesPerSecond is fillRate in bytes.
	fillBytesPerSecond = 256 << 10
	// kubeletVolumeStatsAggPeriod is the e2e kubelet's volumeStatsAggPeriod (hack/e2e/up.sh): it
	// refreshes volume stats that often, with up to 100% jitter.
	kubeletVolumeStatsAggPeriod = 10 * time.Second
	// promInterval is the e2e Prometheus's scrape and evaluation interval.
	promInterval = time.Second
)

// kubeletReading is the filler's "data" volume as the kubelet's /stats/summary reported it.
type kubeletReading struct {
	At   time.Time // when the test read it
	Used uint64
}

// TestEmptyDirEviction: the agent, installed with helm (deploy/helm, documented values) as a
// DaemonSet pod, against a real kubelet (webhook authn/authz), scraped through its pod IP by a
// real Prometheus that evaluates the project's alert rules (rendered from testdata/alerts-config.yaml,
// windows shortened). One set of pods runs every scenario at once, so the suite waits for the
// kubelet once:
//   - filler: emptyDir sizeLimit 20Mi filled at 256KiB/s until the kubelet evicts it (alerts go
//     pending then fire before that; EphemeralStoragePodEvicted fires after);
//   - rootfiller: writes to its writable layer past its 8Mi ephemeral-storage limit;
//   - rofail: tries to write to its read-only root, exits 1 (FallbackToLogsOnError);
//   - memvol: a medium: Memory emptyDir (sizeLimit 8Mi, memory limit 64Mi);
//   - idle: a bystander;
//   - rofix: a Deployment writing to /tmp on its read-only root, fixed by advise's patch
//     (readonly_loop_test.go).
//
// Then: the agent's own metrics, and every dashboard panel's query.
func TestEmptyDirEviction(t *testing.T) {
	e := loadEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cs := adminClient(t, e)
	hc := httpClient(t, e)
	adminToken := adminBearer(t, e)
	timing := newTimings(t, e)
	testStart := time.Now()

	// --- The product, installed: helm install of deploy/helm (documented values only); the
	// DaemonSet controller and the scheduler place the agent; it reads the kubelet in direct mode,
	// verifying its certificate with the ServiceAccount's ca.crt (kube-root-ca.crt).
	agent := helmInstall(ctx, t, e, cs)
	checkProbes(t, hc, agent)
	timing("agent installed (helm) and ready: " + agent.URL)

	// The kubelet really asks the API server: the chart's ServiceAccount may read /stats/summary,
	// one without the binding may not, a bad token is not authenticated.
	token := saToken(ctx, t, cs, agent.Namespace, agent.ServiceAccount)
	if _, err := cs.CoreV1().ServiceAccounts(agent.Namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "e2e-no-rbac"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	noRBAC := saToken(ctx, t, cs, agent.Namespace, "e2e-no-rbac")
	if code, body, err := get(hc, e.KubeletURL+"/stats/summary", noRBAC); err != nil || code != http.StatusForbidden {
		t.Fatalf("kubelet /stats/summary without RBAC: want 403, got %d %v: %.200s", code, err, body)
	}
	if code, body, err := get(hc, e.KubeletURL+"/stats/summary", "not-a-token"); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("kubelet /stats/summary with a bad token: want 401, got %d %v: %.200s", code, err, body)
	}
	if code, body, err := get(hc, e.KubeletURL+"/stats/summary", token); err != nil || code != http.StatusOK {
		t.Fatalf("kubelet /stats/summary with the chart's ServiceAccount: want 200, got %d %v: %.200s", code, err, body)
	}
	timing("kubelet authz checked (403 without RBAC, 200 with the chart's)")
	eventsURL := startEventsRole(t, e, hc) // events_role_test.go
	timing("events role leading")

	// --- A real Prometheus scraping the agent's pod IP every second (file_sd, the test as the
	// discovery) and evaluating the rules every second.
	promURL := startPrometheusFileSD(t, e, hc, strings.TrimPrefix(agent.URL, "http://"))
	timing("prometheus scraping the agent, rules loaded")
	waitOperatorScrapesTheAgent(ctx, t, cs, hc) // the Prometheus Operator path (operator_test.go)

	// --- The pods of every scenario, at once.
	sc := &scenario{e: e, hc: hc, cs: cs, ctx: ctx, promURL: promURL, agentURL: agent.URL, agentPod: agent.Pod, start: testStart, timing: timing}
	t.Cleanup(func() { _, _ = saveAgentLog(context.Background(), cs, e, sc.agentPod) })
	ensureNamespace(ctx, t, cs, scenarioNS)
	sc.roFixPod = sc.readOnlyDeployment(t)
	for _, p := range []*corev1.Pod{
		testPod(e, "idle", "100Mi", nil),
		testPod(e, "filler", "20Mi", []string{"--fill", "/data/fill", "--rate", fillRate}),
		rootFillerPod(e),
		readOnlyFailPod(e),
		memoryVolumePod(e),
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

	// Follow the kubelet's own numbers until it evicted both fillers.
	var readings []kubeletReading
	var lastSummary *statsv1alpha1.Summary
	ended := map[string]*corev1.Pod{}
	deadline := time.Now().Add(4 * time.Minute)
	for ended["filler"] == nil || ended["rootfiller"] == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the kubelet did not evict the fillers within 4 minutes (ended: %v); readings: %v", podNames(ended), readings)
		}
		if s, err := kubeletSummary(hc, e, adminToken); err == nil {
			lastSummary = s
			if used, ok := volumeUsed(s, "filler", "data"); ok && ended["filler"] == nil {
				readings = append(readings, kubeletReading{At: time.Now(), Used: used})
			}
		} else {
			t.Logf("kubelet summary: %v", err)
		}
		for _, name := range []string{"filler", "rootfiller"} {
			if ended[name] != nil {
				continue
			}
			p, err := cs.CoreV1().Pods(scenarioNS).Get(ctx, name, metav1.GetOptions{})
			if err == nil && (p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded) {
				ended[name] = p
				timing(name + " evicted")
			}
		}
		time.Sleep(time.Second) // poll interval of this bounded wait for the evictions
	}
	sc.summary = lastSummary

	t.Run("emptydir-eviction", func(t *testing.T) {
		evicted := ended["filler"]
		t.Logf("filler: phase %s reason %s message %q", evicted.Status.Phase, evicted.Status.Reason, evicted.Status.Message)
		if evicted.Status.Reason != "Evicted" || !strings.Contains(evicted.Status.Message, `Usage of EmptyDir volume "data" exceeds the limit "20Mi"`) {
			t.Errorf("filler: want reason Evicted for emptyDir data over 20Mi, got %s: %q", evicted.Status.Reason, evicted.Status.Message)
		}
		sc.evictedEvent(t, "filler")

		// The ratio Prometheus stored rose and equals the kubelet's numbers (raw samples).
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

		// The evicted pod's storage series go away; the bystander's stay.
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
		sc.evictionCounted(t, "filler", "empty_dir", "data", "")
		checkCountedOnceAcrossRoles(t, hc, "filler", agent.URL, eventsURL)
		timing("eviction counter checked")
	})
	t.Run("alerts", func(t *testing.T) {
		sc.checkAlerts(t, ended["filler"])
		sc.checkCriticalLeadTime(t)
	})
	t.Run("writable-layer-eviction", func(t *testing.T) { sc.checkWritableLayer(t, ended["rootfiller"]) })
	t.Run("read-only-root", sc.checkReadOnlyRoot)
	t.Run("read-only-fix-loop", sc.checkReadOnlyLoop)
	t.Run("memory-emptydir", sc.checkMemoryVolume)
	t.Run("kubectl-plugin-numbers", sc.checkPluginNumbers)
	t.Run("agent-self-metrics", sc.checkSelfMetrics)
	t.Run("dashboards", sc.checkDashboards)
	t.Run("rolling-update", sc.checkRollingUpdate)
	t.Run("log-scanner", sc.checkLogScanner)
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
		t.Errorf("%d of %d stored ratios match no kubelet usedBytes/sizeLimit within %s: %v", len(mismatched), len(samples), window, mismatched)
	}
}

func writeSeries(t *testing.T, e env, samples []promSample, readings []kubeletReading) {
	var b strings.Builder
	b.WriteString("# prometheus ephemeral_storage_volume_size_limit_ratio{pod=filler,volume=data}: time value\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "%s %v\n", s.T.Format("15:04:05.000"), s.V)
	}
	b.WriteString("# kubelet /stats/summary data volume: time usedBytes usedBytes/20Mi\n")
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

// newTimings logs each step with the seconds since the test started, also to timings.txt, in the
// script's format ("e2e [<seconds since up.sh started>s] ...", E2E_T0) so the report can time phases.
func newTimings(t *testing.T, e env) func(string) {
	start := time.Now()
	t0 := start
	if v, err := strconv.ParseInt(os.Getenv("E2E_T0"), 10, 64); err == nil {
		t0 = time.Unix(v, 0)
	}
	f, _ := os.OpenFile(filepath.Join(e.Artifacts, "timings.txt"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	t.Cleanup(func() { f.Close() })
	return func(what string) {
		now := time.Now()
		t.Log("e2e test [+" + strconv.FormatFloat(now.Sub(start).Seconds(), 'f', 1, 64) + "s] " + what)
		if f != nil {
			fmt.Fprintf(f, "e2e [%ds] test: %s (+%.1fs into the test)\n", int(now.Sub(t0).Seconds()), what, now.Sub(start).Seconds())
		}
	}
}

// leadTimeTarget is the least lead time the critical time-to-limit alert must give before the
// kubelet evicts a volume filled linearly from empty in fill, with the windows of the rules
// (testdata/alerts-config.yaml). The alert can fire once the volume's series is min_age old (the
// warm-up guard; the filler's volume is born empty with the pod) and the condition held for
// critical_for; the kubelet's volume stats lag by up to 2 x volumeStatsAggPeriod (jitter up to
// 100%), and the scrape and the evaluation add one interval each. The rest of the fill is lead:
//
//	target = min(fill, critical_horizon) - min_age - critical_for - 2 x volumeStatsAggPeriod - 2 x interval
//
// In production (alerts/config.yaml) the same terms for the case, a pod past min_age
// filling 50% -> 100% in 30 min with 90 s stats and 30 s scrapes, leave 30m - 2m - 3m - 1m = 24 min
// (>= the 15 min target; promtool measures 20 min, docs/runbooks.md#tested-situations).
func leadTimeTarget(fill, horizon, minAge, criticalFor time.Duration) time.Duration {
	return min(fill, horizon) - minAge - criticalFor - 2*kubeletVolumeStatsAggPeriod - 2*promInterval
}

// alertWindows reads the windows the e2e rules were rendered from.
func alertWindows(t *testing.T) (horizon, minAge, criticalFor time.Duration) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "alerts-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		TimeToLimit struct {
			MinAge string `json:"min_age"`
		} `json:"time_to_limit"`
		Alerts map[string]struct {
			CriticalHorizon string `json:"critical_horizon"`
			CriticalFor     string `json:"critical_for"`
		} `json:"alerts"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	a := c.Alerts["EphemeralStorageVolumeFillingUp"]
	for _, d := range []struct {
		into *time.Duration
		s    string
	}{{&horizon, a.CriticalHorizon}, {&minAge, c.TimeToLimit.MinAge}, {&criticalFor, a.CriticalFor}} {
		if *d.into, err = time.ParseDuration(d.s); err != nil {
			t.Fatalf("testdata/alerts-config.yaml: %q: %v", d.s, err)
		}
	}
	return horizon, minAge, criticalFor
}

// checkCriticalLeadTime: EphemeralStorageVolumeFillingUp/critical fires at least leadTimeTarget
// before the kubelet's Evicted event for the filler. The lead times go to lead-times.txt.
func (sc *scenario) checkCriticalLeadTime(t *testing.T) {
	evictedAt := sc.evictedEvent(t, "filler")
	horizon, minAge, criticalFor := alertWindows(t)
	fill := time.Duration(sizeLimit/fillBytesPerSecond) * time.Second
	target := leadTimeTarget(fill, horizon, minAge, criticalFor)
	tl := sc.alertTimelines(t, fmt.Sprintf(`namespace=%q,pod="filler"`, scenarioNS))
	var report strings.Builder
	fmt.Fprintf(&report, "filler: %dMi at %s: linear fill %s; Evicted event %s\n", sizeLimit>>20, fillRate, fill, evictedAt.Format(time.RFC3339))
	fmt.Fprintf(&report, "target = min(fill %s, critical_horizon %s) - min_age %s - critical_for %s - 2 x volumeStatsAggPeriod %s - 2 x interval %s = %s\n",
		fill, horizon, minAge, criticalFor, kubeletVolumeStatsAggPeriod, promInterval, target)
	for _, k := range []string{"EphemeralStorageVolumeFillingUp/critical", "EphemeralStorageVolumeFillingUp/warning", "EphemeralStorageVolumeNearSizeLimit/critical"} {
		lead := "never fired"
		if a := tl[k]; a != nil && !a.firing.IsZero() {
			lead = fmt.Sprintf("%.1fs", evictedAt.Sub(a.firing).Seconds())
		}
		fmt.Fprintf(&report, "%-44s lead %s\n", k, lead)
	}
	t.Log(report.String())
	_ = os.WriteFile(filepath.Join(sc.e.Artifacts, "lead-times.txt"), []byte(report.String()), 0o644)
	if target <= 0 {
		t.Fatalf("the scaled windows leave no lead time (target %s): testdata/alerts-config.yaml no longer fits the filler", target)
	}
	a := tl["EphemeralStorageVolumeFillingUp/critical"]
	switch {
	case a == nil || a.firing.IsZero():
		t.Errorf("EphemeralStorageVolumeFillingUp/critical never fired for the filler (target lead %s)", target)
	case evictedAt.Sub(a.firing) < target:
		t.Errorf("EphemeralStorageVolumeFillingUp/critical fired %.1fs before the eviction: under the target %s", evictedAt.Sub(a.firing).Seconds(), target)
	}
}
