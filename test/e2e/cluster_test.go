package e2e

// Helpers that run the agent and Prometheus against the cluster hack/e2e/up.sh brought up.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// env is what hack/e2e/up.sh exports (also in $E2E_ARTIFACTS/env).
type env struct {
	Node, Artifacts, WorkDir, AgentBin, PluginBin, Image, APIServer, CA, AdminKubeconfig, KubeletURL, PrometheusBin, EvictionHard, Root string
	// Rules is the alert rules file rendered from testdata/alerts-config.yaml (hack/e2e/run.sh).
	Rules string
	// NodeIP is the node's InternalIP (in up.sh's network namespace); AgentImage the image up.sh
	// built from the Dockerfile and imported into containerd; HelmBin the helm CLI; KubectlBin
	// kubectl of the pinned Kubernetes release (hack/e2e/build-k8s.sh).
	NodeIP, AgentImage, HelmBin, KubectlBin string
}

func loadEnv(t *testing.T) env {
	t.Helper()
	e := env{
		Node: os.Getenv("E2E_NODE"), Artifacts: os.Getenv("E2E_ARTIFACTS"), WorkDir: os.Getenv("E2E_WORKDIR"),
		AgentBin: os.Getenv("E2E_AGENT_BIN"), PluginBin: os.Getenv("E2E_PLUGIN_BIN"), Image: os.Getenv("E2E_IMAGE"), APIServer: os.Getenv("E2E_APISERVER"),
		CA: os.Getenv("E2E_CA"), AdminKubeconfig: os.Getenv("E2E_ADMIN_KUBECONFIG"), KubeletURL: os.Getenv("E2E_KUBELET_URL"),
		PrometheusBin: os.Getenv("E2E_PROMETHEUS_BIN"), EvictionHard: os.Getenv("E2E_EVICTION_HARD"), Root: os.Getenv("E2E_ROOT"),
		Rules: os.Getenv("E2E_RULES"), NodeIP: os.Getenv("E2E_NODE_IP"), AgentImage: os.Getenv("E2E_AGENT_IMAGE"), HelmBin: os.Getenv("E2E_HELM_BIN"),
		KubectlBin: os.Getenv("E2E_KUBECTL_BIN"),
	}
	if e.APIServer == "" {
		t.Skip("no cluster: run through hack/e2e/run.sh (make e2e), which brings one up and sets E2E_*")
	}
	return e
}

func adminClient(t *testing.T, e env) *kubernetes.Clientset {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", e.AdminKubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// httpClient trusts the suite's CA (it signed the API server's and the kubelet's serving certs).
func httpClient(t *testing.T, e env) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(e.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func get(c *http.Client, u, token string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func kubeletSummary(c *http.Client, e env, token string) (*statsv1alpha1.Summary, error) {
	code, body, err := get(c, e.KubeletURL+"/stats/summary", token)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("kubelet /stats/summary: HTTP %d: %s", code, body)
	}
	var s statsv1alpha1.Summary
	return &s, json.Unmarshal(body, &s)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startProcess runs a process with its output in $E2E_ARTIFACTS/logs/NAME.log, stopped (SIGTERM,
// then SIGKILL after 10s) when the test ends.
func startProcess(t *testing.T, e env, name string, args ...string) *exec.Cmd {
	t.Helper()
	return startProcessEnv(t, e, name, nil, args...)
}

// startProcessEnv is startProcess with extra environment variables (KEY=VALUE).
func startProcessEnv(t *testing.T, e env, name string, extraEnv []string, args ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(e.Artifacts, "logs", name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if extraEnv != nil {
		cmd.Env = append(os.Environ(), extraEnv...)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	t.Logf("started %s (pid %d), log %s", name, cmd.Process.Pid, logf.Name())
	return cmd
}

func eventually(t *testing.T, timeout, every time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, msg := f()
		if ok {
			return
		}
		last = msg
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
		}
		time.Sleep(every) // poll interval of this condition wait (deadline above)
	}
}

func ensureNamespace(ctx context.Context, t *testing.T, cs *kubernetes.Clientset, ns string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// No controller-manager: the ServiceAccount admission plugin wants the namespace's default SA.
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// saToken gets a bound ServiceAccount token through the TokenRequest API, as the kubelet would
// project it into the agent's pod.
func saToken(ctx context.Context, t *testing.T, cs *kubernetes.Clientset, ns, name string) string {
	t.Helper()
	exp := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s: %v", ns, name, err)
	}
	return tr.Status.Token
}

// promSample is one raw sample of one series.
type promSample struct {
	Labels map[string]string
	T      time.Time
	V      float64
}

// promQueryRange runs a range query; it returns every series with its samples.
func promQueryRange(c *http.Client, base, q string, start, end time.Time, step time.Duration) ([]promSample, error) {
	v := url.Values{}
	v.Set("query", q)
	v.Set("start", fmt.Sprintf("%.3f", float64(start.UnixMilli())/1000))
	v.Set("end", fmt.Sprintf("%.3f", float64(end.UnixMilli())/1000))
	v.Set("step", fmt.Sprintf("%g", step.Seconds()))
	return promDecode(get(c, base+"/api/v1/query_range?"+v.Encode(), ""))
}

// promQuery runs an instant query; for a range-vector selector it returns every raw sample.
func promQuery(c *http.Client, base, q string) ([]promSample, error) {
	return promDecode(get(c, base+"/api/v1/query?query="+url.QueryEscape(q), ""))
}

func promDecode(code int, body []byte, err error) ([]promSample, error) {
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("prometheus: HTTP %d: %s", code, body)
	}
	var r struct {
		Data struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
				Values [][]any           `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	var out []promSample
	for _, s := range r.Data.Result {
		vals := s.Values
		if s.Value != nil {
			vals = [][]any{s.Value}
		}
		for _, v := range vals {
			ts := v[0].(float64)
			f, err := strconv.ParseFloat(v[1].(string), 64)
			if err != nil {
				return nil, fmt.Errorf("sample value %q: %w", v[1], err)
			}
			out = append(out, promSample{Labels: s.Metric, T: time.UnixMilli(int64(ts * 1000)), V: f})
		}
	}
	return out, nil
}
