package e2e

// Helpers that run the agent and Prometheus against the cluster hack/e2e/up.sh brought up.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"sigs.k8s.io/yaml"
)

// env is what hack/e2e/up.sh exports (also in $E2E_ARTIFACTS/env).
type env struct {
	Node, Artifacts, WorkDir, AgentBin, PluginBin, Image, APIServer, CA, AdminKubeconfig, KubeletURL, PrometheusBin, EvictionHard, Root string
	// Rules is the alert rules file rendered from testdata/alerts-config.yaml (hack/e2e/run.sh).
	Rules string
	// NodeIP is the node's InternalIP (in up.sh's network namespace); AgentImage the image up.sh
	// built from the Dockerfile and imported into containerd; HelmBin the helm CLI.
	NodeIP, AgentImage, HelmBin string
}

func loadEnv(t *testing.T) env {
	t.Helper()
	e := env{
		Node: os.Getenv("E2E_NODE"), Artifacts: os.Getenv("E2E_ARTIFACTS"), WorkDir: os.Getenv("E2E_WORKDIR"),
		AgentBin: os.Getenv("E2E_AGENT_BIN"), PluginBin: os.Getenv("E2E_PLUGIN_BIN"), Image: os.Getenv("E2E_IMAGE"), APIServer: os.Getenv("E2E_APISERVER"),
		CA: os.Getenv("E2E_CA"), AdminKubeconfig: os.Getenv("E2E_ADMIN_KUBECONFIG"), KubeletURL: os.Getenv("E2E_KUBELET_URL"),
		PrometheusBin: os.Getenv("E2E_PROMETHEUS_BIN"), EvictionHard: os.Getenv("E2E_EVICTION_HARD"), Root: os.Getenv("E2E_ROOT"),
		Rules: os.Getenv("E2E_RULES"), NodeIP: os.Getenv("E2E_NODE_IP"), AgentImage: os.Getenv("E2E_AGENT_IMAGE"), HelmBin: os.Getenv("E2E_HELM_BIN"),
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

// rbac is what the agent's identity was given, and where it came from.
type rbac struct {
	Namespace, ServiceAccount, Source string
}

// applyRBAC applies the ServiceAccount, ClusterRole(s) and ClusterRoleBinding(s) of
// deploy/kustomize/base when it exists (its kustomization's namespace applied, as kustomize would),
// else an equivalent built-in ClusterRole.
func applyRBAC(ctx context.Context, t *testing.T, e env, cs *kubernetes.Clientset) rbac {
	t.Helper()
	base := filepath.Join(e.Root, "deploy", "kustomize", "base")
	files, _ := filepath.Glob(filepath.Join(base, "*.yaml"))
	var objs []any
	namespace := ""
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(f) == "kustomization.yaml" {
			var k struct {
				Namespace string `json:"namespace"`
			}
			if err := yaml.Unmarshal(raw, &k); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			namespace = k.Namespace
			continue
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
			if err != nil {
				continue // not a core type (e.g. a ServiceMonitor): not RBAC
			}
			switch obj.(type) {
			case *corev1.ServiceAccount, *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding, *rbacv1.Role, *rbacv1.RoleBinding:
				objs = append(objs, obj)
			}
		}
	}
	var out rbac
	var sa *corev1.ServiceAccount
	var roles []*rbacv1.ClusterRole
	var bindings []*rbacv1.ClusterRoleBinding
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.ServiceAccount:
			sa = o
		case *rbacv1.ClusterRole:
			roles = append(roles, o)
		case *rbacv1.ClusterRoleBinding:
			bindings = append(bindings, o)
		}
	}
	if sa != nil && len(roles) > 0 && len(bindings) > 0 {
		out.Source = "deploy/kustomize/base (" + strings.Join(relNames(e.Root, files), ", ") + ")"
	} else {
		out.Source = "built-in fallback ClusterRole (deploy/kustomize/base has no ServiceAccount+ClusterRole+ClusterRoleBinding)"
		sa = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "ephemeral-storage-exporter"}}
		roles = []*rbacv1.ClusterRole{{
			ObjectMeta: metav1.ObjectMeta{Name: "ephemeral-storage-exporter"},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{""}, Resources: []string{"nodes/stats"}, Verbs: []string{"get"}},
				{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}},
				{APIGroups: []string{""}, Resources: []string{"pods", "events"}, Verbs: []string{"list", "watch"}},
				{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"list", "watch"}},
				{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}}, // the read-only hint
			},
		}}
		bindings = []*rbacv1.ClusterRoleBinding{{
			ObjectMeta: metav1.ObjectMeta{Name: "ephemeral-storage-exporter"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "ephemeral-storage-exporter"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "ephemeral-storage-exporter"}},
		}}
		namespace = "ephemeral-storage-exporter"
	}
	if namespace == "" {
		namespace = sa.Namespace
	}
	if namespace == "" {
		namespace = "default"
	}
	sa.Namespace = namespace
	for _, b := range bindings {
		for i := range b.Subjects {
			if b.Subjects[i].Kind == "ServiceAccount" && (b.Subjects[i].Namespace == "" || b.Subjects[i].Name == sa.Name) {
				b.Subjects[i].Namespace = namespace
			}
		}
	}
	ensureNamespace(ctx, t, cs, namespace)
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, r := range roles {
		if _, err := cs.RbacV1().ClusterRoles().Create(ctx, r, metav1.CreateOptions{}); err != nil {
			t.Fatalf("ClusterRole %s: %v", r.Name, err)
		}
	}
	for _, b := range bindings {
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, b, metav1.CreateOptions{}); err != nil {
			t.Fatalf("ClusterRoleBinding %s: %v", b.Name, err)
		}
	}
	out.Namespace, out.ServiceAccount = namespace, sa.Name
	var desc bytes.Buffer
	fmt.Fprintf(&desc, "source: %s\nserviceaccount: %s/%s\n", out.Source, namespace, sa.Name)
	for _, r := range roles {
		b, _ := yaml.Marshal(r.Rules)
		fmt.Fprintf(&desc, "clusterrole %s:\n%s", r.Name, b)
	}
	_ = os.WriteFile(filepath.Join(e.Artifacts, "rbac.txt"), desc.Bytes(), 0o644)
	t.Logf("RBAC from %s; agent runs as system:serviceaccount:%s:%s", out.Source, namespace, sa.Name)
	return out
}

func relNames(root string, files []string) []string {
	var out []string
	for _, f := range files {
		r, _ := filepath.Rel(root, f)
		out = append(out, r)
	}
	return out
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

func writeKubeconfig(t *testing.T, path string, e env, tokenFile string) {
	t.Helper()
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: %q, certificate-authority: %q}
users:
- name: agent
  user: {tokenFile: %q}
contexts:
- name: e2e
  context: {cluster: e2e, user: agent}
current-context: e2e
`, e.APIServer, e.CA, tokenFile)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
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
