package e2e

// The scenarios TestEmptyDirEviction runs after the kubelet evicted the fillers, and their pods.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"sigs.k8s.io/yaml"
)

const (
	rootFillerLimit = 8 << 20 // rootfiller's container "main": ephemeral-storage limit 8Mi
	memVolumeLimit  = 8 << 20 // memvol's memory emptyDir: sizeLimit 8Mi (memory limit 64Mi)
	readOnlyPath    = "/x"    // what rofail tries to create on its read-only root
)

type scenario struct {
	e                 env
	hc                *http.Client
	cs                *kubernetes.Clientset
	ctx               context.Context
	promURL, agentURL string
	start             time.Time
	timing            func(string)
	summary           *statsv1alpha1.Summary
	countersSettled   bool
	roFixPod          *corev1.Pod // the first pod of the Deployment rofix (readonly_loop_test.go)
	agentPod          *corev1.Pod // the installed agent's pod (install_test.go)
}

// pod is a pod of the scenario namespace running the test image.
func pod(e env, name string, containers []corev1.Container, volumes []corev1.Volume) *corev1.Pod {
	no := false
	for i := range containers {
		containers[i].Image, containers[i].ImagePullPolicy = e.Image, corev1.PullNever
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: scenarioNS},
		Spec: corev1.PodSpec{
			NodeName: e.Node, HostNetwork: true, RestartPolicy: corev1.RestartPolicyNever,
			AutomountServiceAccountToken: &no, TerminationGracePeriodSeconds: ptr(int64(2)),
			Containers: containers, Volumes: volumes,
		},
	}
}

func secCtx(readOnlyRoot bool) *corev1.SecurityContext {
	uid, yes := int64(65532), true
	return &corev1.SecurityContext{ReadOnlyRootFilesystem: &readOnlyRoot, RunAsUser: &uid, RunAsNonRoot: &yes}
}

// rootFillerPod writes to its writable layer (/tmp on the image's root) past its container's 8Mi
// ephemeral-storage limit. Its idle sidecar has a 64Mi limit, so the pod's limit (72Mi) is not the
// one that binds: the container's is.
func rootFillerPod(e env) *corev1.Pod {
	return pod(e, "rootfiller", []corev1.Container{
		{
			Name: "main", Args: []string{"--fill", "/tmp/fill", "--rate", "256KiB/s", "--max", "64MiB"},
			SecurityContext: secCtx(false),
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("4Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("8Mi")},
			},
		},
		{
			Name: "side", SecurityContext: secCtx(true),
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("1Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("64Mi")},
			},
		},
	}, nil)
}

// readOnlyFailPod tries to create /x on its read-only root and exits 1 with the Go error on stderr,
// which FallbackToLogsOnError turns into the termination message.
func readOnlyFailPod(e env) *corev1.Pod {
	return pod(e, "rofail", []corev1.Container{{
		Name: "main", Args: []string{"--write-root", readOnlyPath, "--erofs-exit", "1"},
		SecurityContext:          secCtx(true),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}}, nil)
}

// memoryVolumePod has a medium: Memory emptyDir (sizeLimit 8Mi) and a larger memory limit (64Mi),
// so the kubelet sizes the tmpfs at the sizeLimit.
func memoryVolumePod(e env) *corev1.Pod {
	q := resource.MustParse("8Mi")
	return pod(e, "memvol", []corev1.Container{{
		Name: "main", SecurityContext: secCtx(true),
		Resources:    corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
		VolumeMounts: []corev1.VolumeMount{{Name: "mem", MountPath: "/mem"}},
	}}, []corev1.Volume{{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &q}}}})
}

func podNames(m map[string]*corev1.Pod) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// daemonSetArgs returns the agent's args and environment as deploy/kustomize/base/daemonset.yaml
// gives them (env fieldRefs resolved as the kubelet would on this node), with overrides applied
// (replaced in place, or appended when the manifest does not set them). agent-args.txt in the
// artifacts lists both.
func daemonSetArgs(t *testing.T, e env, overrides map[string]string) (args, environ []string) { //nolint:unused // for tests that run the agent as a host process (the suite before helm; other helpers' files)
	t.Helper()
	path := filepath.Join(e.Root, "deploy", "kustomize", "base", "daemonset.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ds appsv1.DaemonSet
	if err := yaml.Unmarshal(raw, &ds); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	cs := ds.Spec.Template.Spec.Containers
	if len(cs) == 0 {
		t.Fatalf("%s: no container", path)
	}
	c := cs[0]
	for _, x := range cs {
		if x.Name == "ephemeral-storage-exporter" {
			c = x
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# the agent's args: container %q of %s\n# manifest args:\n", c.Name, path)
	used := map[string]bool{}
	for _, a := range c.Args {
		fmt.Fprintf(&b, "  %s\n", a)
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if v, ok := overrides[name]; ok {
			used[name] = true
			args = append(args, "--"+name+"="+v)
			continue
		}
		args = append(args, a)
	}
	var keys []string
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("# overridden (replaced) / added for loopback:\n")
	for _, k := range keys {
		verb := "replaced"
		if !used[k] {
			verb = "added"
			args = append(args, "--"+k+"="+overrides[k])
		}
		fmt.Fprintf(&b, "  %s --%s=%s\n", verb, k, overrides[k])
	}
	b.WriteString("# environment (the manifest's env, fieldRefs resolved for this node):\n")
	for _, ev := range c.Env {
		v := ev.Value
		switch {
		case ev.ValueFrom == nil:
		case ev.ValueFrom.FieldRef != nil:
			switch ev.ValueFrom.FieldRef.FieldPath {
			case "spec.nodeName":
				v = e.Node
			case "status.hostIP", "status.podIP":
				v = "127.0.0.1"
			default:
				t.Fatalf("%s: env %s: fieldRef %s not handled", path, ev.Name, ev.ValueFrom.FieldRef.FieldPath)
			}
		case ev.ValueFrom.ResourceFieldRef != nil:
			v = resourceFieldValue(t, path, ev.Name, c, ev.ValueFrom.ResourceFieldRef)
		default:
			t.Fatalf("%s: env %s: valueFrom not handled", path, ev.Name)
		}
		environ = append(environ, ev.Name+"="+v)
		fmt.Fprintf(&b, "  %s=%s\n", ev.Name, v)
	}
	b.WriteString("# final command line:\n  " + e.AgentBin + " " + strings.Join(args, " ") + "\n")
	_ = os.WriteFile(filepath.Join(e.Artifacts, "agent-args.txt"), []byte(b.String()), 0o644)
	t.Logf("agent args from %s (%d manifest args, overrides %v)", path, len(c.Args), keys)
	return args, environ
}

// resourceFieldValue resolves a resourceFieldRef of the agent's own container as the kubelet does
// (k8s.io/kubernetes v1.34.2 pkg/api/v1/resource/helpers.go, ExtractContainerResourceValue: the
// quantity divided by the divisor, default 1, rounded up). Only memory and ephemeral-storage limits
// the manifest sets are handled (cpu divides milli-values; an unset limit becomes the node's
// allocatable).
func resourceFieldValue(t *testing.T, path, name string, c corev1.Container, ref *corev1.ResourceFieldSelector) string { //nolint:unused // for tests that run the agent as a host process (the suite before helm; other helpers' files)
	t.Helper()
	res, ok := strings.CutPrefix(ref.Resource, "limits.")
	if !ok || (res != "memory" && res != "ephemeral-storage") {
		t.Fatalf("%s: env %s: resourceFieldRef %s not handled", path, name, ref.Resource)
	}
	q, ok := c.Resources.Limits[corev1.ResourceName(res)]
	if !ok {
		t.Fatalf("%s: env %s: resourceFieldRef %s: the manifest sets no such limit", path, name, ref.Resource)
	}
	divisor := resource.MustParse("1")
	if !ref.Divisor.IsZero() {
		divisor = ref.Divisor
	}
	return fmt.Sprint(int64(math.Ceil(float64(q.Value()) / float64(divisor.Value()))))
}

// startPrometheus runs a Debian prometheus scraping the agent every second (target label
// cluster="e2e", as the rules and dashboards join on cluster), evaluating the rendered rules every
// second. It returns its base URL once it scrapes the agent and has loaded the rules.
func startPrometheus(t *testing.T, e env, hc *http.Client, agentPort int) string { //nolint:unused // for tests that run the agent as a host process (the suite before helm; other helpers' files)
	t.Helper()
	target := fmt.Sprintf("127.0.0.1:%d", agentPort)
	return startPrometheusConfig(t, e, hc, fmt.Sprintf("static_configs: [{targets: [%q], labels: {cluster: e2e}}]", target))
}

// startPrometheusFileSD is startPrometheus with the agent's pod IP as its target through file_sd,
// so the target follows the pod (setPromTarget) across a rolling update. Debian's prometheus is
// built without kubernetes_sd; the test plays that discovery (the DaemonSet's pod on this node,
// its port named "metrics"). No namespace/pod target labels: the agent's own series carry those.
func startPrometheusFileSD(t *testing.T, e env, hc *http.Client, target string) string {
	t.Helper()
	setPromTarget(t, e, target)
	return startPrometheusConfig(t, e, hc, fmt.Sprintf("file_sd_configs: [{files: [%q]}]", promTargetsFile(e)))
}

func promTargetsFile(e env) string { return filepath.Join(e.WorkDir, "prometheus", "targets.json") }

// setPromTarget writes the file_sd targets (atomically: Prometheus watches the file).
func setPromTarget(t *testing.T, e env, target string) {
	t.Helper()
	f := promTargetsFile(e)
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`[{"targets": [%q], "labels": {"cluster": "e2e"}}]`, target)
	if err := os.WriteFile(f+".tmp", []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f+".tmp", f); err != nil {
		t.Fatal(err)
	}
}

// startPrometheusConfig runs Prometheus with one scrape job, ephemeral-storage-exporter, whose
// target discovery (and relabeling) is sd.
func startPrometheusConfig(t *testing.T, e env, hc *http.Client, sd string) string {
	t.Helper()
	promPort := freePort(t)
	promURL := fmt.Sprintf("http://127.0.0.1:%d", promPort)
	promDir := filepath.Join(e.WorkDir, "prometheus")
	if err := os.MkdirAll(promDir, 0o755); err != nil {
		t.Fatal(err)
	}
	rules := ""
	if e.Rules != "" {
		rules = fmt.Sprintf("rule_files: [%q]\n", e.Rules)
	}
	promCfg := fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}
%sscrape_configs:
- job_name: ephemeral-storage-exporter
  %s
`, rules, sd)
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
	if e.Rules == "" {
		t.Logf("E2E_RULES unset: Prometheus runs without the alert rules")
		return promURL
	}
	eventually(t, 30*time.Second, time.Second, "prometheus rules loaded and evaluated without error", func() (bool, string) {
		code, body, err := get(hc, promURL+"/api/v1/rules", "")
		if err != nil || code != http.StatusOK {
			return false, fmt.Sprintf("%d %v", code, err)
		}
		var r struct {
			Data struct {
				Groups []struct {
					Name  string `json:"name"`
					Rules []struct {
						Name, Health, LastError string
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			return false, err.Error()
		}
		n, unknown := 0, 0
		for _, g := range r.Data.Groups {
			for _, rl := range g.Rules {
				n++
				switch rl.Health {
				case "ok":
				case "unknown":
					unknown++
				default:
					t.Fatalf("rule %s/%s: health %s: %s", g.Name, rl.Name, rl.Health, rl.LastError)
				}
			}
		}
		return n > 0 && unknown == 0, fmt.Sprintf("%d groups, %d rules, %d not evaluated yet", len(r.Data.Groups), n, unknown)
	})
	return promURL
}

// evictedEvent waits for the kubelet's Warning Evicted event of a pod and returns when it happened.
func (sc *scenario) evictedEvent(t *testing.T, name string) time.Time {
	t.Helper()
	var at time.Time
	eventually(t, 30*time.Second, time.Second, "Warning Evicted event for "+name, func() (bool, string) {
		evs, err := sc.cs.CoreV1().Events(scenarioNS).List(sc.ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, ev := range evs.Items {
			seen = append(seen, ev.Reason)
			if ev.Reason == "Evicted" && ev.Type == corev1.EventTypeWarning {
				at = ev.FirstTimestamp.Time
				if !ev.EventTime.IsZero() {
					at = ev.EventTime.Time
				}
				return true, ""
			}
		}
		return false, strings.Join(seen, ",")
	})
	return at
}

// evictionCounted: ephemeral_storage_evictions_total counts the pod's eviction exactly once,
// with the given cause (and volume or container when not empty).
func (sc *scenario) evictionCounted(t *testing.T, workload, cause, volume, container string) {
	t.Helper()
	q := fmt.Sprintf(`ephemeral_storage_evictions_total{namespace=%q,workload=%q}`, scenarioNS, workload)
	eventually(t, 60*time.Second, time.Second, "ephemeral_storage_evictions_total for "+workload, func() (bool, string) {
		s, err := promQuery(sc.hc, sc.promURL, q)
		if err != nil {
			return false, err.Error()
		}
		return len(s) > 0, "no series"
	})
	if !sc.countersSettled {
		time.Sleep(5 * time.Second) // the behaviour under test: the count stays put; a double count would show by now
		sc.countersSettled = true
	}
	s, err := promQuery(sc.hc, sc.promURL, q)
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, x := range s {
		total += x.V
	}
	if len(s) != 1 || total != 1 || s[0].Labels["cause"] != cause || s[0].Labels["volume"] != volume || s[0].Labels["container"] != container {
		t.Errorf("want exactly one eviction of %s with cause=%q volume=%q container=%q, got %v", workload, cause, volume, container, s)
	} else {
		t.Logf("eviction of %s counted once: %v", workload, s[0].Labels)
	}
}

// alertTimeline is when an alert (name/severity) was first stored as pending and as firing.
type alertTimeline struct{ pending, firing time.Time }

func (sc *scenario) alertTimelines(t *testing.T, sel string) map[string]*alertTimeline {
	t.Helper()
	s, err := promQuery(sc.hc, sc.promURL, "ALERTS{"+sel+"}[15m]")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*alertTimeline{}
	for _, x := range s {
		k := x.Labels["alertname"] + "/" + x.Labels["severity"]
		if out[k] == nil {
			out[k] = &alertTimeline{}
		}
		p := &out[k].pending
		if x.Labels["alertstate"] == "firing" {
			p = &out[k].firing
		}
		if p.IsZero() || x.T.Before(*p) {
			*p = x.T
		}
	}
	return out
}

// checkAlerts: on the e2e Prometheus (rules rendered from testdata/alerts-config.yaml),
// EphemeralStorageVolumeNearSizeLimit and EphemeralStorageVolumeFillingUp go pending, then firing, before the kubelet evicts
// the filler; EphemeralStoragePodEvicted fires after.
func (sc *scenario) checkAlerts(t *testing.T, filler *corev1.Pod) {
	if sc.e.Rules == "" {
		t.Skip("E2E_RULES unset (run through hack/e2e/run.sh): no rules loaded")
	}
	evictedAt := sc.evictedEvent(t, "filler")
	var report strings.Builder
	fmt.Fprintf(&report, "rules: %s\nfiller evicted (kubelet's Evicted event): %s\n", sc.e.Rules, evictedAt.Format(time.RFC3339Nano))
	tl := sc.alertTimelines(t, fmt.Sprintf(`namespace=%q,pod="filler"`, scenarioNS))
	var keys []string
	for k := range tl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		line := fmt.Sprintf("%-36s pending %s firing %s (eviction %s)", k, rel(tl[k].pending, evictedAt), rel(tl[k].firing, evictedAt), evictedAt.Format("15:04:05"))
		t.Log(line)
		report.WriteString(line + "\n")
	}
	for _, k := range []string{"EphemeralStorageVolumeNearSizeLimit/critical", "EphemeralStorageVolumeFillingUp/critical"} {
		a := tl[k]
		switch {
		case a == nil || a.pending.IsZero():
			t.Errorf("%s never went pending for the filler", k)
		case a.firing.IsZero():
			t.Errorf("%s went pending (%s) but never fired", k, a.pending.Format("15:04:05"))
		case !a.pending.Before(a.firing):
			t.Errorf("%s: fired (%s) without being pending first (%s)", k, a.firing.Format("15:04:05"), a.pending.Format("15:04:05"))
		case !a.firing.Before(evictedAt):
			t.Errorf("%s fired at %s, not before the eviction (%s)", k, a.firing.Format("15:04:05.000"), evictedAt.Format("15:04:05"))
		}
	}
	// EphemeralStoragePodEvicted has no `for`: it fires from the first evaluation that sees the counter.
	q := fmt.Sprintf(`ALERTS{alertname="EphemeralStoragePodEvicted",alertstate="firing",namespace=%q,workload="filler",cause="empty_dir",volume="data"}`, scenarioNS)
	var firedAt time.Time
	eventually(t, 60*time.Second, time.Second, "EphemeralStoragePodEvicted firing for the filler", func() (bool, string) {
		s, err := promQuery(sc.hc, sc.promURL, q+"[15m]")
		if err != nil {
			return false, err.Error()
		}
		for _, x := range s {
			if firedAt.IsZero() || x.T.Before(firedAt) {
				firedAt = x.T
			}
		}
		return len(s) > 0, "no sample"
	})
	if firedAt.Before(evictedAt) {
		t.Errorf("EphemeralStoragePodEvicted fired at %s, before the eviction (%s)", firedAt, evictedAt)
	}
	line := fmt.Sprintf("EphemeralStoragePodEvicted/warning (filler, cause=empty_dir) firing %s", rel(firedAt, evictedAt))
	t.Log(line)
	report.WriteString(line + "\n")
	// The other scenarios' alerts, for the record (not asserted: see docs/e2e.md).
	for _, w := range []string{"rootfiller", "rofail"} {
		tl := sc.alertTimelines(t, fmt.Sprintf(`namespace=%q,workload=%q`, scenarioNS, w))
		var ks []string
		for k := range tl {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		line := fmt.Sprintf("%s: alerts seen: %v", w, ks)
		for _, k := range ks {
			line += fmt.Sprintf("\n  %-36s pending %s firing %s", k, ts(tl[k].pending), ts(tl[k].firing))
		}
		t.Log(line)
		report.WriteString(line + "\n")
	}
	if _, body, err := get(sc.hc, sc.promURL+"/api/v1/alerts", ""); err == nil {
		_ = os.WriteFile(filepath.Join(sc.e.Artifacts, "alerts-api.json"), body, 0o644)
	}
	_ = os.WriteFile(filepath.Join(sc.e.Artifacts, "alerts.txt"), []byte(report.String()), 0o644)
	sc.timing("alerts checked")
}

func rel(at, ref time.Time) string {
	if at.IsZero() {
		return "never"
	}
	return fmt.Sprintf("%s (%+.1fs)", at.Format("15:04:05.000"), at.Sub(ref).Seconds())
}

func ts(at time.Time) string {
	if at.IsZero() {
		return "never"
	}
	return at.Format("15:04:05.000")
}

// checkWritableLayer: the rootfiller's container limit ratio rose until the kubelet evicted it,
// and the eviction is counted once with the cause the kubelet's message gives.
func (sc *scenario) checkWritableLayer(t *testing.T, p *corev1.Pod) {
	t.Logf("rootfiller: phase %s reason %s message %q", p.Status.Phase, p.Status.Reason, p.Status.Message)
	cause, container := "", ""
	switch {
	case strings.Contains(p.Status.Message, `Container main exceeded its local ephemeral storage limit "8Mi"`):
		cause, container = "container_limit", "main"
	case strings.Contains(p.Status.Message, "Pod ephemeral local storage usage exceeds the total limit of containers"):
		cause = "pod_limit"
	}
	if p.Status.Reason != "Evicted" || cause == "" {
		t.Fatalf("rootfiller: want Evicted for its container's or pod's ephemeral-storage limit, got %s: %q", p.Status.Reason, p.Status.Message)
	}
	sc.evictedEvent(t, "rootfiller")
	var report strings.Builder
	fmt.Fprintf(&report, "kubelet: %s %q -> cause %s\n", p.Status.Reason, p.Status.Message, cause)
	for _, m := range []string{
		`ephemeral_storage_container_limit_ratio{namespace="%s",pod="rootfiller",container="main"}`,
		`ephemeral_storage_container_rootfs_bytes{namespace="%s",pod="rootfiller",container="main"}`,
		`ephemeral_storage_pod_limit_ratio{namespace="%s",pod="rootfiller"}`,
	} {
		q := fmt.Sprintf(m, scenarioNS)
		s, err := promQuery(sc.hc, sc.promURL, q+"[15m]")
		if err != nil {
			t.Fatal(err)
		}
		d := distinct(s)
		line := fmt.Sprintf("%s: %d samples, distinct values in order %v", q, len(s), d)
		t.Log(line)
		report.WriteString(line + "\n")
		if strings.HasPrefix(m, "ephemeral_storage_container_limit_ratio") {
			if len(d) < 2 || d[len(d)-1] <= d[0] || d[len(d)-1] < 0.3 {
				t.Errorf("container limit ratio did not rise (want >= 2 increasing values reaching >= 0.3): %v", d)
			}
			for i := 1; i < len(d); i++ {
				if d[i] < d[i-1] {
					t.Errorf("container limit ratio went down: %v", d)
					break
				}
			}
		}
	}
	if lim, err := promQuery(sc.hc, sc.promURL, fmt.Sprintf(`ephemeral_storage_container_limit_bytes{namespace=%q,pod="rootfiller",container="main"}[15m]`, scenarioNS)); err != nil || len(lim) == 0 || lim[0].V != rootFillerLimit {
		t.Errorf("container_limit_bytes of rootfiller/main: want %d, got %v %v", rootFillerLimit, lim, err)
	}
	_ = os.WriteFile(filepath.Join(sc.e.Artifacts, "rootfiller.txt"), []byte(report.String()), 0o644)
	sc.evictionCounted(t, "rootfiller", cause, "", container)
	sc.timing("writable-layer eviction checked (cause " + cause + ")")
}

func distinct(s []promSample) []float64 {
	sort.Slice(s, func(i, j int) bool { return s[i].T.Before(s[j].T) })
	var d []float64
	for _, x := range s {
		if len(d) == 0 || d[len(d)-1] != x.V {
			d = append(d, x.V)
		}
	}
	return d
}

// checkReadOnlyRoot: rofail exited 1 with "open /x: read-only file system" as its termination
// message; the agent counts it once (source termination_message) and logs the path.
func (sc *scenario) checkReadOnlyRoot(t *testing.T) {
	var term *corev1.ContainerStateTerminated
	eventually(t, 60*time.Second, time.Second, "rofail terminated", func() (bool, string) {
		p, err := sc.cs.CoreV1().Pods(scenarioNS).Get(sc.ctx, "rofail", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.State.Terminated != nil {
				term = c.State.Terminated
				return true, ""
			}
		}
		return false, fmt.Sprintf("%s %v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	t.Logf("rofail: exit %d reason %s message %q", term.ExitCode, term.Reason, term.Message)
	if term.ExitCode != 1 || !strings.Contains(term.Message, "open "+readOnlyPath+": read-only file system") {
		t.Errorf("rofail: want exit 1 with termination message %q, got %d %q", "open "+readOnlyPath+": read-only file system", term.ExitCode, term.Message)
	}
	q := fmt.Sprintf(`ephemeral_storage_read_only_write_failures_total{namespace=%q,workload="rofail"}`, scenarioNS)
	eventually(t, 60*time.Second, time.Second, "read-only write failure counted", func() (bool, string) {
		s, err := promQuery(sc.hc, sc.promURL, q)
		return err == nil && len(s) > 0, fmt.Sprintf("%v %v", s, err)
	})
	s, err := promQuery(sc.hc, sc.promURL, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 1 || s[0].V != 1 || s[0].Labels["source"] != "termination_message" || s[0].Labels["container"] != "main" {
		t.Errorf("want one read-only failure, source=termination_message container=main, got %v", s)
	} else {
		t.Logf("read-only failure counted once: %v", s[0].Labels)
	}
	// The agent's log (JSON) names the path.
	logPath := filepath.Join(sc.e.Artifacts, "logs", "agent.log")
	var line string
	eventually(t, 10*time.Second, time.Second, `the agent's log line with "path":"`+readOnlyPath+`"`, func() (bool, string) {
		b, err := saveAgentLog(sc.ctx, sc.cs, sc.e, sc.agentPod)
		if err != nil {
			return false, err.Error()
		}
		for _, l := range strings.Split(b, "\n") {
			if strings.Contains(l, `"path":"`+readOnlyPath+`"`) && strings.Contains(l, `"pod":"rofail"`) {
				line = l
				return true, ""
			}
		}
		return false, "no such line in " + logPath
	})
	t.Logf("agent log: %s", line)
	// The hint on the pod names the path.
	p, err := sc.cs.CoreV1().Pods(scenarioNS).Get(sc.ctx, "rofail", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev := sc.readOnlyHint(t, p, "main", readOnlyPath)
	t.Logf("Event on rofail: %s %s: %s", ev.Type, ev.Reason, ev.Message)
	sc.timing("read-only root write failure checked")
}

// checkMemoryVolume: the agent's size_limit_bytes of the memory emptyDir equals the tmpfs size
// the kubelet set (the summary's capacityBytes, and the mount's size= option).
func (sc *scenario) checkMemoryVolume(t *testing.T) {
	var capacity uint64
	var uid string
	eventually(t, 60*time.Second, 2*time.Second, "memvol's mem volume in the kubelet summary", func() (bool, string) {
		s, err := kubeletSummary(sc.hc, sc.e, adminBearer(t, sc.e))
		if err != nil {
			return false, err.Error()
		}
		for _, p := range s.Pods {
			if p.PodRef.Namespace != scenarioNS || p.PodRef.Name != "memvol" {
				continue
			}
			uid = p.PodRef.UID
			for _, v := range p.VolumeStats {
				if v.Name == "mem" && v.CapacityBytes != nil {
					capacity = *v.CapacityBytes
					return true, ""
				}
			}
		}
		return false, "not yet"
	})
	mountSize := "not found"
	if b, err := os.ReadFile("/proc/self/mounts"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) > 3 && strings.Contains(f[1], uid) && strings.HasSuffix(f[1], "kubernetes.io~empty-dir/mem") {
				mountSize = f[2] + " " + f[3]
			}
		}
	}
	q := fmt.Sprintf(`ephemeral_storage_volume_size_limit_bytes{namespace=%q,pod="memvol",volume="mem"}`, scenarioNS)
	var s []promSample
	eventually(t, 30*time.Second, time.Second, q, func() (bool, string) {
		var err error
		s, err = promQuery(sc.hc, sc.promURL, q)
		return err == nil && len(s) == 1, fmt.Sprintf("%v %v", s, err)
	})
	t.Logf("memvol/mem: kubelet capacityBytes %d, mount %s, agent size_limit_bytes %v %v", capacity, mountSize, s[0].V, s[0].Labels)
	if s[0].Labels["medium"] != "memory" || s[0].Labels["volume_type"] != "empty_dir" {
		t.Errorf("want medium=memory volume_type=empty_dir, got %v", s[0].Labels)
	}
	if s[0].V != float64(capacity) {
		t.Errorf("agent size_limit_bytes %v != the tmpfs size the kubelet reports (capacityBytes %d)", s[0].V, capacity)
	}
	if capacity != memVolumeLimit {
		t.Errorf("tmpfs capacity %d, want the sizeLimit %d (min(sizeLimit, memory limit 64Mi, allocatable))", capacity, memVolumeLimit)
	}
	_ = os.WriteFile(filepath.Join(sc.e.Artifacts, "memory-volume.txt"), []byte(fmt.Sprintf(
		"kubelet capacityBytes %d\nmount (fstype options) %s\nagent %s = %v\n", capacity, mountSize, q, s[0].V)), 0o644)
	sc.timing("memory emptyDir checked")
}

// checkSelfMetrics: the agent reads the kubelet (up, requests increasing, fresh data).
func (sc *scenario) checkSelfMetrics(t *testing.T) {
	one := func(q string) float64 {
		t.Helper()
		s, err := promQuery(sc.hc, sc.promURL, q)
		if err != nil || len(s) != 1 {
			t.Fatalf("%s: want one series, got %v %v", q, s, err)
		}
		return s[0].V
	}
	up := one(`ephemeral_storage_exporter_kubelet_up{job="ephemeral-storage-exporter"}`)
	r1 := one(`ephemeral_storage_exporter_kubelet_requests_total{job="ephemeral-storage-exporter"}`)
	time.Sleep(3 * time.Second) // the behaviour under test: the request rate over a known span
	r2 := one(`ephemeral_storage_exporter_kubelet_requests_total{job="ephemeral-storage-exporter"}`)
	inc := one(`increase(ephemeral_storage_exporter_kubelet_requests_total{job="ephemeral-storage-exporter"}[1m])`)
	age := one(`ephemeral_storage_exporter_data_age_seconds{job="ephemeral-storage-exporter"}`)
	maxAge := one(`max_over_time(ephemeral_storage_exporter_data_age_seconds{job="ephemeral-storage-exporter"}[5m])`)
	errs, _ := promQuery(sc.hc, sc.promURL, `ephemeral_storage_exporter_kubelet_errors_total{job="ephemeral-storage-exporter"}`)
	msg := fmt.Sprintf("kubelet_up %v; kubelet_requests_total %v -> %v (3s later), increase[1m] %.1f; data_age_seconds %v (max over 5m %v); kubelet_errors_total series %d",
		up, r1, r2, inc, age, maxAge, len(errs))
	t.Log(msg)
	_ = os.WriteFile(filepath.Join(sc.e.Artifacts, "agent-self-metrics.txt"), []byte(msg+"\n"), 0o644)
	if up != 1 {
		t.Errorf("kubelet_up = %v, want 1", up)
	}
	if r2 <= r1 || inc <= 0 {
		t.Errorf("kubelet_requests_total does not increase: %v -> %v, increase[1m] %v", r1, r2, inc)
	}
	if age > 5 || maxAge > 5 {
		t.Errorf("data_age_seconds too large (min-interval 1s, scrape 1s): now %v, max over 5m %v", age, maxAge)
	}
}

// panelResult is one dashboard query's outcome.
type panelResult struct {
	Dashboard, Panel, Expr string
	Series                 int
	Max                    float64  // the largest value any returned sample had
	With                   []string // template values (workloads) that returned data
}

// expectedEmpty are panels that may legitimately return no data in this run, and why.
var expectedEmpty = []struct {
	match  *regexp.Regexp
	reason string
}{
	{regexp.MustCompile(`ephemeral_storage_exporter_kubelet_errors_total`), "no kubelet summary request failed in this run (the counter has no series until one does)"},
	{regexp.MustCompile(`ephemeral_storage_node_eviction_events_total`), "the node never had EvictionThresholdMet / NodeHasDiskPressure events (evictionHard at 1%)"},
}

// counterPanels are the panels that count evictions / read-only failures: the run had some, so a
// maximum of 0 means the panel misses them (as increase() alone did for counters born at 1).
var counterPanels = regexp.MustCompile(`increase\(ephemeral_storage_(evictions|read_only_write_failures)_total`)

// checkDashboards: every panel query of dashboards/*.json, template variables set to this run's
// values, returns data over the run (a range query from the test's start); the panels that may
// not are listed with the reason.
func (sc *scenario) checkDashboards(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(sc.e.Root, "dashboards", "*.json"))
	if len(files) == 0 {
		t.Skip("no dashboards/*.json")
	}
	end := time.Now()
	rangeS := fmt.Sprintf("%ds", int(math.Ceil(end.Sub(sc.start).Seconds())))
	workloads := []string{"filler", "rootfiller", "rofail", "memvol", "idle"}
	var results []panelResult
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []json.RawMessage `json:"panels"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, pt := range panelTargets(d.Panels) {
			res := panelResult{Dashboard: filepath.Base(f), Panel: pt[0], Expr: pt[1]}
			vals := []string{""}
			if strings.Contains(pt[1], "$workload") || strings.Contains(pt[1], "$pod") {
				vals = workloads
			}
			for _, w := range vals {
				q := strings.NewReplacer(
					"$cluster", "e2e", "$node", sc.e.Node, "$namespace", scenarioNS, "$workload", w, "$pod", w,
					"$__rate_interval", "1m", "$__range", rangeS, "$__interval", "5s", "${datasource}", "", "$datasource", "",
				).Replace(pt[1])
				s, err := promQueryRange(sc.hc, sc.promURL, q, sc.start, end, 5*time.Second)
				if err != nil {
					t.Errorf("%s / %s: %v (query %s)", res.Dashboard, res.Panel, err, q)
					continue
				}
				for _, x := range s {
					res.Max = math.Max(res.Max, x.V)
				}
				if n := countSeries(s); n > 0 {
					res.Series += n
					if w != "" {
						res.With = append(res.With, w)
					}
				}
			}
			results = append(results, res)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# every dashboard panel query over %s..%s (step 5s, $__range=%s, $__rate_interval=1m, cluster=e2e, node=%s, namespace=%s, workload=pod in %v)\n",
		sc.start.Format("15:04:05"), end.Format("15:04:05"), rangeS, sc.e.Node, scenarioNS, workloads)
	withData, empty := 0, 0
	for _, r := range results {
		status := fmt.Sprintf("DATA %d series, max %g", r.Series, r.Max)
		if len(r.With) > 0 {
			status += fmt.Sprintf(" (workloads %v)", r.With)
		}
		if r.Series > 0 && r.Max == 0 && counterPanels.MatchString(r.Expr) {
			status += " -- 0 although the run had 2 evictions and 1 read-only failure"
			t.Errorf("%s / %q counts nothing although the run had evictions and a read-only failure: %s", r.Dashboard, r.Panel, r.Expr)
		}
		if r.Series == 0 {
			empty++
			reason := ""
			for _, x := range expectedEmpty {
				if x.match.MatchString(r.Expr) {
					reason = x.reason
				}
			}
			if reason == "" {
				status = "NO DATA (unexpected)"
				t.Errorf("%s / %q returns no data: %s", r.Dashboard, r.Panel, r.Expr)
			} else {
				status = "NO DATA (expected: " + reason + ")"
			}
		} else {
			withData++
		}
		fmt.Fprintf(&b, "%s | %s | %s\n    %s\n", r.Dashboard, r.Panel, status, r.Expr)
	}
	fmt.Fprintf(&b, "# %d queries: %d with data, %d without\n", len(results), withData, empty)
	_ = os.WriteFile(filepath.Join(sc.e.Artifacts, "dashboards.txt"), []byte(b.String()), 0o644)
	t.Logf("dashboards: %d panel queries, %d with data, %d without (dashboards.txt)", len(results), withData, empty)
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, "NO DATA") || strings.Contains(l, "FINDING") {
			t.Log(l)
		}
	}
	sc.timing("dashboards checked")
}

// panelTargets returns (panel title, expr) of every target, rows' nested panels included.
func panelTargets(panels []json.RawMessage) [][2]string {
	var out [][2]string
	for _, raw := range panels {
		var p struct {
			Title   string            `json:"title"`
			Panels  []json.RawMessage `json:"panels"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		}
		if json.Unmarshal(raw, &p) != nil {
			continue
		}
		for _, tg := range p.Targets {
			if tg.Expr != "" {
				out = append(out, [2]string{p.Title, tg.Expr})
			}
		}
		out = append(out, panelTargets(p.Panels)...)
	}
	return out
}

func countSeries(s []promSample) int {
	seen := map[string]bool{}
	for _, x := range s {
		seen[fmt.Sprint(x.Labels)] = true
	}
	return len(seen)
}
