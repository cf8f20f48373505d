package e2e

// The product as users install it: `helm install` of deploy/helm with documented values only, the
// image built by up.sh (buildah, repo Dockerfile), placed by the DaemonSet controller and the
// scheduler, read only through the cluster (the pod's IP), as Prometheus reads it.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

const (
	agentNamespace = "ephemeral-storage-exporter" // deploy/kustomize/base's namespace, also the release's
	agentRelease   = "ephemeral-storage-exporter" // so the chart's fullname is "ephemeral-storage-exporter"
	agentContainer = "ephemeral-storage-exporter"
	agentPort      = 9847 // the chart's service.port (metrics)
	agentProbePort = 9848 // the chart's probes.port
)

// installedAgent is the agent's pod as the DaemonSet controller created it and the scheduler placed it.
type installedAgent struct {
	Namespace, ServiceAccount string
	Pod                       *corev1.Pod
	URL                       string // http://<pod IP>:9847, what Prometheus scrapes
}

// helmValues are the documented values (deploy/helm/ephemeral-storage-exporter/values.yaml) the
// suite sets, and only those: the image up.sh imported, a 1 s interval instead of 10 s (speed), the
// kubelet's evictionHard (up.sh's kubelet config: 1% so that the host's disk never causes node
// pressure), and JSON logs (the read-only scenario looks for "path":"/x").
func helmValues(e env) string {
	repo, tag, _ := strings.Cut(e.AgentImage, ":")
	return fmt.Sprintf(`image:
  repository: %s
  tag: %q
  pullPolicy: Never
kubelet:
  minInterval: 1s
eviction:
  hard: %q
log:
  format: json
`, repo, tag, e.EvictionHard)
}

// helmInstall runs `helm install` of the chart in the work tree with helmValues and waits until the
// DaemonSet's pod on this node is Ready. Any failure ends the test with the components' own words
// (helm's output, the pod's waiting/terminated reasons, the agent's log, Warning Events), also in
// install-errors.txt, which the report prints.
func helmInstall(ctx context.Context, t *testing.T, e env, cs *kubernetes.Clientset) installedAgent {
	t.Helper()
	a, err := installRelease(ctx, t, e, cs, agentRelease, agentNamespace, helmValues(e), 120*time.Second, nil)
	if err != nil {
		installFailed(t, e, err.Error())
	}
	return a
}

// installRelease installs the chart as release in namespace with the given values file content
// and waits up to timeout for its pod on this node to be Ready; the error says why not, in the
// components' own words. With failWith, an install expected to fail: the wait also ends, with
// that error, as soon as the pod is not Ready and the components' words carry every string of
// failWith (a missing image, a 403, an x509 error do not heal by waiting).
func installRelease(ctx context.Context, t *testing.T, e env, cs *kubernetes.Clientset, release, namespace, values string, timeout time.Duration, failWith []string) (installedAgent, error) {
	t.Helper()
	dir := filepath.Join(e.WorkDir, "helm")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	valuesFile := filepath.Join(dir, release+"-values.yaml")
	if err := os.WriteFile(valuesFile, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"install", release, filepath.Join(e.Root, "deploy", "helm", "ephemeral-storage-exporter"),
		"--namespace", namespace, "--create-namespace", "--kubeconfig", e.AdminKubeconfig, "-f", valuesFile}
	cmd := exec.CommandContext(ctx, e.HelmBin, args...)
	// helm's cache/config/data in the work dir, not the user's home.
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+dir+"/cache", "HELM_CONFIG_HOME="+dir+"/config", "HELM_DATA_HOME="+dir+"/data")
	out, err := cmd.CombinedOutput()
	appendArtifact(e, "helm-install.txt", "$ helm "+strings.Join(args, " ")+"\n# values:\n"+values+"# output:\n"+string(out)+"\n")
	if err != nil {
		return installedAgent{}, fmt.Errorf("helm install %s: %w\n%s", release, err, out)
	}
	t.Logf("helm install %s: %s", release, firstLine(string(out)))
	if failWith != nil {
		return waitAgentFailed(ctx, e, cs, release, namespace, timeout, failWith)
	}
	return waitAgentReady(ctx, e, cs, release, namespace, timeout)
}

// waitAgentFailed is waitAgentReady for an install expected to fail: it returns (an error) as soon
// as the release's pod is not Ready and its state, the agent's log and the namespace's Warning
// Events carry every string of want, or at timeout; it returns the agent when the pod is Ready.
func waitAgentFailed(ctx context.Context, e env, cs *kubernetes.Clientset, release, namespace string, timeout time.Duration, want []string) (installedAgent, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		p, why := agentPod(ctx, cs, e, release, namespace)
		if p != nil && podReady(p) && p.Status.PodIP != "" {
			return installedAgent{Namespace: p.Namespace, ServiceAccount: p.Spec.ServiceAccountName, Pod: p,
				URL: fmt.Sprintf("http://%s:%d", p.Status.PodIP, agentPort)}, nil
		}
		diag := agentDiagnostics(ctx, cs, namespace, p)
		all := true
		for _, w := range want {
			all = all && (strings.Contains(why, w) || strings.Contains(diag, w))
		}
		if p != nil && all {
			return installedAgent{}, fmt.Errorf("release %s: the agent's pod not Ready after %s, failing: %s\n%s", release, time.Since(start).Round(time.Second), why, diag)
		}
		if time.Now().After(deadline) {
			return installedAgent{}, fmt.Errorf("release %s: the agent's pod was not Ready within %s: %s\n%s", release, timeout, why, diag)
		}
		time.Sleep(time.Second) // poll interval of this bounded wait (deadline above)
	}
}

// waitAgentReady waits for the DaemonSet's pod on e.Node to be Ready (the kubelet probes it).
func waitAgentReady(ctx context.Context, e env, cs *kubernetes.Clientset, release, namespace string, timeout time.Duration) (installedAgent, error) {
	deadline := time.Now().Add(timeout)
	for {
		p, why := agentPod(ctx, cs, e, release, namespace)
		if p != nil && podReady(p) && p.Status.PodIP != "" {
			return installedAgent{Namespace: p.Namespace, ServiceAccount: p.Spec.ServiceAccountName, Pod: p,
				URL: fmt.Sprintf("http://%s:%d", p.Status.PodIP, agentPort)}, nil
		}
		if time.Now().After(deadline) {
			return installedAgent{}, fmt.Errorf("release %s: the agent's pod was not Ready within %s: %s\n%s", release, timeout, why, agentDiagnostics(ctx, cs, namespace, p))
		}
		time.Sleep(time.Second) // poll interval of this bounded wait (deadline above)
	}
}

// agentPod is the pod of the release's DaemonSet on e.Node (nil and why when there is none yet).
func agentPod(ctx context.Context, cs *kubernetes.Clientset, e env, release, namespace string) (*corev1.Pod, string) {
	dss, err := cs.AppsV1().DaemonSets(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release})
	if err != nil {
		return nil, "DaemonSet: " + err.Error()
	}
	if len(dss.Items) != 1 {
		return nil, fmt.Sprintf("%d DaemonSets of release %s in %s", len(dss.Items), release, namespace)
	}
	ds := &dss.Items[0]
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(ds.Spec.Selector.MatchLabels).String(), FieldSelector: "spec.nodeName=" + e.Node})
	if err != nil {
		return nil, "pods: " + err.Error()
	}
	var live []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	if len(live) == 0 {
		return nil, fmt.Sprintf("DaemonSet %s: desired %d, scheduled %d, ready %d; no pod on %s yet",
			ds.Name, ds.Status.DesiredNumberScheduled, ds.Status.CurrentNumberScheduled, ds.Status.NumberReady, e.Node)
	}
	sort.Slice(live, func(i, j int) bool { return live[i].CreationTimestamp.After(live[j].CreationTimestamp.Time) })
	p := live[0]
	return &p, podState(&p)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podState says where a pod is, in the kubelet's words (reasons and messages of its containers).
func podState(p *corev1.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "pod %s: phase %s", p.Name, p.Status.Phase)
	if p.Status.Reason != "" || p.Status.Message != "" {
		fmt.Fprintf(&b, " (%s: %s)", p.Status.Reason, p.Status.Message)
	}
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			fmt.Fprintf(&b, "; %s=%s %s %s", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	for _, c := range p.Status.ContainerStatuses {
		fmt.Fprintf(&b, "; container %s ready=%v restarts=%d", c.Name, c.Ready, c.RestartCount)
		if w := c.State.Waiting; w != nil {
			fmt.Fprintf(&b, " waiting %s: %s", w.Reason, w.Message)
		}
		if x := c.State.Terminated; x != nil {
			fmt.Fprintf(&b, " terminated exit %d %s: %s", x.ExitCode, x.Reason, x.Message)
		}
		if x := c.LastTerminationState.Terminated; x != nil {
			fmt.Fprintf(&b, " last terminated exit %d %s: %s", x.ExitCode, x.Reason, x.Message)
		}
	}
	return b.String()
}

// agentDiagnostics: the agent's own log (current and previous container) and the Warning Events of
// its namespace (DaemonSet controller, scheduler, kubelet).
func agentDiagnostics(ctx context.Context, cs *kubernetes.Clientset, namespace string, p *corev1.Pod) string {
	var b strings.Builder
	if p != nil {
		for _, previous := range []bool{false, true} {
			raw, err := cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: agentContainer, Previous: previous, TailLines: ptr(int64(20))}).DoRaw(ctx)
			if err == nil && len(raw) > 0 {
				fmt.Fprintf(&b, "agent log (previous=%v, last 20 lines):\n%s\n", previous, strings.TrimRight(string(raw), "\n"))
			}
		}
	}
	evs, err := cs.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(&b, "events: %v\n", err)
		return b.String()
	}
	for _, ev := range evs.Items {
		if ev.Type == corev1.EventTypeWarning {
			fmt.Fprintf(&b, "event: %s %s/%s %s: %s (x%d)\n", ev.Type, ev.InvolvedObject.Kind, ev.InvolvedObject.Name, ev.Reason, ev.Message, ev.Count)
		}
	}
	return b.String()
}

// installFailed ends the test with msg, also written to install-errors.txt for the report.
func installFailed(t *testing.T, e env, msg string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(e.Artifacts, "install-errors.txt"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		fmt.Fprintf(f, "%s: %s\n", t.Name(), msg)
		f.Close()
	}
	t.Fatal(msg)
}

// saveAgentLog writes the agent container's log (read through the API server, which asks the
// kubelet) to logs/agent.log and returns it.
func saveAgentLog(ctx context.Context, cs *kubernetes.Clientset, e env, p *corev1.Pod) (string, error) {
	raw, err := cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: agentContainer}).DoRaw(ctx)
	if err != nil {
		return "", err
	}
	return string(raw), os.WriteFile(filepath.Join(e.Artifacts, "logs", "agent.log"), raw, 0o644)
}

// checkProbes: /readyz and /healthz answer 200 on the probe port of the pod's IP (where the
// DaemonSet's probes ask), and /readyz on the metrics port.
func checkProbes(t *testing.T, hc *http.Client, a installedAgent) {
	t.Helper()
	probe := fmt.Sprintf("http://%s:%d", a.Pod.Status.PodIP, agentProbePort)
	for _, u := range []string{probe + "/readyz", probe + "/healthz", a.URL + "/readyz"} {
		if code, body, err := get(hc, u, ""); err != nil || code != http.StatusOK {
			t.Fatalf("agent %s: want 200, got %d %v %.200s", u, code, err, body)
		}
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

func appendArtifact(e env, name, text string) {
	f, err := os.OpenFile(filepath.Join(e.Artifacts, name), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.WriteString(text)
}

// TestFailingInstalls: an install that cannot work fails with the component's own error in the
// message the suite reports (install-errors.txt). Three releases of the chart, each in a namespace
// of its own, next to the good one, with one documented value wrong:
//   - an image that is not there (image.tag): the kubelet's ErrImageNeverPull and its message;
//   - no RBAC (rbac.create=false): the kubelet's 403 in the agent's log;
//   - a wrong CA (kubelet.caFile, a ConfigMap through extraVolumes): Go's x509 error in the agent's log.
func TestFailingInstalls(t *testing.T) {
	e := loadEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cs := adminClient(t, e)
	wrongCA := selfSignedCAPEM(t)
	cases := []struct {
		name, values string
		setup        func(ns string)
		want         []string // every string must be in the error
	}{
		{
			name:   "bad-image",
			values: strings.Replace(helmValues(e), `tag: "`, `tag: "missing-`, 1),
			want:   []string{"ErrImageNeverPull", `is not present with pull policy of Never`},
		},
		{
			name:   "bad-rbac",
			values: helmValues(e) + "rbac:\n  create: false\n",
			want:   []string{"status 403", "Forbidden"},
		},
		{
			name: "wrong-ca",
			values: strings.Replace(helmValues(e), "kubelet:\n", "kubelet:\n  caFile: /etc/wrong-ca/ca.crt\n", 1) + `extraVolumes:
  - name: wrong-ca
    configMap: {name: wrong-ca}
extraVolumeMounts:
  - name: wrong-ca
    mountPath: /etc/wrong-ca
    readOnly: true
`,
			setup: func(ns string) {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "wrong-ca"}, Data: map[string]string{"ca.crt": wrongCA}}
				if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"x509: certificate signed by unknown authority"},
		},
	}
	type result struct {
		err error
	}
	results := make([]chan result, len(cases))
	for i, tc := range cases {
		ns := "e2e-" + tc.name
		ensureNamespace(ctx, t, cs, ns)
		if tc.setup != nil {
			tc.setup(ns)
		}
		results[i] = make(chan result, 1)
		go func() {
			_, err := installRelease(ctx, t, e, cs, "ese-"+tc.name, ns, tc.values, 30*time.Second, tc.want)
			results[i] <- result{err}
		}()
	}
	var report strings.Builder
	for i, tc := range cases {
		r := <-results[i]
		fmt.Fprintf(&report, "## %s\n%v\n\n", tc.name, r.err)
		if r.err == nil {
			t.Errorf("%s: the install became Ready; want it to fail", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(r.err.Error(), w) {
				t.Errorf("%s: the error does not carry the component's own %q:\n%v", tc.name, w, r.err)
			}
		}
	}
	_ = os.WriteFile(filepath.Join(e.Artifacts, "failing-installs.txt"), []byte(report.String()), 0o644)
	// Leave nothing of them for later tests: the releases (cluster-scoped RBAC too), then the namespaces.
	for _, tc := range cases {
		cmd := exec.CommandContext(ctx, e.HelmBin, "uninstall", "ese-"+tc.name, "--namespace", "e2e-"+tc.name, "--kubeconfig", e.AdminKubeconfig)
		dir := filepath.Join(e.WorkDir, "helm")
		cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+dir+"/cache", "HELM_CONFIG_HOME="+dir+"/config", "HELM_DATA_HOME="+dir+"/data")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("helm uninstall ese-%s: %v: %s", tc.name, err, out)
		}
		_ = cs.CoreV1().Namespaces().Delete(ctx, "e2e-"+tc.name, metav1.DeleteOptions{})
	}
}

// selfSignedCAPEM is a CA certificate that signed nothing in this cluster.
func selfSignedCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "not-the-cluster-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// checkRollingUpdate (issue 18): `helm upgrade --reuse-values` with a new pod annotation makes the
// DaemonSet controller replace the agent's pod (RollingUpdate); Prometheus is pointed at the new
// pod (file_sd) and scrapes it. Nothing is counted twice: for each workload, the largest value
// each agent instance ever exported, summed over the instances (old pod and new pod), is still 1
// for every eviction and read-only failure of the scenario (a new pod that re-counted what the old
// one had counted would make it 2, and the alerts on it fire again).
func (sc *scenario) checkRollingUpdate(t *testing.T) {
	e := sc.e
	sc.helmUpgrade(t, "before-rollout", "--set-string", "podAnnotations.e2e/rollout="+time.Now().UTC().Format("150405"))
	time.Sleep(5 * time.Second) // the behaviour under test: the counts stay put; a re-count by the new pod would show by now
	var report strings.Builder
	for _, c := range []struct{ metric, workload string }{
		{"ephemeral_storage_evictions_total", "filler"},
		{"ephemeral_storage_evictions_total", "rootfiller"},
		{"ephemeral_storage_read_only_write_failures_total", "rofail"},
		{"ephemeral_storage_read_only_write_failures_total", "rofix"},
	} {
		sel := fmt.Sprintf(`%s{namespace=%q,workload=%q}`, c.metric, scenarioNS, c.workload)
		perInstance, err := promQuery(sc.hc, sc.promURL, fmt.Sprintf(`max by (instance) (max_over_time(%s[15m]))`, sel))
		if err != nil {
			t.Fatal(err)
		}
		var total float64
		for _, s := range perInstance {
			total += s.V
		}
		fmt.Fprintf(&report, "%s: %v per instance, %v in all\n", sel, perInstance, total)
		if total != 1 {
			t.Errorf("%s: counted %v times over the old and the new agent pod (per instance: %v); want 1", sel, total, perInstance)
		}
	}
	_ = os.WriteFile(filepath.Join(e.Artifacts, "rolling-update.txt"), []byte(report.String()), 0o644)
	t.Log(report.String())
}

// helmUpgrade runs `helm upgrade --reuse-values` with extra args, waits for the DaemonSet's new
// pod (another UID) to be Ready and points Prometheus at it. The old pod's log is kept as
// logs/agent-<logName>.log.
func (sc *scenario) helmUpgrade(t *testing.T, logName string, extra ...string) installedAgent {
	t.Helper()
	e := sc.e
	old := sc.agentPod
	if _, err := saveAgentLog(sc.ctx, sc.cs, e, old); err == nil {
		_ = os.Rename(filepath.Join(e.Artifacts, "logs", "agent.log"), filepath.Join(e.Artifacts, "logs", "agent-"+logName+".log"))
	}
	dir := filepath.Join(e.WorkDir, "helm")
	args := append([]string{"upgrade", agentRelease, filepath.Join(e.Root, "deploy", "helm", "ephemeral-storage-exporter"),
		"--namespace", agentNamespace, "--kubeconfig", e.AdminKubeconfig, "--reuse-values"}, extra...)
	cmd := exec.CommandContext(sc.ctx, e.HelmBin, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+dir+"/cache", "HELM_CONFIG_HOME="+dir+"/config", "HELM_DATA_HOME="+dir+"/data")
	out, err := cmd.CombinedOutput()
	appendArtifact(e, "helm-install.txt", "$ helm "+strings.Join(args, " ")+"\n"+string(out)+"\n")
	if err != nil {
		t.Fatalf("helm upgrade: %v\n%s", err, out)
	}
	var fresh installedAgent
	deadline := time.Now().Add(120 * time.Second)
	for {
		a, err := waitAgentReady(sc.ctx, e, sc.cs, agentRelease, agentNamespace, time.Until(deadline))
		if err != nil {
			installFailed(t, e, "helm upgrade "+strings.Join(extra, " ")+": "+err.Error())
		}
		if a.Pod.UID != old.UID {
			fresh = a
			break
		}
		time.Sleep(time.Second) // poll interval of this bounded wait (deadline above)
	}
	sc.timing(fmt.Sprintf("helm upgrade %s: new agent pod %s (%s), was %s (%s)", strings.Join(extra, " "), fresh.Pod.Name, fresh.Pod.Status.PodIP, old.Name, old.Status.PodIP))
	sc.agentPod, sc.agentURL = fresh.Pod, fresh.URL
	instance := fmt.Sprintf("%s:%d", fresh.Pod.Status.PodIP, agentPort)
	setPromTarget(t, e, instance)
	eventually(t, 60*time.Second, time.Second, "prometheus scraping the new agent pod "+instance, func() (bool, string) {
		s, err := promQuery(sc.hc, sc.promURL, fmt.Sprintf(`ephemeral_storage_exporter_kubelet_up{instance=%q} == 1`, instance))
		return err == nil && len(s) == 1, fmt.Sprintf("%v %v", s, err)
	})
	return fresh
}

// checkLogScanner (issue 18): the container log scanner with its hostPath (logScan.enabled, the
// hostPath set to this kubelet's podLogsDir) as UID 65532. The kubelet and containerd create the
// log files 0640 root:root, so as docs/deploy.md says the scan reports permission errors: the
// agent's log must name them (no silent scan of nothing). With the documented override of the pod
// security context (supplementalGroups [0], the files' group) it reads them: a pod that writes an
// EROFS error to its log and exits 0 (no termination message) is counted once with
// source="container_log".
func (sc *scenario) checkLogScanner(t *testing.T) {
	e := sc.e
	podLogs := filepath.Join(e.WorkDir, "pod-logs")
	var report strings.Builder
	defer func() {
		_ = os.WriteFile(filepath.Join(e.Artifacts, "log-scanner.txt"), []byte(report.String()), 0o644)
	}()
	sc.helmUpgrade(t, "before-logscan", "--set", "logScan.enabled=true", "--set-string", "logScan.hostPath="+podLogs)
	// The scanner opens a log when it grows: a pod started now writes one.
	sc.createLogWriter(t, "rologger-denied")
	var denied string
	eventually(t, 45*time.Second, time.Second, "the agent's log naming the scanner's permission error", func() (bool, string) {
		log, err := saveAgentLog(sc.ctx, sc.cs, e, sc.agentPod)
		if err != nil {
			return false, err.Error()
		}
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, "scanning container logs") && strings.Contains(l, "permission denied") && strings.Contains(l, "rologger-denied") {
				denied = l
				return true, ""
			}
		}
		return false, "no such line yet"
	})
	fmt.Fprintf(&report, "as UID 65532, no supplementary group: %s\n", denied)
	t.Logf("as UID 65532: %.300s", denied)
	qDenied := fmt.Sprintf(`ephemeral_storage_read_only_write_failures_total{namespace=%q,workload="rologger-denied"}`, scenarioNS)
	if s, err := promQuery(sc.hc, sc.promURL, qDenied); err != nil || len(s) != 0 {
		t.Errorf("rologger-denied: its log could not be read, want no failure series, got %v %v", s, err)
	}

	sc.helmUpgrade(t, "before-logscan-group", "--set-json", "podSecurityContext.supplementalGroups=[0]")
	sc.createLogWriter(t, "rologger")
	q := fmt.Sprintf(`ephemeral_storage_read_only_write_failures_total{namespace=%q,workload="rologger"}`, scenarioNS)
	eventually(t, 60*time.Second, time.Second, "rologger's failure counted from its log", func() (bool, string) {
		s, err := promQuery(sc.hc, sc.promURL, q)
		return err == nil && len(s) > 0, fmt.Sprintf("%v %v", s, err)
	})
	time.Sleep(3 * time.Second) // the behaviour under test: the count stays put
	s, err := promQuery(sc.hc, sc.promURL, q)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&report, "with supplementalGroups [0]: %v\n", s)
	if len(s) != 1 || s[0].V != 1 || s[0].Labels["source"] != "container_log" || s[0].Labels["container"] != "main" {
		t.Errorf("want rologger's failure counted once with source=container_log container=main, got %v", s)
	}
	if _, err := os.Stat(podLogs); err != nil {
		t.Errorf("the kubelet's podLogsDir %s: %v", podLogs, err)
	}
}

// createLogWriter starts a pod whose container writes "open /NAME: read-only file system" to its
// log and exits 0: no termination message, only its log says it.
func (sc *scenario) createLogWriter(t *testing.T, name string) {
	t.Helper()
	p := pod(sc.e, name, []corev1.Container{{Name: "main", SecurityContext: secCtx(true), Args: []string{"--write-root", "/" + name}}}, nil)
	if _, err := sc.cs.CoreV1().Pods(scenarioNS).Create(sc.ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
