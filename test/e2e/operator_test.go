package e2e

// The Prometheus Operator path (issue 18; hack/e2e/operator.sh): the operator, built at a pinned
// version, generated a Prometheus configuration from the chart's PodMonitor and PrometheusRule
// (rendered by `helm template` of deploy/helm); Debian's prometheus runs that configuration
// unchanged. These tests check what it generated and what that Prometheus saw during
// TestEmptyDirEviction, which runs first (Go runs a package's tests in source order, file by file).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// operatorEnv is what hack/e2e/operator.sh exports.
type operatorEnv struct {
	PromURL, Config, SMConfig, Version, Release, ReleaseNS string
	PodLabels                                              map[string]string
}

func loadOperatorEnv() (operatorEnv, bool) {
	o := operatorEnv{
		PromURL: os.Getenv("E2E_OPERATOR_PROM_URL"), Config: os.Getenv("E2E_OPERATOR_CONFIG"),
		SMConfig: os.Getenv("E2E_OPERATOR_SM_CONFIG"), Version: os.Getenv("E2E_OPERATOR_VERSION"),
		Release: os.Getenv("E2E_OPERATOR_RELEASE"), ReleaseNS: os.Getenv("E2E_OPERATOR_RELEASE_NS"),
		PodLabels: map[string]string{},
	}
	for _, kv := range strings.Split(os.Getenv("E2E_OPERATOR_POD_LABELS"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			o.PodLabels[k] = v
		}
	}
	return o, o.PromURL != ""
}

// waitOperatorScrapesTheAgent waits until the operator's Prometheus scrapes the helm-installed
// agent pods, which the chart's PodMonitor selects. A no-op without the operator path.
func waitOperatorScrapesTheAgent(ctx context.Context, t *testing.T, cs *kubernetes.Clientset, hc *http.Client) {
	t.Helper()
	o, ok := loadOperatorEnv()
	if !ok {
		return
	}
	sel := metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: o.PodLabels})
	pods, err := cs.CoreV1().Pods(o.ReleaseNS).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil || len(pods.Items) == 0 {
		t.Fatalf("operator path: no agent pod in %s matches the PodMonitor's selector %s: %v", o.ReleaseNS, sel, err)
	}
	t.Logf("operator path: the PodMonitor selects the installed agent pods (%d in %s)", len(pods.Items), o.ReleaseNS)
	waitOperatorScrape(t, hc, o)
}

func waitOperatorScrape(t *testing.T, hc *http.Client, o operatorEnv) {
	t.Helper()
	eventually(t, 60*time.Second, 500*time.Millisecond, "the operator's Prometheus scraping the agent", func() (bool, string) {
		s, err := promQuery(hc, o.PromURL, `up{job="ephemeral-storage-exporter"} == 1`)
		return err == nil && len(s) == 1, fmt.Sprintf("%v %v", s, err)
	})
}

// scrapeJob is the part of a generated scrape_config the checks read.
type scrapeJob struct {
	JobName     string `json:"job_name"`
	HonorLabels bool   `json:"honor_labels"`
	SD          []struct {
		Role       string `json:"role"`
		Namespaces struct {
			Names []string `json:"names"`
		} `json:"namespaces"`
	} `json:"kubernetes_sd_configs"`
	Relabel []struct {
		Action       string   `json:"action"`
		SourceLabels []string `json:"source_labels"`
		Regex        string   `json:"regex"`
		TargetLabel  string   `json:"target_label"`
		Replacement  *string  `json:"replacement"`
	} `json:"relabel_configs"`
}

type promConfig struct {
	Global struct {
		ScrapeInterval     string `json:"scrape_interval"`
		EvaluationInterval string `json:"evaluation_interval"`
	} `json:"global"`
	RuleFiles     []string    `json:"rule_files"`
	ScrapeConfigs []scrapeJob `json:"scrape_configs"`
}

func readPromConfig(t *testing.T, data []byte) promConfig {
	t.Helper()
	var c promConfig
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("prometheus configuration: %v", err)
	}
	return c
}

func (c promConfig) jobNames() []string {
	var n []string
	for _, j := range c.ScrapeConfigs {
		n = append(n, j.JobName)
	}
	sort.Strings(n)
	return n
}

// checkMonitorJob: the scrape config generated from the chart's monitor keeps the measured pods'
// labels (honor_labels), discovers in the release namespace with the given role, sets the job the
// rules select on and drops the agent's own namespace/pod/container.
func checkMonitorJob(t *testing.T, c promConfig, jobName, role, ns string) {
	t.Helper()
	var job *scrapeJob
	for i := range c.ScrapeConfigs {
		if c.ScrapeConfigs[i].JobName == jobName {
			job = &c.ScrapeConfigs[i]
		}
	}
	if job == nil {
		t.Fatalf("no scrape config %q generated; jobs: %v", jobName, c.jobNames())
	}
	if !job.HonorLabels {
		t.Errorf("%s: honor_labels is false", jobName)
	}
	if len(job.SD) != 1 || job.SD[0].Role != role || !reflect.DeepEqual(job.SD[0].Namespaces.Names, []string{ns}) {
		t.Errorf("%s: kubernetes_sd_configs %+v, want one, role %s, namespaces [%s]", jobName, job.SD, role, ns)
	}
	var jobSet, dropped bool
	for _, r := range job.Relabel {
		if r.TargetLabel == "job" && r.Replacement != nil && *r.Replacement == "ephemeral-storage-exporter" {
			jobSet = true
		}
		if r.Action == "labeldrop" && r.Regex == "(namespace|pod|container)" {
			dropped = true
		}
	}
	if !jobSet || !dropped {
		t.Errorf("%s: job set to ephemeral-storage-exporter %v, labeldrop (namespace|pod|container) %v; relabel_configs %+v", jobName, jobSet, dropped, job.Relabel)
	}
}

// TestPrometheusOperator checks the operator path after TestEmptyDirEviction ran its scenarios.
func TestPrometheusOperator(t *testing.T) {
	e := loadEnv(t)
	o, ok := loadOperatorEnv()
	if !ok {
		t.Skip("E2E_OPERATOR_PROM_URL unset: the operator path is off (E2E_OPERATOR=0)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs := adminClient(t, e)
	hc := httpClient(t, e)
	podMonitorJob := fmt.Sprintf("podMonitor/%s/%s/0", o.ReleaseNS, o.Release)
	var report strings.Builder
	fmt.Fprintf(&report, "prometheus-operator %s; Prometheus %s runs the configuration generated for Prometheus default/ese\n", o.Version, o.PromURL)
	defer func() {
		_ = os.WriteFile(filepath.Join(e.Artifacts, "operator", "checks.txt"), []byte(report.String()), 0o644)
	}()

	t.Run("generated-config", func(t *testing.T) {
		generated, err := os.ReadFile(o.Config)
		if err != nil {
			t.Fatal(err)
		}
		gen := readPromConfig(t, generated)
		checkMonitorJob(t, gen, podMonitorJob, "pod", o.ReleaseNS)
		if gen.Global.ScrapeInterval != "1s" || gen.Global.EvaluationInterval != "1s" {
			t.Errorf("global intervals %+v, want the Prometheus CR's 1s", gen.Global)
		}
		// What Prometheus runs is what the operator generated: same jobs, same rule files.
		code, body, err := get(hc, o.PromURL+"/api/v1/status/config", "")
		if err != nil || code != http.StatusOK {
			t.Fatalf("/api/v1/status/config: %d %v", code, err)
		}
		var st struct {
			Data struct {
				YAML string `json:"yaml"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatal(err)
		}
		loaded := readPromConfig(t, []byte(st.Data.YAML))
		if !reflect.DeepEqual(loaded.jobNames(), gen.jobNames()) || !reflect.DeepEqual(loaded.RuleFiles, gen.RuleFiles) {
			t.Errorf("loaded configuration differs from the generated one: jobs %v rule_files %v, generated %v %v",
				loaded.jobNames(), loaded.RuleFiles, gen.jobNames(), gen.RuleFiles)
		}
		fmt.Fprintf(&report, "generated (Prometheus ese): jobs %v, rule_files %v\n", gen.jobNames(), gen.RuleFiles)

		// The ServiceMonitor, selected by the second Prometheus CR (generated, not run).
		smData, err := os.ReadFile(o.SMConfig)
		if err != nil {
			t.Fatal(err)
		}
		sm := readPromConfig(t, smData)
		smJob := fmt.Sprintf("serviceMonitor/%s/%s/0", o.ReleaseNS, o.Release)
		role := "endpoints"
		for _, j := range sm.ScrapeConfigs {
			if j.JobName == smJob && len(j.SD) == 1 && j.SD[0].Role == "endpointslice" {
				role = "endpointslice"
			}
		}
		checkMonitorJob(t, sm, smJob, role, o.ReleaseNS)
		fmt.Fprintf(&report, "generated (Prometheus ese-sm, not run): jobs %v (role %s)\n", sm.jobNames(), role)
	})

	t.Run("target-up", func(t *testing.T) {
		code, body, err := get(hc, o.PromURL+"/api/v1/targets?state=active", "")
		if err != nil || code != http.StatusOK {
			t.Fatalf("/api/v1/targets: %d %v", code, err)
		}
		var r struct {
			Data struct {
				ActiveTargets []struct {
					ScrapePool       string            `json:"scrapePool"`
					Health           string            `json:"health"`
					LastError        string            `json:"lastError"`
					Labels           map[string]string `json:"labels"`
					DiscoveredLabels map[string]string `json:"discoveredLabels"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Data.ActiveTargets) != 1 {
			t.Fatalf("want exactly one active target (the agent), got %d: %+v", len(r.Data.ActiveTargets), r.Data.ActiveTargets)
		}
		tg := r.Data.ActiveTargets[0]
		fmt.Fprintf(&report, "target: pool %s health %s labels %v (discovered: namespace %s pod %s)\n", tg.ScrapePool, tg.Health,
			tg.Labels, tg.DiscoveredLabels["__meta_kubernetes_namespace"], tg.DiscoveredLabels["__meta_kubernetes_pod_name"])
		if tg.ScrapePool != podMonitorJob || tg.Health != "up" || tg.Labels["job"] != "ephemeral-storage-exporter" {
			t.Errorf("target: pool %s health %s (%s) job %q; want %s up job ephemeral-storage-exporter", tg.ScrapePool, tg.Health, tg.LastError, tg.Labels["job"], podMonitorJob)
		}
		// Discovered in the release namespace: without the chart's labeldrop, these would be
		// the target's namespace and pod labels.
		if tg.DiscoveredLabels["__meta_kubernetes_namespace"] != o.ReleaseNS {
			t.Errorf("target discovered in namespace %q, want %q", tg.DiscoveredLabels["__meta_kubernetes_namespace"], o.ReleaseNS)
		}
		for _, l := range []string{"namespace", "pod", "container"} {
			if v, ok := tg.Labels[l]; ok {
				t.Errorf("target label %s=%q: the chart's labeldrop should have removed it", l, v)
			}
		}
	})

	t.Run("honor-labels", func(t *testing.T) {
		for _, q := range []string{
			`ephemeral_storage_node_fs_capacity_bytes{job="ephemeral-storage-exporter"}`,
			`ephemeral_storage_exporter_kubelet_up{job="ephemeral-storage-exporter"}`,
		} {
			s, err := promQuery(hc, o.PromURL, q)
			if err != nil || len(s) == 0 {
				t.Fatalf("%s: no series (%v)", q, err)
			}
			for _, x := range s {
				for _, l := range []string{"namespace", "pod", "container"} {
					if v, ok := x.Labels[l]; ok {
						t.Errorf("%s: node-level series has %s=%q (the agent's own): %v", q, l, v, x.Labels)
					}
				}
				if x.Labels["node"] != e.Node {
					t.Errorf("%s: node %q, want %q: %v", q, x.Labels["node"], e.Node, x.Labels)
				}
			}
			fmt.Fprintf(&report, "%s: %d series, none with namespace/pod/container\n", q, len(s))
		}
		// Pod-level series keep the measured pod's own labels, not the agent's.
		q := `ephemeral_storage_pod_usage_bytes{job="ephemeral-storage-exporter",pod="idle"}`
		s, err := promQuery(hc, o.PromURL, q)
		if err != nil || len(s) != 1 || s[0].Labels["namespace"] != scenarioNS {
			t.Errorf("%s: want one series with namespace %s, got %v %v", q, scenarioNS, s, err)
		}
	})

	t.Run("rules", func(t *testing.T) {
		want := chartAlertNames(t, e)
		var got []string
		eventually(t, 30*time.Second, time.Second, "every rule of the PrometheusRule loaded and evaluated (health ok)", func() (bool, string) {
			groups, err := ruleGroups(hc, o.PromURL)
			if err != nil {
				return false, err.Error()
			}
			got = got[:0]
			var bad []string
			for _, g := range groups {
				if !strings.HasPrefix(g.File, "/etc/prometheus/rules/prometheus-ese-rulefiles-") {
					bad = append(bad, "group "+g.Name+" from "+g.File)
				}
				for _, r := range g.Rules {
					if r.Type == "alerting" {
						got = append(got, r.Name)
					}
					if r.Health != "ok" {
						bad = append(bad, fmt.Sprintf("%s/%s: %s %s", g.Name, r.Name, r.Health, r.LastError))
					}
				}
			}
			sort.Strings(got)
			return len(bad) == 0 && reflect.DeepEqual(got, want), fmt.Sprintf("not ok: %v; alerts %d, want %d", bad, len(got), len(want))
		})
		fmt.Fprintf(&report, "rules: %d alerting rules of the PrometheusRule loaded, every rule health ok\n", len(got))
	})

	t.Run("eviction-alerts", func(t *testing.T) {
		if _, err := cs.CoreV1().Pods(scenarioNS).Get(ctx, "filler", metav1.GetOptions{}); apierrors.IsNotFound(err) {
			t.Fatal("no filler pod: TestEmptyDirEviction must run first (E2E_RUN selects both)")
		}
		sc := &scenario{e: e, hc: hc, cs: cs, ctx: ctx, promURL: o.PromURL}
		evictedAt := sc.evictedEvent(t, "filler")
		fmt.Fprintf(&report, "filler evicted (kubelet's Evicted event): %s\n", evictedAt.Format(time.RFC3339))
		tl := sc.alertTimelines(t, fmt.Sprintf(`namespace=%q,pod="filler"`, scenarioNS))
		for _, k := range sortedKeys(tl) {
			fmt.Fprintf(&report, "  %-46s pending %s firing %s\n", k, rel(tl[k].pending, evictedAt), rel(tl[k].firing, evictedAt))
		}
		// NearSizeLimit: critical_for 3s through the chart's alertOverrides. The *FillingUp alerts
		// need 30m of history (recording rules, not values): not expected here (docs/e2e.md).
		a := tl["EphemeralStorageVolumeNearSizeLimit/critical"]
		switch {
		case a == nil || a.pending.IsZero():
			t.Errorf("EphemeralStorageVolumeNearSizeLimit/critical never went pending for the filler")
		case a.firing.IsZero() || !a.pending.Before(a.firing) || !a.firing.Before(evictedAt):
			t.Errorf("EphemeralStorageVolumeNearSizeLimit/critical: pending %s firing %s, want pending < firing < eviction %s",
				ts(a.pending), ts(a.firing), ts(evictedAt))
		}
		q := fmt.Sprintf(`ALERTS{alertname="EphemeralStoragePodEvicted",alertstate="firing",namespace=%q,workload="filler",cause="empty_dir",volume="data"}[15m]`, scenarioNS)
		var firedAt time.Time
		eventually(t, 90*time.Second, time.Second, "EphemeralStoragePodEvicted firing for the filler (operator's Prometheus)", func() (bool, string) {
			s, err := promQuery(hc, o.PromURL, q)
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
			t.Errorf("EphemeralStoragePodEvicted fired at %s, before the eviction (%s)", ts(firedAt), ts(evictedAt))
		}
		fmt.Fprintf(&report, "  EphemeralStoragePodEvicted/warning (cause=empty_dir, volume=data) firing %s\n", rel(firedAt, evictedAt))
		// The eviction counted once with its cause, across every agent pod this Prometheus scraped
		// (the rolling update replaced the pod that counted it, whose series is stale by now).
		s, err := promQuery(hc, o.PromURL, fmt.Sprintf(`sum by (cause, volume) (last_over_time(ephemeral_storage_evictions_total{namespace=%q,workload="filler"}[15m]))`, scenarioNS))
		if err != nil || len(s) != 1 || s[0].V != 1 || s[0].Labels["cause"] != "empty_dir" || s[0].Labels["volume"] != "data" {
			t.Errorf("ephemeral_storage_evictions_total for the filler: want one series = 1 (cause empty_dir, volume data), got %v %v", s, err)
		}
	})
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

type ruleGroup struct {
	Name, File string
	Rules      []struct {
		Name, Type, Health, LastError string
	}
}

func ruleGroups(hc *http.Client, promURL string) ([]ruleGroup, error) {
	code, body, err := get(hc, promURL+"/api/v1/rules", "")
	if err != nil {
		return nil, fmt.Errorf("/api/v1/rules: %w", err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("/api/v1/rules: HTTP %d", code)
	}
	var r struct {
		Data struct {
			Groups []ruleGroup `json:"groups"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	return r.Data.Groups, nil
}

// chartAlertNames: the alert names of the PrometheusRule the chart rendered (operator.sh kept it in
// the artifacts), one per rule, sorted.
func chartAlertNames(t *testing.T, e env) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(e.Artifacts, "operator", "monitors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var obj struct {
			Kind string
			Spec struct {
				Groups []struct {
					Rules []struct {
						Alert string
					}
				}
			}
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("monitors.yaml: %v", err)
		}
		if obj.Kind != "PrometheusRule" {
			continue
		}
		for _, g := range obj.Spec.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" {
					names = append(names, r.Alert)
				}
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("the chart's PrometheusRule has no alerts")
	}
	sort.Strings(names)
	return names
}
